"""Which Prefect API a build talks to, and a temporary server started early, in the background.

- **A server is configured** (``PREFECT_API_URL`` in the environment, or in Prefect's settings
  once Prefect is imported, e.g. under `prefect_test_harness`): the build uses it and starts
  nothing. This is the fastest start; docs/operations.md shows how to run one.
- **Otherwise** the build starts Prefect's temporary server itself, Prefect's ephemeral server
  (uvicorn, ``prefect.server.api.server:create_app`` through `flows.server_app`,
  ``PREFECT__SERVER_EPHEMERAL=1``), *right after the spec check*, in the background: it spends
  ~4 CPU-seconds importing its API and opening its database while this process imports Prefect
  and the library and plans the build; Prefect's own ephemeral mode would start it only at the
  flow's first API call. The flow runs with ``PREFECT_API_URL`` pointing at it; it stops when
  the command ends, and carries the CLI's run id, so `flows.reaper` reaps it after a ``kill -9``.

Warm database: a home whose database is migrated, or a fresh home seeded from this
environment's template, starts without migrations or block registration (`flows.prefect_home`).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from flows import prefect_home as home
from flows.server_app import LAUNCH
from pipeline.errors import ConfigError

_FALSE = ("0", "false", "no", "off")


def configured_api_url() -> str | None:
    """Return the Prefect API the user configured, or None (then Prefect would start its own).

    The environment is read first, without importing Prefect; when Prefect is already imported
    (tests, a harness) its current settings decide.
    """
    if "prefect" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return os.environ.get("PREFECT_API_URL") or None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What a temporary server serving one build does not need (the user's environment wins):
# automations (triggers and their actions evaluate every event; a server that lives for one
# build has none to run), and one database transaction per task-run event (the recorder writes
# them in batches, flushed every second and at shutdown). docs/performance.md, "Start-up".
ONE_BUILD_SETTINGS = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}


def server_env(*, warm: bool) -> dict[str, str]:
    """The temporary server's environment: Prefect's ephemeral server, no UI, settings for one
    build, and no migration or block registration on a warm database."""
    env = {**ONE_BUILD_SETTINGS, **os.environ}
    env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
    env.pop("PREFECT_API_URL", None)
    if warm:
        env.update(home.WARM_SETTINGS)
    return env


class BackgroundServer:
    """Prefect's temporary API server, started now and waited for only when the flow needs it."""

    def __init__(self, startup_timeout: float | None = None) -> None:
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.started = time.perf_counter()
        self.ready_after: float | None = None
        db = home.prefect_home() / "prefect.db"
        self.seeded = home.seed_from_template()
        self.fresh = not self.seeded and not db.exists() and not home.users_database()
        self.warm = self.seeded or home.database_is_warm()
        env = server_env(warm=self.warm)
        self.timeout = startup_timeout or float(
            os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120
        )
        self.env = env
        # The server's stderr goes to a temporary file, not the console (its shutdown can print
        # a cancelled-task traceback); it is shown only when the server fails to start.
        self.log = tempfile.TemporaryFile()
        self.respawns = 1  # another port if the chosen one was taken meanwhile
        self.process: subprocess.Popen[bytes] | None = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCH,  # uvicorn, with the garbage collector paused while the app is built
                "--factory",
                "flows.server_app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,  # stdout is the CLI's answer (the version directory)
            stderr=self.log,
        )

    def healthy(self) -> bool:
        """True when the server answers its health check (on the loopback port it listens on)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/api/health")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def wait_ready(self) -> str:
        """Block until the server answers; return its API URL. One-line error on failure."""
        if self.ready_after is not None:
            return self.api_url
        deadline = self.started + self.timeout
        while time.perf_counter() < deadline:
            if self.process is not None and self.process.poll() is not None and self.respawns:
                self.respawns -= 1
                self.port = _free_port()
                self.api_url = f"http://127.0.0.1:{self.port}/api"
                self.process = self._spawn()
            if self.process is None or self.process.poll() is not None:
                break
            if self.healthy():
                self.ready_after = time.perf_counter() - self.started
                if self.fresh:
                    home.save_template(home.prefect_home() / "prefect.db")
                if not self.warm:
                    home.mark_database_warm()
                return self.api_url
            time.sleep(0.05)
        detail = self._failure()
        self.stop()
        msg = f"Prefect's temporary server did not start: {detail}"
        raise ConfigError(msg)

    def _failure(self) -> str:
        if self.process is None or self.process.poll() is None:
            return (
                f"no answer after {self.timeout:.0f} s "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
            )
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
        return f"it exited with code {self.process.returncode}" + (f": {last}" if last else "")

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with suppress(OSError):
            self.log.close()


def start_server() -> BackgroundServer | None:
    """Start the temporary server now, unless a server is configured or ephemeral mode is off."""
    if configured_api_url():
        return None
    if os.environ.get("PREFECT_SERVER_EPHEMERAL_ENABLED", "").lower() in _FALSE:
        return None  # Prefect then says that PREFECT_API_URL is needed
    return BackgroundServer()


@contextmanager
def using_server(server: BackgroundServer | None) -> Iterator[str | None]:
    """Run the enclosed flow against `server` (waited for here), then stop it.

    With None (a configured server), nothing changes. Otherwise ``PREFECT_API_URL`` points at the
    server in this process's Prefect settings and environment (Dask workers inherit it) and is
    restored afterwards.
    """
    if server is None:
        yield configured_api_url()
        return
    configured = configured_api_url()  # Prefect is imported now: a profile's URL counts too
    if configured:
        server.stop()
        yield configured
        return
    try:
        url = server.wait_ready()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        before = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}):
                yield url
        finally:
            if before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = before
    finally:
        drain_prefect_workers()
        server.stop()


def drain_prefect_workers() -> None:
    """Send the logs and events Prefect still queues, while the server still answers (as
    `prefect_test_harness` does before stopping its server)."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with suppress(Exception):  # never started, or already stopped
            worker.drain_all(timeout=10)


def prepare_template() -> Path | None:
    """Migrate a database once, in a temporary home, and keep it as this environment's template
    (``make venv`` runs this): a first build in a fresh ``PREFECT_HOME`` then skips the
    migrations. Returns the template, or None when the user chose Prefect's database."""
    if home.users_database():
        return None
    template = home.template_path()
    if template.is_file():
        return template
    before = os.environ.get("PREFECT_HOME")
    with tempfile.TemporaryDirectory(prefix="mixgate-prefect-home-") as scratch:
        os.environ["PREFECT_HOME"] = scratch
        try:
            started = BackgroundServer()
            try:
                started.wait_ready()
            finally:
                started.stop()
        finally:
            if before is None:
                os.environ.pop("PREFECT_HOME", None)
            else:
                os.environ["PREFECT_HOME"] = before
    return template if template.is_file() else None


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline, as the CLI
    os.environ.setdefault("DO_NOT_TRACK", "1")
    print(prepare_template() or "no template: Prefect's database is the user's choice")
