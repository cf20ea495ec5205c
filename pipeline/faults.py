"""Fault injection for crash tests: `MIXGATE_FAULT=<point>` kills the process at that point.

Tests set the environment variable to one of `POINTS` and run a build in a subprocess; the
build then dies with SIGKILL (as `kill -9` would) the first time it reaches that point, and the
test checks that no half-written version is visible and that a rerun is byte-identical. Unset
(always, outside tests), `fault_point` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MIXGATE_FAULT"
POINTS = ("spill", "cache_write", "parquet_write", "manifest_write", "rename")


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL when `MIXGATE_FAULT` names `name`."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
