"""`mixgate schedule` against a real local Prefect server: the cron deployment runs the build."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.schedule import ScheduleConfig, deployment_name
from pipeline.errors import ConfigError
from tests.conftest import ROOT

pytestmark = [pytest.mark.flow, pytest.mark.slow]
CRON = "0 3 * * *"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as fh:
        return subprocess.Popen(
            argv, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    """Poll until healthy while the server process lives: on a loaded box startup takes what it
    takes, so the bound is only there to end a hang (issue 11: no result may depend on load)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout}s: {log.read_text()[-2000:]}")


async def _deployment(name: str, timeout: float = 300):
    async with get_client() as client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await client.read_deployment_by_name(name)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


async def _build_messages(expected: int, timeout: float = 120) -> list[str]:
    """Return the log messages once `expected` of them say "published" or "unchanged".

    Logs are shipped in batches and may land after the run's state says completed.
    """
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            messages = [log.message for log in await client.read_logs()]
            done = sum(m.startswith(("published", "unchanged")) for m in messages)
            if done >= expected or time.monotonic() > deadline:
                return messages
            await asyncio.sleep(0.5)


@pytest.fixture
def prefect_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "server.log"
    server = _start(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        log,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(url, server, log)
        yield url, env
    finally:
        _stop(server)


def test_scheduled_deployment_has_the_cron_and_builds_only_when_changed(prefect_server, tmp_path):
    url, env = prefect_server
    out = tmp_path / "out"
    serve_env = {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    serve_log = tmp_path / "serve.log"
    serve = _start(
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
        with temporary_settings(updates={PREFECT_API_URL: url}):
            deployment = asyncio.run(_deployment(name))
            assert [s.schedule.cron for s in deployment.schedules] == [CRON]
            runs = [run_deployment(name, timeout=600, poll_interval=1) for _ in range(2)]
            assert [r.state.is_completed() for r in runs] == [True, True], serve_log.read_text()[
                -3000:
            ]
            messages = asyncio.run(_build_messages(len(runs)))
    finally:
        _stop(serve)
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
