"""Who runs a build's stage calls under Prefect: `PrefectRunner` and the task runner choice.

`PrefectRunner` submits every stage call to the flow's task runner: the default thread pool,
or Dask (`DaskTaskRunner`, a `LocalCluster` unless an address is given) when `runner="dask"`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.progress import Progress, current_progress, records_of
from pipeline.build.guard import sanitized

RUNNERS = ("default", "dask")


class Call:
    """One stage call's arguments, opaque to Prefect and Dask (neither looks inside).

    Prefect walks every task parameter, several times per task on each side (looking for
    futures to wait on and inputs to record), and Dask tokenizes it by content; a stage's
    arguments are the build's config (engines, holdout index) and frames, and never hold a
    future. As one object of a class neither knows, they cost nothing to submit but their
    pickling (~0.2 CPU-s a task before: 21 shard tasks and ~20 near-dedup tasks at 1 M).

    >>> call = Call((1,), {"b": 2})
    >>> call.args, call.kwargs
    ((1,), {'b': 2})
    """

    __slots__ = ("args", "kwargs", "token")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.args, self.kwargs = args, kwargs
        self.token = uuid.uuid4().hex

    def __dask_tokenize__(self) -> str:
        """A unique token: Dask never hashes the arguments (a call is never deduplicated)."""
        return self.token


@task(cache_policy=NO_CACHE, persist_result=False)
def run_stage(fn: Callable[..., Any], call: Call) -> Any:
    """Run one library stage call, `fn(*call.args, **call.kwargs)` (the task's name says which).

    Results are never persisted, and an unexpected exception leaves the task as an
    `InternalError` without its message (`pipeline.build.guard.sanitized`): nothing a record
    holds reaches Prefect's database, its logs or its result storage.
    """
    name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "stage")
    return sanitized(name, fn, *call.args, **call.kwargs)


def task_run_name(name: str, item: Any, index: int) -> str:
    """A task name a person can read: ``process file tutor_sft rows 0–50000 (sft_alpaca.jsonl)``.

    >>> task_run_name("sketch_pass", object(), 3)
    'sketch pass #3'
    """
    label = name.replace("_", " ")
    path = getattr(item, "path", None)
    source = getattr(getattr(item, "source", None), "name", None)
    if path is None or not source:
        return f"{label} #{index}"
    rows = getattr(item, "rows", None)
    if rows:
        return f"{label} {source} rows {rows[0]}–{'end' if rows[1] is None else rows[1]} ({Path(path).name})"
    return f"{label} {source} ({Path(path).name})"


class PrefectRunner:
    """A `pipeline.build.runner.StageRunner` that runs each stage call as a Prefect task.

    `map` fans out: one task per item, submitted to the flow's task runner (threads, or Dask
    workers), and reports each result to the console progress (`flows.progress`) as it
    arrives. `call` runs its task in the flow's own process: cross-source stages work on the
    narrow pool the flow holds, and shipping it to a worker and back would only copy it.
    """

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress or current_progress()

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run one stage call as a task named `name`, here, and return its result."""
        self.progress.start(name, None)
        result = run_stage.with_options(name=name, task_run_name=name.replace("_", " "))(
            fn, Call(args, kwargs)
        )
        self.progress.finish(name, records=records_of(result))
        return result

    def map(
        self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any
    ) -> list[Any]:
        """Submit one task per item; return the results in item order."""
        from prefect.futures import as_completed

        self.progress.start(name, len(items))
        futures = [
            run_stage.with_options(name=name, task_run_name=task_run_name(name, item, i)).submit(
                fn, Call((item,), kwargs)
            )
            for i, item in enumerate(items)
        ]
        index = {id(f): i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for future in as_completed(futures):
            results[index[id(future)]] = result = future.result()
            release(future)
            self.progress.advance(name, records=records_of(result))
        self.progress.finish(name)
        return results


def release(future: Any) -> None:
    """Let a Dask worker drop a task's result once this process holds it.

    Dask keeps a result on its worker while any future of it lives; the map's futures live
    until every task is done, so each worker would hold every narrow frame it made (O(records):
    ~1 GiB a worker at 10 M). A future of the thread pool has nothing to release.
    """
    drop = getattr(getattr(future, "wrapped_future", None), "release", None)
    if callable(drop):
        drop()


# Dask's diagnostics, sampled less often on the local cluster: by default the scheduler polls
# psutil every 0.5 s, each worker its memory every 0.1 s and its own stack every 10 ms (the
# dashboard's profile, which a build never shows), and every event loop ticks every 20 ms.
# Idle, a 2-worker cluster burnt 0.10 CPU-s per second of wall time (0.04 in the flow process),
# ~33 CPU-s over a 1 M build; with these, 0.015 (benchmarks/bench_scale.py, docs/performance.md).
QUIET_DASK = {
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "500ms",
    "distributed.worker.profile.enabled": False,
}


# imported by each local worker as it starts and called as it closes (`flows.dask_worker`)
WORKER_PRELOAD = "flows.dask_worker"


def task_runner_for(runner: str, dask_address: str | None = None):
    """Return the Prefect task runner for `runner` (`default` or `dask`)."""
    if runner == "dask":
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # before dask reads config
        import dask
        from prefect_dask import DaskTaskRunner

        from flows.dask_runner import EarlyDaskTaskRunner

        dask.config.set(QUIET_DASK)  # the local cluster's workers get this config from it

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return EarlyDaskTaskRunner(  # started while the flow plans; workers warm (preload)
            cluster_kwargs={
                "n_workers": 2,
                "threads_per_worker": 1,
                "dashboard_address": None,
                "processes": True,
                "preload": [WORKER_PRELOAD],
            }
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=2)
