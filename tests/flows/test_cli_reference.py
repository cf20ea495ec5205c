"""docs/cli.md is generated from `--help`; this fails when it is stale."""

from __future__ import annotations

from flows.cli.reference import render_reference
from tests.conftest import ROOT


def test_cli_reference_is_up_to_date():
    """Regenerate with `.venv/bin/python -m flows.cli.reference docs/cli.md` when this fails."""
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render_reference()


def test_every_command_is_in_the_reference():
    """Each registered command has its own section, with its usage line."""
    from flows.cli import COMMANDS

    text = render_reference()
    for name in COMMANDS:
        assert f"## mixgate {name}\n" in text and f"usage: mixgate {name}" in text
