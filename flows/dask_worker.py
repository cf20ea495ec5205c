"""Set-up and tear-down of the local Dask cluster's workers (a Dask preload module).

`flows.runner.task_runner_for` names this module in the local cluster's worker preload, so
every worker process runs `dask_setup` when it starts and `dask_teardown` when it closes.

- **Start**: the worker imports the build's stage code (pipeline, polars, pyarrow, Prefect:
  ~3-4 CPU-s a process) while the cluster starts, not when its first shard task arrives; the
  cluster starts while the flow plans (`flows.runner.EarlyDaskTaskRunner`), so that time
  overlaps the planning instead of delaying the first shard.
- **End**: once a worker has closed, its process would tear the interpreter down object by
  object (a full collection, then every Prefect and pydantic schema freed): 1.5-4 s a worker,
  and Dask's nanny kills it after 4 s; the build waited for that. The worker now sends what
  Prefect still queues (as the flow does before stopping its server), flushes its logs and
  leaves with `os._exit` at interpreter exit: nothing it holds is needed any more.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Any


def dask_setup(worker: Any) -> None:
    """Import what every shard task needs, before the first one arrives."""
    import flows.runner  # noqa: F401 (the task: `run_stage`, Prefect)
    import pipeline.build.shards  # noqa: F401 (the stage code: `process_shard`)


def dask_teardown(worker: Any) -> None:
    """The worker has closed: send Prefect's queued events and logs, then exit without tearing
    the interpreter down (`_exit_now` runs first of the exit handlers)."""
    from flows.server import drain_prefect_workers

    drain_prefect_workers()
    atexit.register(_exit_now)


def _exit_now() -> None:
    """Flush logs and standard streams, then end the process at once with its exit code 0."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced stream
            pass
    os._exit(0)
