"""Building a mixture: the stage sequence, independent of who runs it.

`run_build` sequences the stages. It calls them through a `StageRunner`, so the same sequence
runs in-process (`SerialRunner`, used by tests and benchmarks) or as Prefect tasks
(`flows.build.PrefectRunner`, optionally on Dask). Results are combined in spec order, so the
output does not depend on the runner or the worker count.

Per-file stages (ingest, tag, license, quality, PII) run once per input file; cross-source stages
(exact dedup, near dedup, decontamination, sampling) run on the combined pool.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from pipeline.errors import InputChangedError, InputError
from pipeline.gate import apply_gate
from pipeline.ingest import InputFile, ingest_file, relative_path
from pipeline.io import file_sha256, resolve_paths
from pipeline.manifest import slice_supply
from pipeline.mixture.spec import MixtureSpec, SourceSpec
from pipeline.schemas import LEDGER_SCHEMA, empty_ledger, empty_records
from pipeline.stages import BuildConfig

FILE_STAGES = ("license", "quality", "pii")
POOL_STAGES = ("exact_dedup", "near_dedup", "decontam")
STAGE_ORDER = ("ingest", *FILE_STAGES, *POOL_STAGES)


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


@dataclass(frozen=True)
class FileTask:
    """One input file of one source, hashed when planned (the hash keys caches and manifests)."""

    source: SourceSpec
    path: Path
    base_dir: Path
    sha256: str


@dataclass
class FileOutcome:
    """What the per-file stages made of one input file."""

    records: pl.DataFrame
    ledger: pl.DataFrame
    file: InputFile
    supply: dict[str, dict[str, int]]  # stage -> slice -> records after that stage
    seconds: dict[str, float] = field(default_factory=dict)


def plan_files(
    spec: MixtureSpec, *, base_dir: Path, pinned: dict[str, list[dict[str, str]]] | None = None
) -> list[FileTask]:
    """Expand every source's path into hashed files, or check the pinned list from a manifest.

    Raises
    ------
    InputError
        A file is missing or unreadable.
    InputChangedError
        A pinned file's sha256 differs from the one recorded.
    """
    tasks = []
    for source in spec.sources:
        if pinned is None:
            for path in resolve_paths(source.path, base_dir=base_dir):
                tasks.append(FileTask(source, path, base_dir, file_sha256(path)))
            continue
        for entry in pinned.get(source.name, []):
            path = base_dir / entry["path"]
            if not path.is_file():
                msg = f"input file recorded in the manifest is missing: {path}"
                raise InputError(msg)
            actual = file_sha256(path)
            if actual != entry["sha256"]:
                msg = (
                    f"input file changed since the version was built: {path} "
                    f"(sha256 {actual[:12]}…, manifest has {entry['sha256'][:12]}…)"
                )
                raise InputChangedError(msg)
            tasks.append(FileTask(source, path, base_dir, actual))
    return tasks


def process_file(task: FileTask, *, config: BuildConfig) -> FileOutcome:
    """Run the per-file stages on one file: ingest, tag, license, quality, PII."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    result = ingest_file(
        task.path, source=task.source, base_dir=task.base_dir, check=config.check_label,
        sha256=task.sha256,
    )
    frame = config.tag(result.records)
    timings["ingest"] = time.perf_counter() - t0
    ledgers = [result.ledger]
    supply = {"ingest": slice_supply(frame)}
    for stage in FILE_STAGES:
        t0 = time.perf_counter()
        tagger = config.file_stages.get(stage)
        if tagger is not None:
            frame, dropped = apply_gate(tagger(frame), stage=stage, prefix=config.prefix(stage))
            ledgers.append(dropped)
        supply[stage] = slice_supply(frame)
        timings[stage] = time.perf_counter() - t0
    return FileOutcome(frame, pl.concat(ledgers, how="vertical"), result.file, supply, timings)


def combine_files(outcomes: Sequence[FileOutcome]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Concatenate per-file records and ledgers in file order (spec order)."""
    frames = [o.records for o in outcomes if o.records.height]
    pool = pl.concat(frames, how="diagonal_relaxed") if frames else empty_records()
    ledger = pl.concat([o.ledger for o in outcomes], how="vertical") if outcomes else empty_ledger()
    return pool, ledger


def sum_supply(outcomes: Sequence[FileOutcome]) -> dict[str, dict[str, int]]:
    """Add up per-file slice supplies, stage by stage."""
    total: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        for stage, counts in outcome.supply.items():
            total.setdefault(stage, Counter()).update(counts)
    return {stage: dict(sorted(c.items())) for stage, c in total.items()}


def sort_ledger(ledger: pl.DataFrame) -> pl.DataFrame:
    """Order ledger rows deterministically: stage order, source, file, row, record_id."""
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    return (
        ledger.with_columns(
            pl.col("stage").replace_strict(order, default=len(order), return_dtype=pl.Int32).alias("_s")
        )
        .sort(["_s", "source", "file", "row", "record_id"], nulls_last=False)
        .drop("_s")
        .select(list(LEDGER_SCHEMA))
    )


__all__ = [
    "FileOutcome",
    "FileTask",
    "SerialRunner",
    "StageRunner",
    "combine_files",
    "plan_files",
    "process_file",
    "sort_ledger",
    "sum_supply",
]
