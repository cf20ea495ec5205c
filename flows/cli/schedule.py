"""`mixgate schedule SPEC --cron EXPR`: serve the build as a Prefect deployment on a schedule."""

from __future__ import annotations

import argparse
import sys


def _schedule(args: argparse.Namespace) -> int:
    from pipeline.spec import load_spec

    spec, _ = load_spec(args.spec)  # fail fast, before Prefect starts, with a one-line error
    from flows.schedule import ScheduleConfig, deployment_name, serve_schedule

    config = ScheduleConfig(
        spec=args.spec,
        cron=args.cron,
        name=args.name or spec.name,
        out=args.out,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        shard_rows=args.shard_rows,
        runner=args.runner,
        dask_address=args.dask_address,
    )
    sys.stderr.write(
        f"mixgate: serving {deployment_name(config)} on cron {config.cron!r}; "
        "runs build only when the fingerprint changed (Ctrl-C stops)\n"
    )
    serve_schedule(config)
    return 0


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare the `schedule` command."""
    from flows.cli.build import build_options, runner_options

    p = sub.add_parser(
        "schedule", help="serve the build flow on a cron schedule (a Prefect deployment)"
    )
    p.add_argument("spec", help="path to mixtures/<name>.yaml")
    p.add_argument("--cron", required=True, help="5-field cron expression, e.g. '0 3 * * *'")
    p.add_argument("--name", default=None, help="deployment name (default: the mixture name)")
    p.add_argument("--out", default="out", help="output root (default: out)")
    build_options(p)
    runner_options(p)
    p.set_defaults(handler=_schedule)
