"""Who runs a build's stage calls: in this process, or elsewhere (Prefect tasks, Dask workers).

The build sequence (`pipeline.build.run.run_build`) calls every stage through a `StageRunner`,
so the same sequence runs in-process (`SerialRunner`, used by tests and benchmarks) or as
Prefect tasks (`flows.runner.PrefectRunner`, optionally on Dask). Results come back in item
order, so the output never depends on the runner or the number of workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class StageRunner(Protocol):
    """Runs named stage calls; implementations may run them elsewhere (Prefect, Dask)."""

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run one stage call and return its result."""

    def map(self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any) -> list[Any]:
        """Run `fn(item, **kwargs)` for every item (possibly in parallel); results in item order."""


class SerialRunner:
    """Runs every stage in this process, in order."""

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` now."""
        return fn(*args, **kwargs)

    def map(self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any) -> list[Any]:
        """Run `fn` over `items` one by one."""
        return [fn(item, **kwargs) for item in items]

