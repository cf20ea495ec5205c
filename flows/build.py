"""The build flow: each stage of `pipeline.build.run.run_build` runs as a named Prefect task.

The flow only sequences; the stage logic lives in `pipeline`, and `flows.runner.PrefectRunner`
submits every stage call to the flow's task runner (threads, or Dask). Per-file stages fan out: one
task per file, or per shard of a large file (`shard_rows`), and none for a file whose per-file
results are in the cache (`cache_dir`, default ``<out>/.cache``); see
`pipeline.build.shards.run_file_stages`. With `skip_unchanged`, a build whose fingerprint equals the
newest version's writes nothing and logs "unchanged" (what scheduled runs do).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from prefect import flow, get_run_logger

from flows.runner import RUNNERS, PrefectRunner, task_runner_for
from pipeline.build.cache import KeyedStore, default_cache_dir
from pipeline.build.prepare import BuildPlan
from pipeline.build.rebuild import rebuild_version
from pipeline.build.run import BuildResult, load, run_build
from pipeline.build.shards import DEFAULT_SHARD_ROWS

__all__ = ["RUNNERS", "build_mixture", "rebuild_mixture", "run_build_flow", "run_rebuild_flow"]

# Plans made ahead of a flow in this process (`run_build_flow(plan=...)`), by a key the flow
# receives as a parameter: the plan itself (engines, holdout items) never goes to Prefect's API.
_PLANS: dict[str, BuildPlan] = {}


def file_cache(*, out: str, cache_dir: str | None, use_cache: bool) -> KeyedStore | None:
    """Return the per-file cache (``<out>/.cache`` unless `cache_dir`), or None when disabled."""
    if not use_cache:
        return None
    return KeyedStore(Path(cache_dir) if cache_dir else default_cache_dir(Path(out)), "files")


@flow(name="mixgate-build", log_prints=False, persist_result=False)
def build_mixture(
    spec: str,
    out: str = "out",
    version: str | None = None,
    runner: str = "default",
    cache_dir: str | None = None,
    use_cache: bool = True,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    skip_unchanged: bool = False,
    on_busy: str = "fail",
    plan_key: str | None = None,
) -> str:
    """Build the mixture declared in `spec` into `out/<name>/<version>`; return the version dir.

    With `skip_unchanged`, nothing is written when the newest version has the same fingerprint;
    the flow then logs "unchanged" and returns that version's directory. When another build of
    the mixture holds its lock, `on_busy` (`fail`, `wait`, `skip`) decides; a skipped build
    writes nothing and returns the mixture's directory. `plan_key` names a plan made ahead in
    this process (`run_build_flow`); without one, the flow plans the build itself.
    """
    logger = get_run_logger()
    plan = _PLANS.pop(plan_key, None) if plan_key else None
    loaded = plan.loaded if plan is not None else load(Path(spec))
    cache = file_cache(out=out, cache_dir=cache_dir, use_cache=use_cache)
    result: BuildResult = run_build(
        loaded,
        out_dir=Path(out),
        version=version,
        runner=PrefectRunner(),
        runner_name=runner,
        skip_unchanged=skip_unchanged,
        cache=cache,
        shard_rows=shard_rows,
        on_busy=on_busy,  # type: ignore[arg-type]
        plan=plan,
    )
    if result.busy:
        logger.info(
            "skipped: build in progress (another build of %s holds its lock); nothing written",
            result.version_dir,
        )
        return str(result.version_dir)
    if result.unchanged:
        logger.info(
            "unchanged: inputs, spec and code match %s; nothing written", result.version_dir
        )
        return str(result.version_dir)
    if cache is not None:
        stats = cache.stats()
        logger.info(
            "file cache %s: %d hit(s), %d miss(es)", cache.root, stats["hits"], stats["misses"]
        )
    logger.info("published %s", result.version_dir)
    return str(result.version_dir)


@flow(name="mixgate-rebuild", log_prints=False, persist_result=False)
def rebuild_mixture(
    version_dir: str,
    out: str,
    spec_dir: str | None = None,
    runner: str = "default",
    data_root: str | None = None,
) -> str:
    """Regenerate a version from its manifest into `out`; return the new version dir."""
    result = rebuild_version(
        Path(version_dir),
        out_dir=Path(out),
        spec_dir=Path(spec_dir) if spec_dir else None,
        data_root=Path(data_root) if data_root else None,
        runner=PrefectRunner(),
    )
    return str(result.version_dir)


def run_build_flow(
    spec: str,
    *,
    out: str,
    version: str | None,
    runner: str = "default",
    dask_address: str | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    skip_unchanged: bool = False,
    on_busy: str = "fail",
    plan: BuildPlan | None = None,
) -> str:
    """Run `build_mixture` with the chosen task runner (and `plan`, `plan_build` of `spec` made
    ahead, e.g. while Prefect's server started)."""
    configured = build_mixture.with_options(task_runner=task_runner_for(runner, dask_address))
    plan_key = uuid.uuid4().hex if plan is not None else None
    if plan_key is not None and plan is not None:
        _PLANS[plan_key] = plan
    try:
        return configured(
            spec=spec,
            out=out,
            version=version,
            runner=runner,
            cache_dir=cache_dir,
            use_cache=use_cache,
            shard_rows=shard_rows,
            skip_unchanged=skip_unchanged,
            on_busy=on_busy,
            plan_key=plan_key,
        )
    finally:
        _PLANS.pop(plan_key or "", None)


def run_rebuild_flow(
    version_dir: str,
    *,
    out: str,
    spec_dir: str | None,
    runner: str = "default",
    dask_address: str | None = None,
    data_root: str | None = None,
) -> str:
    """Run `rebuild_mixture` with the chosen task runner."""
    configured = rebuild_mixture.with_options(task_runner=task_runner_for(runner, dask_address))
    return configured(
        version_dir=version_dir, out=out, spec_dir=spec_dir, runner=runner, data_root=data_root
    )
