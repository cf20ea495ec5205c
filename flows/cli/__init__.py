"""`mixgate`: the command-line face, a thin layer over `pipeline` and `flows`.

Each command parses its options, calls the library, and prints. Library errors
(`pipeline.errors.MixgateError`) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

# Offline by construction: presidio's e-mail recognizer must never fetch the suffix list, and
# Prefect's embedded server must not try to send telemetry. Quiet by default; users may override.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")

from pipeline.errors import MixgateError  # noqa: E402

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"mixgate: error: {message}\n")
        raise SystemExit(2)


# --- commands -------------------------------------------------------------------------------
# One `_add_<command>` function per command: it declares the options and returns the handler.


def _add_audit(sub: argparse._SubParsersAction) -> None:
    from flows.cli import audit

    audit.register(sub, _Parser)


def _add_scan_pii(sub: argparse._SubParsersAction) -> None:
    from flows.cli import scan_pii

    scan_pii.register(sub, _Parser)


def _add_build_commands(sub: argparse._SubParsersAction) -> None:
    from flows.cli import build

    build.register(sub, _Parser)


def _add_schedule(sub: argparse._SubParsersAction) -> None:
    from flows.cli import schedule

    schedule.register(sub, _Parser)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every command registered."""
    parser = _Parser(
        prog="mixgate",
        description="Build versioned, validated, deduplicated, decontaminated training mixtures.",
        epilog="Errors are one line on stderr with exit code 2; `mixgate COMMAND --help` for options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_build_commands, _add_schedule, _add_audit, _add_scan_pii):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 findings/differences, 2 errors)."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except MixgateError as exc:
        sys.stderr.write(f"mixgate: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("mixgate: interrupted\n")
        return 130

