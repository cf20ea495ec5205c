"""`mixgate build | verify | rebuild | spec-schema | schedule`: the dataset-building commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, parser_class: type) -> None:
    """Declare the build commands."""
    p = sub.add_parser("build", help="build a mixture from a spec")
    p.set_defaults(handler=lambda args: 2)
