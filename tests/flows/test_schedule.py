"""`mixgate schedule` against a real local Prefect server (the session's): the cron deployment
runs the build."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.deployments import run_deployment

from flows.schedule import ScheduleConfig, deployment_name
from pipeline.errors import ConfigError
from tests.conftest import HANG_SECONDS, start_process, stop_process

pytestmark = [pytest.mark.flow, pytest.mark.slow]
CRON = "0 3 * * *"


async def _deployment(name: str, serve: subprocess.Popen, log: Path):
    """The deployment, once `mixgate schedule` has registered it (while that process lives)."""
    async with get_client() as client:
        deadline = time.monotonic() + HANG_SECONDS
        while True:
            try:
                return await client.read_deployment_by_name(name)
            except Exception:
                if serve.poll() is not None:
                    pytest.fail(f"mixgate schedule exited: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


async def _build_messages(run_ids: list, timeout: float = HANG_SECONDS) -> list[str]:
    """Return the log messages of these flow runs and their subflows (the build flow logs
    "published" or "unchanged") once each run has said one of them.

    Logs are shipped in batches and may land after the run's state says completed; the bound
    only ends a hang. The server is shared with the session's other flow tests, so only these
    runs' logs are read.
    """
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            children = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=run_ids)
                )
            )
            ids = [*run_ids, *(c.id for c in children)]
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))
            )
            messages = [log.message for log in logs]
            done = sum(m.startswith(("published", "unchanged")) for m in messages)
            if done >= len(run_ids) or time.monotonic() > deadline:
                return messages
            await asyncio.sleep(0.5)


def test_scheduled_deployment_has_the_cron_and_builds_only_when_changed(prefect_api, tmp_path):
    url = prefect_api
    out = tmp_path / "out"
    serve_env = {
        **os.environ,
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_API_URL": url,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    serve_log = tmp_path / "serve.log"
    serve = start_process(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "schedule",
            "mixtures/demo.yaml",
            "--cron",
            CRON,
            "--name",
            "nightly",
            "--out",
            str(out),
        ],
        serve_env,
        serve_log,
    )
    name = "mixgate-scheduled-build/nightly"
    try:
        deployment = asyncio.run(_deployment(name, serve, serve_log))
        assert [s.schedule.cron for s in deployment.schedules] == [CRON]
        runs = [run_deployment(name, timeout=HANG_SECONDS, poll_interval=1) for _ in range(2)]
        assert [r.state.is_completed() for r in runs] == [True, True], serve_log.read_text()[-3000:]
        messages = asyncio.run(_build_messages([r.id for r in runs]))
    finally:
        stop_process(serve)
    manifests = [json.loads(p.read_text()) for p in sorted((out / "demo").glob("v*/manifest.json"))]
    published = sum(m.startswith("published") for m in messages)
    unchanged = sum(m.startswith("unchanged") for m in messages)
    # Run 1 publishes; run 2 finds the same fingerprint, logs "unchanged" and writes nothing.
    # (Only if the code under pipeline/ was edited between the two runs may run 2 publish, and
    # then its fingerprint differs: a version is never written for an unchanged fingerprint.)
    assert (published, unchanged) in ((1, 1), (2, 0))
    assert len(manifests) == published
    assert len({m["fingerprint"] for m in manifests}) == len(manifests)


def test_schedule_config_rejects_a_bad_cron_naming_the_option():
    with pytest.raises(ConfigError, match="`--cron`.*'every night'"):
        ScheduleConfig(
            spec=Path("mixtures/demo.yaml"), cron="every night", name="n", out=Path("out")
        )


def test_schedule_parameters_are_absolute_and_skip_unchanged_is_built_in(tmp_path):
    config = ScheduleConfig(
        spec=Path("mixtures/demo.yaml"), cron=CRON, name="n", out=Path("rel/out")
    )
    params = config.parameters()
    assert Path(params["spec"]).is_absolute() and Path(params["out"]).is_absolute()
    assert deployment_name(config) == "mixgate-scheduled-build/n"
