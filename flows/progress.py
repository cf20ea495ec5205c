"""Build progress on the console: a live rich display on a terminal, plain lines otherwise.

The build's `PrefectRunner` reports each stage call to a `Progress` sink: per-file stages
(``runner.map``) advance per file or shard as each task finishes, with records done, throughput
and an ETA; pool stages (``runner.call``) report when they end.

- `LiveProgress` (stderr is a terminal): rich progress bars, one per stage, updated in place.
- `PlainProgress` (stderr is a file or a pipe, e.g. CI logs): one line per stage when it ends,
  ``mixgate: process_file: 6/6 tasks, 564 records (251/s), 2.3 s``.

Progress goes to stderr, so stdout keeps only the version directory a script captures.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any, Protocol


class Progress(Protocol):
    """Where a build reports its stages."""

    def start(self, stage: str, total: int | None) -> None: ...

    def advance(self, stage: str, *, records: int) -> None: ...

    def finish(self, stage: str, *, records: int | None = None) -> None: ...

    def close(self) -> None: ...


def records_of(result: Any) -> int:
    """Records a stage call handled, when its result says (a file outcome, or a frame)."""
    file = getattr(result, "file", None)
    if file is not None and hasattr(file, "records"):
        return int(file.records)
    if isinstance(result, tuple) and result:
        result = result[0]
    height = getattr(result, "height", None)
    return int(height) if isinstance(height, int) else 0


class PlainProgress:
    """One plain line per stage, when it ends."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started: dict[str, tuple[float, int | None]] = {}
        self.done: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def start(self, stage: str, total: int | None) -> None:
        with self.lock:
            self.started[stage] = (time.perf_counter(), total)
            self.done[stage] = (0, 0)

    def advance(self, stage: str, *, records: int) -> None:
        with self.lock:
            items, done = self.done.get(stage, (0, 0))
            self.done[stage] = (items + 1, done + records)

    def finish(self, stage: str, *, records: int | None = None) -> None:
        with self.lock:
            t0, total = self.started.pop(stage, (time.perf_counter(), None))
            items, done = self.done.pop(stage, (0, 0))
        seconds = time.perf_counter() - t0
        records = done if records is None else records
        parts = []
        if total is not None:
            parts.append(f"{items}/{total} tasks")
        if records:
            rate = f" ({records / seconds:,.0f}/s)" if seconds > 0 else ""
            parts.append(f"{records:,} records{rate}")
        parts.append(f"{seconds:.1f} s")
        self.stream.write(f"mixgate: {stage}: {', '.join(parts)}\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class LiveProgress:
    """Rich progress bars on a terminal: one task per stage, with throughput and ETA."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=stream or sys.stderr, force_terminal=True)
        self.bars = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[records]:>9,} records"),
            TextColumn("{task.fields[rate]:>12}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.bars.start()
        self.tasks: dict[str, Any] = {}
        self.t0: dict[str, float] = {}
        self.records: dict[str, int] = {}
        self.lock = threading.Lock()

    def start(self, stage: str, total: int | None) -> None:
        with self.lock:
            self.t0[stage] = time.perf_counter()
            self.records[stage] = 0
            self.tasks[stage] = self.bars.add_task(stage, total=total or 1, records=0, rate="")

    def advance(self, stage: str, *, records: int) -> None:
        with self.lock:
            self.records[stage] = self.records.get(stage, 0) + records
            seconds = max(time.perf_counter() - self.t0.get(stage, 0.0), 1e-6)
            self.bars.update(
                self.tasks[stage],
                advance=1,
                records=self.records[stage],
                rate=f"{self.records[stage] / seconds:,.0f}/s",
            )

    def finish(self, stage: str, *, records: int | None = None) -> None:
        with self.lock:
            task = self.tasks.pop(stage, None)
            if task is None:
                return
            done = self.records.pop(stage, 0) if records is None else records
            seconds = max(time.perf_counter() - self.t0.pop(stage, 0.0), 1e-6)
            total = self.bars.tasks[task].total or 1
            self.bars.update(task, completed=total, records=done, rate=f"{done / seconds:,.0f}/s")

    def close(self) -> None:
        self.bars.stop()


def console_progress(stream: IO[str] | None = None) -> Progress:
    """`LiveProgress` when `stream` (default stderr) is a terminal, else `PlainProgress`."""
    stream = stream or sys.stderr
    return LiveProgress(stream) if stream.isatty() else PlainProgress(stream)


class NoProgress:
    """Reports nothing (library use, tests, `--quiet`)."""

    def start(self, stage: str, total: int | None) -> None:
        pass

    def advance(self, stage: str, *, records: int) -> None:
        pass

    def finish(self, stage: str, *, records: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


_CURRENT: list[Progress] = [NoProgress()]


def current_progress() -> Progress:
    """The progress sink builds in this process report to (set by the CLI)."""
    return _CURRENT[-1]


def use_progress(progress: Progress) -> None:
    """Make `progress` the sink of the builds that run next in this process."""
    _CURRENT.append(progress)


def stop_progress(progress: Progress) -> None:
    """Close `progress` and stop reporting to it (the previous sink is current again)."""
    progress.close()
    if progress in _CURRENT[1:]:
        _CURRENT.remove(progress)
