"""The Dask task runner of a build: Prefect's `DaskTaskRunner`, with the cluster started early.

Prefect's `DaskTaskRunner` creates its cluster and client on the first task submitted: for a
build, the first shard task, after the flow has planned the files and counted their rows. The
local cluster then starts (2 worker processes, each importing the stage code through the
`flows.dask_worker` preload: several CPU-seconds) while the flow waits with nothing to do.
`EarlyDaskTaskRunner` starts creating them in a thread as soon as the flow enters the runner,
so that start-up runs while the flow plans and counts; the first submit waits for it to end.
Nothing else changes: the same cluster, client and tasks, so the same output.

Prefect enters a copy of the flow's task runner around every task it runs on a worker
(`prefect.context.hydrated_context`). That copy must stay lazy, as Prefect's own is: started
early inside a worker it would try to build a cluster of its own, which fails in a daemonic
worker process and logs a traceback for every task. So the early start happens only outside
Dask workers and daemonic processes.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from distributed import get_worker
from prefect_dask import DaskTaskRunner


def in_dask_worker() -> bool:
    """Return whether this code runs in a Dask worker (or any daemonic process).

    >>> in_dask_worker()
    False
    """
    if multiprocessing.current_process().daemon:
        return True
    try:
        get_worker()
    except ValueError:  # "No worker found": not inside a worker
        return False
    return True


class EarlyDaskTaskRunner(DaskTaskRunner):
    """A `DaskTaskRunner` whose cluster and client start in a thread when the runner is entered."""

    _starting: threading.Thread | None = None
    _start_error: BaseException | None = None

    def __enter__(self) -> EarlyDaskTaskRunner:
        super().__enter__()
        self._start_error = None
        if in_dask_worker():  # Prefect's copy around a task on a worker: stay lazy
            return self
        self._starting = threading.Thread(
            target=self._start, name="mixgate-dask-start", daemon=True
        )
        self._starting.start()
        return self

    def _start(self) -> None:
        """Create the cluster and the client (`DaskTaskRunner.client` makes both when read)."""
        try:
            _ = self.client
        except BaseException as exc:  # re-raised in the flow's thread by `_await_start`
            self._start_error = exc

    def _await_start(self) -> None:
        """Wait for the start-up thread; raise what it raised (once)."""
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.join()
        error, self._start_error = self._start_error, None
        if error is not None:
            raise error

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        """Submit once the cluster is up (`DaskTaskRunner.submit`)."""
        self._await_start()
        return super().submit(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Map once the cluster is up (`DaskTaskRunner.map`)."""
        self._await_start()
        return super().map(*args, **kwargs)

    def __exit__(self, *args: Any) -> None:
        starting, self._starting = self._starting, None
        if starting is not None:  # a flow that submitted nothing: let the start end, then close
            starting.join()
        super().__exit__(*args)
