"""Acceptance 6 of issue 11: no Prefect server outlives `mixgate build`, and signals stop it fast.

The CLI runs in its own session. Once its Prefect server has started, the CLI is killed
(SIGKILL, as `kill -9`) or asked to stop (SIGTERM); every process it had started must be gone
10 s later, and SIGTERM must end the CLI within a few seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import HANG_SECONDS, ROOT

pytestmark = [pytest.mark.flow, pytest.mark.slow]


def _start_build(tmp_path) -> tuple[subprocess.Popen, list[psutil.Process]]:
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "build",
            str(ROOT / "mixtures" / "demo.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--no-cache",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + HANG_SECONDS  # start-up takes what it takes under load
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and cli.poll() is None:
        children = [
            c
            for c in psutil.Process(cli.pid).children(recursive=True)
            if "sys.stdin.buffer.read" not in " ".join(c.cmdline())
        ]  # not the reaper
        if any(
            "prefect" in " ".join(c.cmdline()) or "uvicorn" in " ".join(c.cmdline())
            for c in children
        ):
            break
        time.sleep(0.2)
    assert cli.poll() is None, "the build ended before its server started"
    assert children, "no child process to watch"
    time.sleep(1.0)
    return cli, children


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[int]:
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    return [p.pid for p in alive]


def test_kill_9_of_the_cli_leaves_no_prefect_server(tmp_path):
    cli, children = _start_build(tmp_path)
    cli.send_signal(signal.SIGKILL)
    cli.wait(timeout=10)
    alive = _gone_within(children, 10)
    for pid in alive:
        psutil.Process(pid).kill()
    assert alive == []


def test_sigterm_stops_the_cli_within_seconds_and_its_server_with_it(tmp_path):
    cli, children = _start_build(tmp_path)
    start = time.monotonic()
    cli.send_signal(signal.SIGTERM)
    cli.wait(timeout=60)
    stopped_in = time.monotonic() - start
    alive = _gone_within(children, 10)
    for pid in alive:
        psutil.Process(pid).kill()
    assert alive == []
    assert stopped_in < 15, stopped_in
    assert cli.returncode in (130, -signal.SIGTERM)
