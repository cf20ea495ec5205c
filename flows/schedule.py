"""Scheduled builds: the build flow served as a Prefect deployment on a cron schedule.

`serve_schedule` registers the deployment ``mixgate-scheduled-build/<name>`` with the running
Prefect API (``PREFECT_API_URL``) and then polls for its runs until interrupted. Every run calls
the build flow (as a subflow, so it can use the Dask task runner too) with `skip_unchanged` on:
it publishes a new version only when the spec, an input file or the code changed, and otherwise
logs "unchanged" and writes nothing. The per-file cache makes a changed run recompute only the
files that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import EntrypointType
from pydantic import ValidationError

from flows.build import run_build_flow
from flows.runner import RUNNERS
from pipeline.build.shards import DEFAULT_SHARD_ROWS
from pipeline.errors import ConfigError

FLOW_NAME = "mixgate-scheduled-build"


@flow(name=FLOW_NAME, log_prints=False, persist_result=False)
def scheduled_build(
    spec: str,
    out: str,
    cache_dir: str | None = None,
    use_cache: bool = True,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    runner: str = "default",
    dask_address: str | None = None,
) -> str:
    """Build `spec` into `out` unless nothing changed since the newest version; return its dir."""
    version_dir = run_build_flow(
        spec,
        out=out,
        version=None,
        runner=runner,
        dask_address=dask_address,
        cache_dir=cache_dir,
        use_cache=use_cache,
        shard_rows=shard_rows,
        skip_unchanged=True,
        on_busy="skip",
    )
    get_run_logger().info("scheduled build done: %s", version_dir)
    return version_dir


@dataclass(frozen=True)
class ScheduleConfig:
    """What a scheduled deployment builds, and when. Paths are made absolute at construction."""

    spec: Path
    cron: str
    name: str
    out: Path
    cache_dir: Path | None = None
    use_cache: bool = True
    shard_rows: int = DEFAULT_SHARD_ROWS
    runner: str = "default"
    dask_address: str | None = None

    def __post_init__(self) -> None:
        try:
            CronSchedule(cron=self.cron)
        except ValidationError as exc:
            msg = (
                f"`--cron` must be a 5-field cron expression such as '0 3 * * *'; got {self.cron!r}"
            )
            raise ConfigError(msg) from exc
        if self.runner not in RUNNERS:
            msg = f"`runner` must be one of {', '.join(RUNNERS)}; got {self.runner!r}"
            raise ConfigError(msg)
        if self.shard_rows < 1:
            msg = f"`shard_rows` must be a positive integer; got {self.shard_rows!r}"
            raise ConfigError(msg)
        object.__setattr__(self, "spec", Path(self.spec).resolve())
        object.__setattr__(self, "out", Path(self.out).resolve())
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir).resolve())

    def parameters(self) -> dict[str, object]:
        """Return the deployment's flow-run parameters."""
        return {
            "spec": str(self.spec),
            "out": str(self.out),
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "use_cache": self.use_cache,
            "shard_rows": self.shard_rows,
            "runner": self.runner,
            "dask_address": self.dask_address,
        }


def deployment_name(config: ScheduleConfig) -> str:
    """Return the full deployment name, ``mixgate-scheduled-build/<name>``."""
    return f"{FLOW_NAME}/{config.name}"


def serve_schedule(config: ScheduleConfig) -> None:
    """Register the deployment with its cron schedule and run its flow runs until interrupted."""
    scheduled_build.serve(
        name=config.name,
        cron=config.cron,
        parameters=config.parameters(),
        description=f"scheduled build of {config.spec.name} into {config.out} (skip unchanged)",
        tags=["mixgate", "scheduled"],
        entrypoint_type=EntrypointType.MODULE_PATH,
        print_starting_message=False,
    )
