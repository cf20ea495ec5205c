"""No Prefect server or Dask worker outlives the CLI that started it, however the CLI ends.

`start_reaper` tags this process's environment with a run id (inherited by every process it
starts: Prefect's temporary server, Dask's scheduler and workers) and starts a small watchdog
in its own session, connected by a pipe. The pipe closes when the CLI ends, by a normal exit,
an exception, SIGTERM or ``kill -9`` alike; the watchdog then terminates every process carrying
the run id (SIGTERM, then SIGKILL after 5 s) and exits.

`stop_quickly` makes SIGINT and SIGTERM stop a build within seconds: the first signal raises
`KeyboardInterrupt` for a clean stop and starts a 5-second deadline, after which (or at a second
signal) the process exits at once; the watchdog then reaps the children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

ENV = "MIXGATE_RUN_ID"
GRACE_SECONDS = 5.0
_WATCHDOG = """
import os, sys, psutil
run = sys.argv[1]
sys.stdin.buffer.read()  # returns at EOF: the CLI has ended, however it ended
me = os.getpid()
procs = []
for p in psutil.process_iter():
    try:
        if p.pid != me and p.environ().get("MIXGATE_RUN_ID") == run:
            procs.append(p)
    except (psutil.Error, OSError):
        pass
for p in procs:
    try:
        p.terminate()
    except psutil.Error:
        pass
_, alive = psutil.wait_procs(procs, timeout=5)
for p in alive:
    try:
        p.kill()
    except psutil.Error:
        pass
"""
_held: list[subprocess.Popen] = []


def start_reaper() -> str:
    """Start the watchdog (once per process); return the run id children inherit."""
    if _held:
        return os.environ[ENV]
    run = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != ENV}
    _held.append(
        subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, run],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    )
    os.environ[ENV] = run
    return run


def _exit_now() -> None:
    sys.stderr.write("mixgate: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def _on_signal(signum: int, frame: Any) -> None:
    if getattr(_on_signal, "fired", False):
        _exit_now()
    _on_signal.fired = True  # type: ignore[attr-defined]
    timer = threading.Timer(GRACE_SECONDS, _exit_now)
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def signalled() -> bool:
    """True once SIGINT or SIGTERM has reached this process's handler (`stop_quickly`)."""
    return bool(getattr(_on_signal, "fired", False))


def stop_quickly() -> None:
    """Install the SIGINT/SIGTERM handlers (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
