"""Test-wide settings: offline, quiet Prefect in a per-session home, set before prefect imports.

Shared, session-scoped resources (build once, assert many times):

- `prefect_server`: one Prefect API server for the whole session. Tests that run flows take
  `prefect_api`, which points this process's Prefect settings and the environment of every
  subprocess it starts (``PREFECT_API_URL``) at it, so no flow or CLI subprocess starts a
  temporary server of its own. Tests whose point is the CLI's own temporary server (cleanup)
  or the contents of a fresh ``$PREFECT_HOME`` (leak hunt) do not take it.
- `demo_build`: one in-process build of the demo mixture, for tests that only read it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="mixgate-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_HOME)
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "600"
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
os.environ["DO_NOT_TRACK"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

# A server that is starting answers when it answers: on a loaded box that can take minutes, so
# health waits only end a hang (while the process lives), they never decide a result.
HANG_SECONDS = 600.0
SERVER_STARTS = 3  # a start whose port was taken meanwhile is retried on another port


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test process dies, even by ``kill -9``
    (Linux ``PR_SET_PDEATHSIG``; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (AttributeError, OSError):
        pass


def start_process(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `argv` in its own session (so `stop_process` ends its children too), output to
    `log`; it is terminated if the test process dies first."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there 15 s later."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> bool:
    """Poll ``url/health`` until it answers (True) or the process exits (False).

    There is no short limit: the loop only ends a hang after `HANG_SECONDS`.
    """
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"prefect server not healthy after {HANG_SECONDS:.0f}s: {log.read_text()[-2000:]}")


@dataclass(frozen=True)
class PrefectServer:
    """A running Prefect API server: its URL, home (database) and log file."""

    url: str
    home: Path
    log: Path


def _seed_home(home: Path) -> dict[str, str]:
    """Copy this venv's template database into `home`, as a build's fresh home does (``make
    venv`` writes it), and return the settings of a warm database; without a template, nothing
    (the server migrates, ~6 CPU-s per test process)."""
    from flows import prefect_home

    before = os.environ["PREFECT_HOME"]
    os.environ["PREFECT_HOME"] = str(home)
    try:
        seeded = prefect_home.seed_from_template()
    finally:
        os.environ["PREFECT_HOME"] = before
    return dict(prefect_home.WARM_SETTINGS) if seeded else {}


def start_prefect_server(root: Path) -> tuple[PrefectServer, subprocess.Popen]:
    """Start Prefect's API server as Prefect's own temporary server does (uvicorn, ephemeral
    services, no UI), with its database under `root`; return once it answers.

    A start that dies before answering (its port was taken between `free_port` and the bind)
    is retried on another port, at most `SERVER_STARTS` times, each retry logged.
    """
    home, log = root / "home", root / "server.log"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **_seed_home(home),
        "PREFECT_HOME": str(home),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    env.pop("MIXGATE_RUN_ID", None)  # not a child of a CLI run the watchdog would reap
    for attempt in range(1, SERVER_STARTS + 1):
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "prefect.server.api.server:create_app",
        ]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "error"]
        argv += ["--lifespan", "on"]
        process = start_process(argv, env, log)
        url = f"http://127.0.0.1:{port}/api"
        if wait_healthy(url, process, log):
            return PrefectServer(url, home, log), process
        warnings.warn(
            f"prefect server start {attempt}/{SERVER_STARTS} exited with {process.returncode}: "
            f"{log.read_text()[-500:]}",
            stacklevel=1,
        )
    pytest.fail(f"prefect server did not start in {SERVER_STARTS} tries: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    """One Prefect API server for the session's flow tests."""
    server, process = start_prefect_server(tmp_path_factory.mktemp("prefect-server"))
    try:
        yield server
    finally:
        stop_process(process)


@pytest.fixture
def prefect_api(prefect_server, monkeypatch) -> Iterator[str]:
    """Flows in this process and every subprocess started here use the session's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server.url)
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.url}):
        yield prefect_server.url


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo mixture built once, in process, without Prefect: a `BuildResult`.

    Tests only read it (a test that changes files copies the version first); every test that
    compares another build (a rerun, a flow, Dask, a rebuild, a crash and rerun) with a clean
    build compares with this one.
    """
    from pipeline.build.run import load, run_build
    from pipeline.output.publish import verify_version

    built = run_build(
        load(ROOT / "mixtures" / "demo.yaml"), out_dir=tmp_path_factory.mktemp("demo")
    )
    yield built
    assert verify_version(built.version_dir) == [], "a test changed the shared demo build"
