"""`mixgate`: the command-line face, a thin layer over `pipeline` and `flows`.

Each command parses its options, calls the library, and prints. Library errors
(`pipeline.errors.MixgateError`) become one line on stderr and exit code 2, never a traceback.
Anything else (`pipeline.errors.InternalError`, or any unexpected exception) is a bug in
mixgate: one line and exit code 3; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

# Offline by construction: presidio's e-mail recognizer must never fetch the suffix list, and
# Prefect's embedded server must not try to send telemetry. Quiet by default; users may override.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# INFO reaches Prefect's API (the UI shows what a run did); the console handler shows warnings
# and errors only, and the build's own progress display (`flows.progress`) says the rest.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("MIXGATE_STARTED_AT", repr(__import__("time").time()))  # run.json start-up
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")

from pipeline.errors import InternalError, MixgateError

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


def _add_diff(sub: argparse._SubParsersAction) -> None:
    from flows.cli import diff

    diff.register(sub, _Parser)


def _add_check(sub: argparse._SubParsersAction) -> None:
    from flows.cli import check

    check.register(sub, _Parser)


def _add_schedule(sub: argparse._SubParsersAction) -> None:
    from flows.cli import schedule

    schedule.register(sub, _Parser)


# Which `_add_*` declares each command: `main` registers only the one being run, so a command
# never pays for importing another's dependencies (`check` answers in well under two seconds).
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "check": _add_check,
    "build": _add_build_commands,
    "rebuild": _add_build_commands,
    "verify": _add_build_commands,
    "spec-schema": _add_build_commands,
    "report": _add_build_commands,
    "why": _add_build_commands,
    "diff": _add_diff,
    "schedule": _add_schedule,
    "audit": _add_audit,
    "scan-pii": _add_scan_pii,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser with every command registered (or only `command`'s group)."""
    from pipeline import __version__

    parser = _Parser(
        prog="mixgate",
        description="Build versioned, validated, deduplicated, decontaminated training mixtures.",
        epilog=(
            "Errors are one line on stderr with exit code 2 (exit 3: a bug in mixgate); "
            "`mixgate COMMAND --help` for options."
        ),
    )
    debug_help = "on an internal error (exit 3), also print the traceback"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    parser.add_argument("--version", action="version", version=f"mixgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    adders = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for add in adders:
        add(sub)
    for command in sub.choices.values():  # `--debug` also after the command name
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help
        )
    return parser


def report_bug(exc: BaseException, *, debug: bool) -> int:
    """Print an internal error as one line (the traceback first with `debug`); return exit code 3."""
    if debug:
        traceback.print_exception(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    kind = "" if isinstance(exc, InternalError) else f"{type(exc).__name__}: "
    sys.stderr.write(
        f"mixgate: internal error (a bug in mixgate; please report it, `--debug` shows the "
        f"traceback): {kind}{text}\n"
    )
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 findings/differences, 2 errors, 3 bugs)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    handler: Handler = args.handler
    if args.command in ("build", "rebuild", "schedule"):  # they start Prefect (and Dask)
        from flows.reaper import start_reaper, stop_quickly

        start_reaper()
        stop_quickly()
    try:
        return handler(args)
    except MixgateError as exc:
        sys.stderr.write(f"mixgate: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("mixgate: interrupted\n")
        return 130
    except Exception as exc:
        if _interrupted(exc):
            sys.stderr.write("mixgate: interrupted\n")
            return 130
        return report_bug(exc, debug=args.debug)


def _interrupted(exc: BaseException) -> bool:
    """True when `exc` is what a Ctrl-C or SIGTERM turned into, not a bug.

    The signal handler raises `KeyboardInterrupt` wherever the main thread is; library code
    may wrap it on the way out (pydantic turns it into a `PydanticSerializationError` when it
    lands inside a serializer, e.g. while Prefect imports), so the chain of causes is searched,
    and any error after a stop signal counts as the stop.
    """
    from flows.reaper import signalled

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return signalled()


def run() -> None:
    """The `mixgate` entry point: `main`, then exit without tearing the interpreter down.

    After a build, Python's own shutdown (freeing polars, pyarrow, spaCy and Prefect's modules
    one object at a time) took seconds (3.7 s under load 19). By then everything is written and
    Prefect's logs and events are sent (`flows.server`), so the exit handlers run, the streams
    are flushed and the process ends at once. `main` alone (tests, embedding) is unchanged.
    """
    import atexit
    import threading

    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if exc.code is not None and not isinstance(exc.code, int):
            sys.stderr.write(f"{exc.code}\n")
    shutdown = getattr(threading, "_shutdown", None)  # what Python does first: join threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
