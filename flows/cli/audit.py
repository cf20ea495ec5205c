"""`mixgate audit`: check data files against evaluation holdouts (no Prefect needed)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline.stages.decontam.match import DecontamConfig
from pipeline.tools.audit import KINDS, AuditReport, audit_files

_EPILOG = """example:
  mixgate audit --data train.jsonl --holdout gsm8k/test.jsonl --json report.json
  mixgate audit --data train.jsonl --holdout mt_bench.jsonl --holdout-field 'turns[0]'

holdout items are the prompt side (question, prompt, instruction + input, turns, ...), found by
name; field paths: name, name[0], name[] (each element an item), name[].key, name[key=value]

exit codes: 0 clean, 1 contamination found, 2 bad usage, unreadable input, no prompt field,
or (with --strict) unreadable holdout rows"""


def _default_cache_dir() -> Path:
    if os.environ.get("MIXGATE_CACHE_DIR"):
        return Path(os.environ["MIXGATE_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mixgate"


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `mixgate audit`."""
    p = sub.add_parser(
        "audit",
        help="check data files against evaluation holdouts",
        description="Report every data field that contains an evaluation holdout item.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", nargs="+", required=True, type=Path, metavar="PATH", help="data files")
    p.add_argument(
        "--holdout", nargs="+", required=True, type=Path, metavar="PATH", help="holdout files"
    )
    p.add_argument(
        "--kind", choices=KINDS, default="auto", help="record kind (all inspect every string field)"
    )
    p.add_argument(
        "--holdout-field",
        action="append",
        dest="holdout_fields",
        metavar="PATH",
        help="holdout field path forming the items, e.g. question, turns[0], instances[].input, "
        "messages[role=user] (repeatable; default: the prompt fields, by name)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 2 when a holdout file has unreadable rows"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="containment threshold (default 0.55)"
    )
    p.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="write findings and summary as JSON"
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="holdout index cache (default ~/.cache/mixgate)",
    )
    p.add_argument("--no-cache", action="store_true", help="build the holdout index in memory only")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes that shingle and match the data fields (default: 2, or 1 on one core)",
    )
    p.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    """Run the audit, print the summary table, write JSON if asked; 1 if anything was found."""
    config = (
        DecontamConfig() if args.threshold is None else DecontamConfig(threshold=args.threshold)
    )
    report = audit_files(
        args.data,
        args.holdout,
        config=config,
        holdout_fields=args.holdout_fields,
        kind=args.kind,
        cache_dir=None if args.no_cache else (args.cache_dir or _default_cache_dir()),
        workers=max(1, args.workers),
    )
    sys.stdout.write(format_summary(report))
    unreadable = report.summary["holdout_unreadable_rows"]
    if args.json is not None:
        payload = {"findings": report.findings, "summary": report.summary}
        args.json.write_text(
            json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    if unreadable and args.strict:
        sys.stderr.write(f"error: {unreadable} holdout row(s) could not be read (--strict)\n")
        return 2
    return 1 if report.contaminated else 0


def format_summary(report: AuditReport) -> str:
    """Return the per-holdout summary as an aligned text table."""
    header = ("holdout", "items", "items found", "records flagged", "findings")
    rows = [
        (
            h["holdout"],
            str(h["items"]),
            str(h["items_found"]),
            str(h["records_flagged"]),
            str(h["findings"]),
        )
        for h in report.summary["holdouts"]
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    s = report.summary
    for h in s["holdouts"]:
        unreadable = f"; {h['unreadable_rows']} unreadable row(s)" if h["unreadable_rows"] else ""
        lines.append(f"{h['holdout']}: items from {', '.join(h['fields'])}{unreadable}")
    lines.append(f"{s['records_scanned']} records scanned; rule {s['config']}")
    return "\n".join(lines) + "\n"
