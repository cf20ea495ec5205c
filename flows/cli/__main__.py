"""`python -m flows.cli`: the `mixgate` command."""

from flows.cli import run

run()
