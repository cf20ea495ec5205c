"""The manifest and the run info of one build, from what its stages produced.

The manifest is everything that must regenerate the version byte for byte (spec, inputs, rule
ids, counts, slices); the run info (``run.json``) is the only part that differs between builds
(times, host, runner, cache statistics).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, NamedTuple

import polars as pl

from pipeline.build.cache import KeyedStore
from pipeline.build.config import BuildConfig
from pipeline.build.prepare import LoadedSpec
from pipeline.build.runner import StageRunner
from pipeline.build.shards import FileOutcome
from pipeline.output.manifest import (
    MANIFEST_FORMAT,
    code_version,
    count_records,
    frame_counts,
    package_versions,
    shift_table,
    tag_counts,
)
from pipeline.spec import spec_canonical_json
from pipeline.stages import ledger_order
from pipeline.stages.dedup.keeper import license_conflicts
from pipeline.stages.sample import SliceResult


class StageResults(NamedTuple):
    """What a build's stages produced: per-file outcomes (frames released), the pool's counts,
    the sorted ledger, the sampled records, the sampling per slice and the supply per stage."""

    outcomes: list[FileOutcome]
    pool_counts: dict[str, Any]
    ledger: pl.DataFrame
    sampled: pl.DataFrame
    slices: list[SliceResult]
    supply: dict[str, dict[str, int]]


def assemble_manifest(
    loaded: LoadedSpec,
    results: StageResults,
    *,
    version: str,
    config: BuildConfig,
    fingerprint: str,
    spec_hash: str,
    holdouts: list[dict[str, Any]],
) -> dict[str, Any]:
    """The version's manifest: spec, inputs, holdouts, code, rule ids, counts and slices."""
    spec = loaded.spec
    inputs = [
        {
            "source": o.file.source,
            "path": o.file.path,
            "sha256": o.file.sha256,
            "records": o.file.records,
        }
        for o in results.outcomes
    ]
    return {
        "format": MANIFEST_FORMAT,
        "name": spec.name,
        "version": version,
        "fingerprint": fingerprint,
        "spec": {
            "file": loaded.file,
            "sha256": spec_hash,
            "raw": loaded.raw.decode("utf-8"),
            "parsed": json.loads(spec_canonical_json(spec)),
        },
        "inputs": inputs,
        "holdouts": holdouts,
        "code_version": code_version(),
        "packages": package_versions(),
        **config.evidence(),
        "counts": _counts(loaded, results),
        "license_conflicts": license_conflicts(results.ledger),
        "slices": {
            "shift": shift_table(results.supply, stages=ledger_order()),
            "sampling": [asdict(s) for s in results.slices],
            "total": {"target": spec.total, "actual": results.sampled.height},
        },
    }


def _counts(loaded: LoadedSpec, results: StageResults) -> dict[str, Any]:
    """Records per source read, counted independently, kept and dropped by stage; tag counts."""
    read = {s.name: 0 for s in loaded.spec.sources}
    counted = dict(read)
    for o in results.outcomes:
        read[o.file.source] += o.file.records
        counted[o.file.source] += o.file.records if o.file.counted is None else o.file.counted
    return {
        **count_records(
            read,
            results.ledger,
            results.pool_counts["by_source"],
            stages=ledger_order(),
            counted=counted,
        ),
        **tag_counts(results.pool_counts, frame_counts(results.sampled)),
    }


def run_info(
    loaded: LoadedSpec,
    *,
    runner: StageRunner,
    runner_name: str,
    outcomes: list[FileOutcome],
    started: float,
    cache: KeyedStore | None,
) -> dict[str, Any]:
    """``run.json``: times, host, runner and cache statistics (never part of the fingerprint)."""
    return {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.time() - started, 3),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "runner": runner_name,
        "stage_seconds": _stage_seconds([o.seconds for o in outcomes]),
        "stage_cpu_seconds": _stage_seconds([o.cpu_seconds for o in outcomes]),
        "wall_seconds": _wall_seconds(runner, started),
        # CPU of this (the flow) process per phase, every thread (`TimedRunner.cpu_seconds`)
        "flow_cpu_seconds": dict(getattr(runner, "cpu_seconds", {})),
        "startup_marks": _startup_marks(),
        "file_cache": cache.stats() if cache is not None else None,
        "spec_dir": os.path.abspath(loaded.base_dir),  # lets `rebuild` run from any directory
    }


def _wall_seconds(runner: StageRunner, started: float) -> dict[str, float]:
    """Wall time of every stage call (``TimedRunner``), and the start-up before the build: from
    the `mixgate` process starting (``MIXGATE_STARTED_AT``, set by the CLI) to this build."""
    seconds = dict(getattr(runner, "seconds", {}))
    cli_started = os.environ.get("MIXGATE_STARTED_AT")
    if cli_started:
        try:
            seconds = {"startup": round(started - float(cli_started), 3), **seconds}
        except ValueError:
            pass
    return seconds


def _startup_marks() -> dict[str, float]:
    """When each start-up phase of the `mixgate` process ended, in seconds since it started
    (``MIXGATE_STARTUP_MARKS``, set by the CLI: spec check, imports, Prefect API ready)."""
    try:
        marks = json.loads(os.environ.get("MIXGATE_STARTUP_MARKS") or "{}")
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in marks.items()} if isinstance(marks, dict) else {}


def _stage_seconds(per_file: list[dict[str, float]]) -> dict[str, float]:
    """Sum the per-file stage times (wall or CPU) over the files, stage by stage."""
    total: dict[str, float] = {}
    for seconds in per_file:
        for stage, sec in seconds.items():
            total[stage] = round(total.get(stage, 0.0) + sec, 3)
    return total


def with_phase(info: dict[str, Any], name: str, t0: float, c0: float) -> dict[str, Any]:
    """`info` with phase `name` (wall since `t0`, CPU since `c0`) in its per-phase times: the
    version is written after the run info is made, so its own time is added here."""
    wall = {**info.get("wall_seconds", {}), name: round(time.perf_counter() - t0, 3)}
    cpu = {**info.get("flow_cpu_seconds", {}), name: round(time.process_time() - c0, 3)}
    return {**info, "wall_seconds": wall, "flow_cpu_seconds": cpu}
