"""`mixgate scan-pii`: report PII findings in data files without their values."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `mixgate scan-pii` (implemented by the PII work)."""
    p = sub.add_parser("scan-pii", help="report PII findings without their values")
    p.set_defaults(handler=lambda args: 2)
