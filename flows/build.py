"""The build flow: each stage of `pipeline.release.run_build` runs as a named Prefect task.

The flow only sequences; the stage logic lives in `pipeline`. `PrefectRunner` submits every
stage call to the flow's task runner: the default thread pool, or Dask (`DaskTaskRunner`, a
`LocalCluster` unless an address is given) when `runner="dask"`. Per-file stages fan out: one
task per file, or per shard of a large file (`shard_rows`), and none for a file whose per-file
results are in the cache (`cache_dir`, default ``<out>/.cache``); see
`pipeline.build.run_file_stages`. With `skip_unchanged`, a build whose fingerprint equals the
newest version's writes nothing and logs "unchanged" (what scheduled runs do).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pipeline.build import DEFAULT_SHARD_ROWS
from pipeline.cache import KeyedStore, default_cache_dir
from pipeline.release import BuildResult, load, rebuild_version, run_build

RUNNERS = ("default", "dask")


@task(cache_policy=NO_CACHE, persist_result=False)
def run_stage(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run one library stage call (the task's name says which)."""
    return fn(*args, **kwargs)


def _label(item: Any) -> str:
    path = getattr(item, "path", None)
    source = getattr(getattr(item, "source", None), "name", None)
    if path is None or not source:
        return str(item)[:40]
    rows = getattr(item, "rows", None)
    span = f"@{rows[0]}-{'' if rows[1] is None else rows[1]}" if rows else ""
    return f"{source}:{Path(path).name}{span}"


class PrefectRunner:
    """A `pipeline.build.StageRunner` that runs each stage call as a Prefect task.

    `map` fans out: one task per item, submitted to the flow's task runner (threads, or Dask
    workers). `call` runs its task in the flow's own process: cross-source stages work on the
    narrow pool the flow holds, and shipping it to a worker and back would only copy it.
    """

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run one stage call as a task named `name`, here, and return its result."""
        return run_stage.with_options(name=name)(fn, *args, **kwargs)

    def map(self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any) -> list[Any]:
        """Submit one task per item; return the results in item order."""
        futures = [
            run_stage.with_options(name=name, task_run_name=f"{name}[{_label(item)}]").submit(
                fn, item, **kwargs
            )
            for item in items
        ]
        return [f.result() for f in futures]


def task_runner_for(runner: str, dask_address: str | None = None):
    """Return the Prefect task runner for `runner` (`default` or `dask`)."""
    if runner == "dask":
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # before dask reads config
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None,
                            "processes": True}
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=2)


def file_cache(*, out: str, cache_dir: str | None, use_cache: bool) -> KeyedStore | None:
    """Return the per-file cache (``<out>/.cache`` unless `cache_dir`), or None when disabled."""
    if not use_cache:
        return None
    return KeyedStore(Path(cache_dir) if cache_dir else default_cache_dir(Path(out)), "files")


@flow(name="mixgate-build", log_prints=False)
def build_mixture(
    spec: str,
    out: str = "out",
    version: str | None = None,
    runner: str = "default",
    cache_dir: str | None = None,
    use_cache: bool = True,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    skip_unchanged: bool = False,
) -> str:
    """Build the mixture declared in `spec` into `out/<name>/<version>`; return the version dir.

    With `skip_unchanged`, nothing is written when the newest version has the same fingerprint;
    the flow then logs "unchanged" and returns that version's directory.
    """
    logger = get_run_logger()
    loaded = load(Path(spec))
    cache = file_cache(out=out, cache_dir=cache_dir, use_cache=use_cache)
    result: BuildResult = run_build(
        loaded, out_dir=Path(out), version=version, runner=PrefectRunner(), runner_name=runner,
        skip_unchanged=skip_unchanged, cache=cache, shard_rows=shard_rows,
    )
    if result.unchanged:
        logger.info(
            "unchanged: inputs, spec and code match %s; nothing written", result.version_dir
        )
        return str(result.version_dir)
    if cache is not None:
        stats = cache.stats()
        logger.info("file cache %s: %d hit(s), %d miss(es)", cache.root, stats["hits"], stats["misses"])
    logger.info("published %s", result.version_dir)
    return str(result.version_dir)


@flow(name="mixgate-rebuild", log_prints=False)
def rebuild_mixture(version_dir: str, out: str, spec_dir: str | None = None, runner: str = "default") -> str:
    """Regenerate a version from its manifest into `out`; return the new version dir."""
    result = rebuild_version(
        Path(version_dir), out_dir=Path(out), spec_dir=Path(spec_dir) if spec_dir else None,
        runner=PrefectRunner(),
    )
    return str(result.version_dir)


def run_build_flow(spec: str, *, out: str, version: str | None, runner: str = "default",
                   dask_address: str | None = None, cache_dir: str | None = None,
                   use_cache: bool = True, shard_rows: int = DEFAULT_SHARD_ROWS,
                   skip_unchanged: bool = False) -> str:
    """Run `build_mixture` with the chosen task runner."""
    configured = build_mixture.with_options(task_runner=task_runner_for(runner, dask_address))
    return configured(spec=spec, out=out, version=version, runner=runner, cache_dir=cache_dir,
                      use_cache=use_cache, shard_rows=shard_rows, skip_unchanged=skip_unchanged)


def run_rebuild_flow(version_dir: str, *, out: str, spec_dir: str | None, runner: str = "default",
                     dask_address: str | None = None) -> str:
    """Run `rebuild_mixture` with the chosen task runner."""
    configured = rebuild_mixture.with_options(task_runner=task_runner_for(runner, dask_address))
    return configured(version_dir=version_dir, out=out, spec_dir=spec_dir, runner=runner)
