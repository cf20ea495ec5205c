"""`mixgate scan-pii`: report PII findings in data files without their values (no Prefect)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.errors import InputError


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `mixgate scan-pii PATH... [--kind K] [--json FILE] [--workers N]`."""
    from pipeline.records.schemas import KINDS

    scan_kinds = (*KINDS, "auto")

    p = sub.add_parser(
        "scan-pii",
        help="report PII findings without their values",
        description="Scan data files for PII; exit 0 when clean, 1 when anything is found, 2 on errors.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="data files to scan")
    p.add_argument(
        "--kind",
        choices=scan_kinds,
        default="auto",
        help="record kind (default: auto = every string)",
    )
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="also write findings + summary as JSON"
    )
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="scanner processes (default 1)"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Scan, print one line per finding and a summary; return 0 clean, 1 findings."""
    from pipeline.stages.pii import PiiScanner
    from pipeline.tools.scan_pii import scan_files

    with PiiScanner(workers=args.workers) as scanner:
        report = scan_files(args.paths, scanner=scanner, kind=args.kind)
    out = sys.stdout
    for f in report.findings:
        out.write(
            f"{f.file}\t{f.row}\t{f.field}\t{f.entity_type}\t{f.start}-{f.end}\t{f.score:.2f}\n"
        )
    summary = report.summary()
    out.write(
        f"scanned {summary['rows_scanned']} rows in {summary['files']} files: "
        f"{summary['findings']} findings in {summary['rows_with_findings']} rows "
        f"{json.dumps(summary['by_entity_type'])}; skipped {sum(report.rows_skipped.values())} rows\n"
    )
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            msg = f"cannot write `--json` file {str(args.json)!r}: {exc.strerror}"
            raise InputError(msg) from None
    return 1 if report.findings else 0
