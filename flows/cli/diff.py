"""`mixgate diff V1 V2`: what changed between two versions (inputs, spec, records, counts).

Exit codes follow diff(1): 0 when the versions are the same, 1 when they differ, 2 on errors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _diff(args: argparse.Namespace) -> int:
    from pipeline.output.diff import diff_versions, format_diff
    from pipeline.output.publish import read_manifest

    old, new = Path(args.old), Path(args.new)
    result = diff_versions(old, new, read_manifest(old), read_manifest(new))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        print(format_diff(result))
    return 0 if result["identical"] else 1


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `diff`."""
    p = sub.add_parser(
        "diff",
        help="compare two versions: input files, spec, records per source and slice, counts",
        description="Compare two version directories. Exit 0: identical, 1: different, 2: error. "
        "Example: mixgate diff out/demo/v0001 out/demo/v0002",
    )
    p.add_argument("old", help="the earlier version directory")
    p.add_argument("new", help="the later version directory")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(handler=_diff)
