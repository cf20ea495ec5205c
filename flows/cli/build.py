"""`mixgate build | rebuild | verify | spec-schema`: the dataset-building commands."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_MARKS = "MIXGATE_STARTUP_MARKS"


def startup_mark(phase: str) -> None:
    """Record when start-up `phase` ended, in seconds since the process started, for run.json
    (``startup_marks``): ``check`` (spec and inputs checked), ``imports`` (Prefect and the
    library imported), ``plan`` (build planned), ``server`` (the Prefect API answers)."""
    try:
        since = round(time.time() - float(os.environ["MIXGATE_STARTED_AT"]), 3)
    except (KeyError, ValueError):
        return
    marks = {} if phase == "check" else json.loads(os.environ.get(STARTUP_MARKS) or "{}")
    os.environ[STARTUP_MARKS] = json.dumps({**marks, phase: since})


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run start-up (spec check, imports, plan) with the cyclic garbage collector paused.

    Importing Prefect, polars, presidio and spaCy creates several hundred thousand long-lived
    objects that the collector would scan again and again (measured: the imports 2.9-3.2 CPU-s
    with it, 2.4 without; load ~16). Afterwards what survived is frozen (never scanned again)
    and the collector runs as usual during the build.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _build(args: argparse.Namespace) -> int:
    with collector_paused():
        from flows.cli.check import preflight

        if not preflight(args.spec):  # every spec mistake at once, before Prefect starts
            return 2
        startup_mark("check")
        from flows.server import start_server

        server = start_server()  # in the background, while Prefect and the build are imported
    try:
        return _build_with(args, server)
    finally:
        if server is not None:
            server.stop()


def _build_with(args: argparse.Namespace, server) -> int:
    with collector_paused():
        from pipeline.output.publish import prepare_out
        from pipeline.spec import load_spec

        mixture_dir = prepare_out(
            Path(args.out), load_spec(args.spec)[0].name
        )  # a bad `--out`: one line
        from flows.build import run_build_flow
        from flows.logs import quiet_expected_errors
        from flows.progress import NoProgress, console_progress, stop_progress, use_progress
        from flows.server import using_server
        from pipeline.build.prepare import load, plan_build

        startup_mark("imports")
        plan = plan_build(load(Path(args.spec)))  # while the server starts
        startup_mark("plan")
    quiet_expected_errors()
    progress = NoProgress() if args.quiet else console_progress(sys.stderr)
    use_progress(progress)
    try:
        with using_server(server):
            startup_mark("server")
            version_dir = run_build_flow(
                args.spec,
                out=args.out,
                version=args.version,
                runner=args.runner,
                dask_address=args.dask_address,
                cache_dir=args.cache_dir,
                use_cache=not args.no_cache,
                shard_rows=args.shard_rows,
                skip_unchanged=args.skip_unchanged,
                on_busy=args.on_busy,
                plan=plan,
            )
    finally:
        stop_progress(progress)
    if Path(version_dir) == mixture_dir:
        sys.stderr.write(
            f"mixgate: skipped: build in progress (another build of `{mixture_dir.name}` holds its lock); nothing written\n"
        )
        return 0
    if not args.quiet:
        from pipeline.output.publish import read_manifest
        from pipeline.output.report import summarize

        sys.stderr.write(summarize(read_manifest(version_dir), Path(version_dir)) + "\n\n")
    print(version_dir)
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from pipeline.output.publish import read_manifest

    read_manifest(args.version_dir)
    from flows.server import start_server, using_server

    server = start_server()  # in the background, while Prefect and the build are imported
    try:
        from flows.build import run_rebuild_flow
        from flows.logs import quiet_expected_errors

        quiet_expected_errors()
        with using_server(server):
            version_dir = run_rebuild_flow(
                args.version_dir,
                out=args.out,
                spec_dir=args.spec_dir,
                runner=args.runner,
                dask_address=args.dask_address,
                data_root=args.data_root,
            )
    finally:
        if server is not None:
            server.stop()
    print(version_dir)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from pipeline.output.publish import verify_version

    bad = verify_version(args.version_dir)
    if args.json:
        print(
            json.dumps(
                {"version_dir": str(args.version_dir), "ok": not bad, "differs": bad}, indent=2
            )
        )
        return 1 if bad else 0
    if bad:
        sys.stderr.write(
            f"mixgate: {bad[0]} differs from the manifest ({len(bad)} file(s) differ)\n"
        )
        return 1
    print(f"ok: every file of {args.version_dir} matches its manifest")
    return 0


def _spec_schema(args: argparse.Namespace) -> int:
    from pipeline.spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2, sort_keys=True))
    return 0


def runner_options(p: argparse.ArgumentParser) -> None:
    """Declare `--runner` and `--dask-address`."""
    p.add_argument(
        "--runner",
        choices=("default", "dask"),
        default="default",
        help="Prefect task runner: threads (default) or Dask",
    )
    p.add_argument("--dask-address", default=None, help="tcp://host:port of a Dask scheduler")


def _positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        msg = f"must be a positive integer; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_options(p: argparse.ArgumentParser) -> None:
    """Declare the incremental-build options shared by `build` and `schedule`."""
    from pipeline.io.counting import SHARD_ROWS as DEFAULT_SHARD_ROWS

    p.add_argument(
        "--cache-dir",
        default=None,
        help="per-file result cache (default: OUT/.cache); keyed by file, config, code",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="recompute every file; read and write no cache"
    )
    p.add_argument(
        "--shard-rows",
        type=_positive_int,
        default=DEFAULT_SHARD_ROWS,
        help=f"rows per per-file task for large files (default: {DEFAULT_SHARD_ROWS}); "
        "does not change the output",
    )


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare the build commands."""
    p = sub.add_parser("build", help="build a mixture from a spec (runs the Prefect flow)")
    p.add_argument("spec", help="path to mixtures/<name>.yaml")
    p.add_argument("--out", default="out", help="output root (default: out)")
    p.add_argument("--version", default=None, help="version label (default: next free vNNNN)")
    p.add_argument("--quiet", action="store_true", help="print only the version directory")
    p.add_argument(
        "--on-busy",
        choices=("fail", "wait", "skip"),
        default="fail",
        help="when another build of this mixture is running: fail (default), wait for "
        "it, or skip (write nothing); see docs/reliability.md",
    )
    p.add_argument(
        "--skip-unchanged",
        action="store_true",
        help="write nothing when spec, inputs and code match the newest version",
    )
    build_options(p)
    runner_options(p)
    p.set_defaults(handler=_build)

    p = sub.add_parser("rebuild", help="regenerate a version from its manifest, byte for byte")
    p.add_argument("version_dir")
    p.add_argument("--out", required=True, help="output root for the regenerated version")
    p.add_argument(
        "--spec-dir",
        default=None,
        help="directory the spec's relative paths start from (default: as recorded)",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="the input and holdout files now live below this directory: each is "
        "found by its recorded path or name and accepted by sha256",
    )
    runner_options(p)
    p.set_defaults(handler=_rebuild)

    p = sub.add_parser("verify", help="re-hash every file of a version against its manifest")
    p.add_argument("version_dir")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_verify)

    p = sub.add_parser("spec-schema", help="print the JSON Schema of mixture specs")
    p.set_defaults(handler=_spec_schema)
    register_inspection(sub, parser_class)


def _report(args: argparse.Namespace) -> int:
    from pipeline.output.publish import read_manifest
    from pipeline.output.report import summarize

    manifest = read_manifest(args.version_dir)
    if args.html:
        from pipeline.output.html import write_html

        print(write_html(Path(args.version_dir), manifest))
    elif args.json:
        print(
            json.dumps(
                {k: manifest[k] for k in ("name", "version", "fingerprint", "counts", "slices")},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        print(summarize(manifest, Path(args.version_dir)))
    return 0


def _why(args: argparse.Namespace) -> int:
    from pipeline.output.report import find_record

    found = find_record(args.version_dir, args.record)
    if getattr(args, "json", False):
        print(
            json.dumps(
                {"query": args.record, "found": found.found, "lines": list(found.lines)}, indent=2
            )
        )
    else:
        print(found.text)
    return 0 if found.found else 1


def register_inspection(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `report` and `why`, which read a version directory."""
    p = sub.add_parser("report", help="print what each stage did and how the slices came out")
    p.add_argument("version_dir")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "--html",
        action="store_true",
        help="(re)write VERSION_DIR/report.html, self-contained, and print its path",
    )
    fmt.add_argument("--json", action="store_true", help="print counts and slices as JSON")
    p.set_defaults(handler=_report)
    p = sub.add_parser("why", help="explain where one input record went (exit 1: no such record)")
    p.add_argument("version_dir")
    p.add_argument(
        "record", help="record id (or a unique prefix), or FILE:ROW (any spelling of the file)"
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(handler=_why)
