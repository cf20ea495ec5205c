"""Who runs a build's stage calls: in this process, or elsewhere (Prefect tasks, Dask workers).

The build sequence (`pipeline.build.run.run_build`) calls every stage through a `StageRunner`,
so the same sequence runs in-process (`SerialRunner`, used by tests and benchmarks) or as
Prefect tasks (`flows.runner.PrefectRunner`, optionally on Dask). Results come back in item
order, so the output never depends on the runner or the number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol


class StageRunner(Protocol):
    """Runs named stage calls; implementations may run them elsewhere (Prefect, Dask)."""

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run one stage call and return its result."""

    def map(
        self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any
    ) -> list[Any]:
        """Run `fn(item, **kwargs)` for every item (possibly in parallel); results in item order."""


class SerialRunner:
    """Runs every stage in this process, in order."""

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` now."""
        return fn(*args, **kwargs)

    def map(
        self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any
    ) -> list[Any]:
        """Run `fn` over `items` one by one."""
        return [fn(item, **kwargs) for item in items]


class TimedRunner:
    """Wraps a runner and adds up the wall time of each named stage call, for ``run.json``.

    `cpu_seconds` adds up this process's CPU time (`time.process_time`: every thread) over the
    same calls: for a mapped call run elsewhere (Dask workers) that is what the fan-out costs
    here (submitting tasks, receiving results); `mark` times the work between stage calls.
    """

    def __init__(self, inner: StageRunner) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    def _add(self, name: str, t0: float, c0: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 3)
        cpu = self.cpu_seconds.get(name, 0.0) + time.process_time() - c0
        self.cpu_seconds[name] = round(cpu, 3)

    def mark(self, name: str, t0: float, c0: float) -> None:
        """Add the wall and CPU time since (`t0`, `c0`) to phase `name` (work done in between)."""
        self._add(name, t0, c0)

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run one stage call through the wrapped runner, timed."""
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.inner.call(name, fn, *args, **kwargs)
        finally:
            self._add(name, t0, c0)

    def map(
        self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any
    ) -> list[Any]:
        """Run one call per item through the wrapped runner; time the whole fan-out."""
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.inner.map(name, fn, items, **kwargs)
        finally:
            self._add(name, t0, c0)
