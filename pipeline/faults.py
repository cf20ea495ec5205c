"""Fault injection for crash tests: `MIXGATE_FAULT=<point>` kills the process at that point.

Tests set the environment variable to one of `POINTS` and run a build in a subprocess; the
build then dies with SIGKILL (as `kill -9` would) the first time it reaches that point, and the
test checks that no half-written version is visible and that a rerun is byte-identical. Unset
(always, outside tests), `fault_point` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

ENV = "MIXGATE_FAULT"
POINTS = ("spill", "cache_write", "parquet_write", "manifest_write", "rename")
# Also ``raise:<stage>`` (`faulty`): that per-file stage raises on every record.


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL when `MIXGATE_FAULT` names `name`."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def faulty(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
    """Return `fn`, or with ``MIXGATE_FAULT=raise:<stage>`` a stand-in that raises an exception
    quoting the first record's text (what careless code does), to prove no error path leaks it."""
    if os.environ.get(ENV) != f"raise:{stage}":
        return fn

    def raising(frame: Any) -> Any:
        text = str(frame.get_column("messages")[0]) if frame.height else ""
        msg = f"cannot handle {text}"
        raise ValueError(msg)

    return raising
