"""docs/cli.md, generated from the parsers' ``--help`` (``python -m flows.cli.reference``).

`render_reference()` returns the whole page: the exit-code table and every command's help, at a
fixed width so the text does not depend on the terminal. tests/flows/test_cli_reference.py fails
when docs/cli.md differs from it, so the reference cannot go stale.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

WIDTH = "100"
EXIT_CODES = (
    (
        "0",
        "success; `verify`: every file matches; `audit`/`scan-pii`: nothing found; `diff`: the versions are the same; `why`: the record was found",
    ),
    (
        "1",
        "a finding, not a failure: `verify`: a file differs; `audit`: contamination; `scan-pii`: PII found; `diff`: the versions differ; `why`: no record matches",
    ),
    (
        "2",
        "a user error, one line on stderr: a spec mistake (`check` and `build` list every one), a missing or unreadable input, a bad option, an unfillable slice",
    ),
    ("3", "a bug in mixgate (an internal invariant broke): one line, the traceback with `--debug`"),
    ("130", "interrupted (Ctrl-C)"),
)
HEADER = """# `mixgate` command reference

Generated from `--help` by `python -m flows.cli.reference > docs/cli.md`; a test fails when this
page is stale. Errors are one line on stderr; spec problems are
`file:line:column: error: `key`: message` lines.

## Exit codes

| code | meaning |
|---|---|
"""


def _help(parser: argparse.ArgumentParser) -> str:
    return parser.format_help().rstrip()


def render_reference() -> str:
    """Return docs/cli.md: exit codes, then `mixgate --help` and each command's `--help`."""
    from flows.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = [HEADER + "".join(f"| {code} | {text} |\n" for code, text in EXIT_CODES)]
        parts.append(f"## mixgate\n\n```text\n{_help(parser)}\n```\n")
        for name, command in sub.choices.items():
            parts.append(f"## mixgate {name}\n\n```text\n{_help(command)}\n```\n")
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return "\n".join(parts)


def main() -> int:
    """Print the reference (or write it to the path given as the only argument)."""
    text = render_reference()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
