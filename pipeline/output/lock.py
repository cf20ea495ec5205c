"""One build per mixture at a time: a lock file in the mixture's output directory.

`mixture_lock(mixture_dir, on_busy=...)` takes an exclusive `flock` on
``OUT/<name>/.lock`` for the whole build (version-number claim, staging, publish). The kernel
drops the lock when its process ends, however it ends (``kill -9`` included), so a lock left
by a dead build is stale by construction: the file stays, the lock does not. The file holds the
holder's pid, host and start time, for the message a second build prints.

A second build of the same mixture then does what `on_busy` says: ``wait`` for the first to
finish, ``skip`` (return without building: what scheduled runs do), or ``fail`` with a
`BuildBusyError` naming the holder. Holding the lock, a build removes the staging (``.tmp-*``)
and spill (``.work-*``) directories that killed builds left behind: nobody else can be using them.

>>> import tempfile
>>> with mixture_lock(Path(tempfile.mkdtemp()) / "demo") as held:
...     held
True
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pipeline.errors import MixgateError

LOCK_NAME = ".lock"
ON_BUSY = ("wait", "skip", "fail")
LEFTOVER_PREFIXES = (".tmp-", ".work-")
_POLL_SECONDS = 0.5

OnBusy = Literal["wait", "skip", "fail"]


class BuildBusyError(MixgateError):
    """Another build of the same mixture holds its lock and `on_busy` is ``fail``."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')} since {info.get('since', '?')}"


def clean_leftovers(mixture_dir: Path) -> list[str]:
    """Remove staging and spill directories of dead builds; return their names.

    Call only while holding the mixture's lock.
    """
    removed = []
    for path in sorted(mixture_dir.iterdir()) if mixture_dir.is_dir() else []:
        if path.is_dir() and path.name.startswith(LEFTOVER_PREFIXES):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


@contextlib.contextmanager
def mixture_lock(
    mixture_dir: Path, *, on_busy: OnBusy = "fail", timeout: float | None = None
) -> Iterator[bool]:
    """Hold the build lock of `mixture_dir`; yield True, or False when skipped (`on_busy="skip"`).

    Raises
    ------
    BuildBusyError
        Another build holds the lock and `on_busy` is ``fail`` (or ``wait`` ran past `timeout`).
    """
    if on_busy not in ON_BUSY:
        msg = f"`on_busy` must be one of {', '.join(ON_BUSY)}; got {str(on_busy)[:40]!r}"
        raise ValueError(msg)
    mixture_dir = Path(mixture_dir)
    mixture_dir.mkdir(parents=True, exist_ok=True)
    path = mixture_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_busy == "skip":
                    yield False
                    return
                if on_busy == "fail" or (deadline is not None and time.monotonic() > deadline):
                    msg = (
                        f"another build of `{mixture_dir.name}` is running ({_holder(path)}); "
                        "wait for it, or pass `--on-busy wait` or `--on-busy skip`"
                    )
                    raise BuildBusyError(msg) from None
                time.sleep(_POLL_SECONDS)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        clean_leftovers(mixture_dir)
        try:
            yield True
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
