"""`mixgate audit`: check data files against evaluation holdouts (no Prefect needed)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare `mixgate audit` (implemented by the decontamination work)."""
    p = sub.add_parser("audit", help="check data files against evaluation holdouts")
    p.set_defaults(handler=lambda args: 2)
