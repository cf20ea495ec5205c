"""One build from spec to published version: `run_build` (`pipeline.build.rebuild` regenerates one).

The sequence is: plan files -> per-file stages (mapped) -> combine -> keeper ranks -> exact dedup
-> near dedup -> decontamination -> sample -> write. Every call goes through a `StageRunner`,
so Prefect (and Dask) see each stage as a task, and the result never depends on the runner.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import socket
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.build.cache import KeyedStore
from pipeline.build.config import BuildConfig
from pipeline.build.pool import run_pool_stage
from pipeline.build.prepare import (  # noqa: F401 (load, holdout_entries: re-exported)
    BuildPlan,
    LoadedSpec,
    holdout_entries,
    load,
    plan_build,
)
from pipeline.build.runner import SerialRunner, StageRunner, TimedRunner
from pipeline.build.shards import (
    DEFAULT_SHARD_ROWS,
    FileOutcome,
    combine_files,
    release_frames,
    run_file_stages,
    sort_ledger,
    sum_supply,
)
from pipeline.build.spill import gather_records, work_directory
from pipeline.errors import ConfigError, InternalError
from pipeline.faults import fault_point
from pipeline.output.lock import OnBusy, mixture_lock
from pipeline.output.manifest import (
    MANIFEST_FORMAT,
    code_version,
    count_records,
    dumps_canonical,
    fingerprint,
    frame_counts,
    package_versions,
    shift_table,
    slice_supply,
    tag_counts,
)
from pipeline.output.publish import (
    check_version_label,
    file_entry,
    next_version,
    prepare_out,
    publish,
    read_manifest,
    staging_dir,
    write_data_parts,
    write_parquet,
)
from pipeline.output.splits import split_by_kind
from pipeline.records.schemas import RECORD_COLUMNS
from pipeline.spec import spec_canonical_json, spec_sha256
from pipeline.stages import gate_stages, ledger_order
from pipeline.stages.dedup.keeper import conflict_warnings, license_conflicts
from pipeline.stages.ingest import relative_path
from pipeline.stages.sample import SliceResult, sample_mixture

logger = logging.getLogger(__name__)

OUTPUT_EXTRAS = (
    "sample_repeat",
    "tag_intent_rule",
    "tag_intent_confidence",
    "tag_difficulty_rule",
    "tag_difficulty_confidence",
    "pii_redactions",
    "quality_refusal",
)


@dataclass(frozen=True)
class BuildResult:
    """Where the version went and what its manifest says.

    `unchanged` is True when the build was skipped because the newest version already has the
    same fingerprint (`run_build(..., skip_unchanged=True)`); `version_dir` is then that version.
    `busy` is True when another build of the mixture held its lock and `on_busy` was ``skip``;
    `version_dir` is then the mixture's directory and `manifest` is empty.
    """

    version_dir: Path
    manifest: dict[str, Any]
    unchanged: bool = False
    busy: bool = False


def latest_version(mixture_dir: Path) -> Path | None:
    """Return the most recently published version directory (by manifest order of creation).

    Hidden directories (``.tmp-*`` staging and ``.work-*`` spills of killed builds) are never
    versions, even when they hold a manifest.
    """
    if not mixture_dir.is_dir():
        return None
    versions = [
        p
        for p in mixture_dir.iterdir()
        if not p.name.startswith(".") and p.is_dir() and (p / "manifest.json").is_file()
    ]
    return max(
        versions, key=lambda p: ((p / "manifest.json").stat().st_mtime_ns, p.name), default=None
    )


def _output_table(sampled: pl.DataFrame):
    columns = [c for c in (*RECORD_COLUMNS, *OUTPUT_EXTRAS) if c in sampled.columns]
    return sampled.select(columns).to_arrow(compat_level=pl.CompatLevel.oldest())


def write_views(version_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the version's human views, derived from its manifest and files: the dataset card
    (``DATACARD.md``, and as ``README.md`` for `datasets`) and ``report.html``."""
    from pipeline.output.card import write_card
    from pipeline.output.html import write_html

    write_card(version_dir, manifest)
    write_html(version_dir, manifest)


def write_version(
    *,
    loaded: LoadedSpec,
    out_dir: Path,
    version: str,
    sampled: pl.DataFrame,
    ledger: pl.DataFrame,
    manifest: dict[str, Any],
    run_info: dict[str, Any],
) -> BuildResult:
    """Write data parts, ledger, manifest and run.json into a staging dir, then publish it."""
    mixture_dir = Path(out_dir) / loaded.spec.name
    with staging_dir(mixture_dir, version) as tmp:
        outputs = []
        for config, table in split_by_kind(_output_table(sampled)).items():
            for part, rows in write_data_parts(table, tmp / "data" / config):
                outputs.append(file_entry(part, tmp, rows))
        fault_point("parquet_write")
        ledger_path = tmp / "ledger.parquet"
        write_parquet(ledger.to_arrow(compat_level=pl.CompatLevel.oldest()), ledger_path)
        outputs.append(file_entry(ledger_path, tmp, ledger.height))
        manifest = {**manifest, "outputs": outputs}
        text = dumps_canonical(manifest)
        (tmp / "manifest.json").write_text(text, encoding="utf-8")
        fault_point("manifest_write")
        write_views(tmp, manifest)
        run_info = {**run_info, "manifest_sha256": hashlib.sha256(text.encode()).hexdigest()}
        (tmp / "run.json").write_text(dumps_canonical(run_info), encoding="utf-8")
        final = publish(tmp, mixture_dir / version)
    return BuildResult(final, manifest)


def run_build(
    loaded: LoadedSpec,
    *,
    out_dir: Path,
    version: str | None = None,
    runner: StageRunner | None = None,
    pinned: dict[str, list[dict[str, str]]] | None = None,
    runner_name: str = "serial",
    skip_unchanged: bool = False,
    cache: KeyedStore | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    on_busy: OnBusy = "fail",
    plan: BuildPlan | None = None,
) -> BuildResult:
    """Build `loaded` into ``out_dir/<name>/<version>`` and return where it went.

    With `skip_unchanged`, nothing is written when the newest version under ``out_dir/<name>``
    has the same fingerprint (same spec bytes, input files and code version). With `cache`,
    per-file results are reused when the file, the per-file stage settings and the code are
    unchanged; files larger than `shard_rows` records are processed in row ranges.

    The whole build holds the mixture's lock (`pipeline.output.lock.mixture_lock`): the version
    number is claimed under it, so two builds never get the same one. When another build holds
    it, `on_busy` says what to do: ``fail`` (`BuildBusyError`), ``wait``, or ``skip``
    (return a result with `busy` set, writing nothing).

    `plan` is `plan_build` of this `loaded` (and `pinned`), made ahead of the build; without it
    the build plans here.
    """
    if plan is not None and (plan.loaded.raw, plan.loaded.base_dir) != (
        loaded.raw,
        loaded.base_dir,
    ):
        msg = "run_build: the plan was made for another spec"
        raise InternalError(msg)
    mixture_dir = prepare_out(Path(out_dir), loaded.spec.name)
    with mixture_lock(mixture_dir, on_busy=on_busy) as held:
        if not held:
            return BuildResult(mixture_dir, {}, busy=True)
        return _run_locked(
            loaded,
            out_dir=out_dir,
            version=version,
            runner=runner or SerialRunner(),
            pinned=pinned,
            runner_name=runner_name,
            skip_unchanged=skip_unchanged,
            cache=cache,
            shard_rows=shard_rows,
            plan=plan,
        )


def _run_locked(
    loaded: LoadedSpec,
    *,
    out_dir: Path,
    version: str | None,
    runner: StageRunner,
    pinned: dict[str, list[dict[str, str]]] | None,
    runner_name: str,
    skip_unchanged: bool,
    cache: KeyedStore | None,
    shard_rows: int,
    plan: BuildPlan | None,
) -> BuildResult:
    """`run_build`'s work, with the mixture's lock held."""
    started = time.time()
    runner = TimedRunner(runner)
    t0 = time.perf_counter()
    spec = loaded.spec
    mixture_dir = Path(out_dir) / spec.name
    version = check_version_label(version) if version else next_version(mixture_dir)
    if (mixture_dir / version).exists():
        msg = f"version directory already exists: {mixture_dir / version} (choose another `--version`)"
        raise ConfigError(msg)
    ahead = plan.seconds if plan is not None else 0.0
    plan = plan or plan_build(loaded, pinned=pinned)
    config, files, holdouts = plan.config, plan.files, plan.holdouts
    spec_hash = spec_sha256(loaded.raw)
    print_ = fingerprint(
        spec_hash,
        [
            {"source": f.source.name, "path": relative_path(f.path, f.base_dir), "sha256": f.sha256}
            for f in files
        ],
        holdouts,
    )
    if skip_unchanged:
        latest = latest_version(mixture_dir)
        if latest is not None and read_manifest(latest).get("fingerprint") == print_:
            return BuildResult(latest, read_manifest(latest), unchanged=True)
    # config, hashes, holdout index (`plan.seconds`: planned before the build, e.g. while the
    # CLI's Prefect server started)
    runner.seconds["plan"] = round(ahead + time.perf_counter() - t0, 3)
    with work_directory(mixture_dir, version) as work:
        outcomes: list[FileOutcome] = run_file_stages(
            files,
            spec=spec,
            config=config,
            runner=runner,
            work_dir=work,
            cache=cache,
            shard_rows=shard_rows,
        )
        pool, ledger = combine_files(outcomes)
        outcomes = [release_frames(o) for o in outcomes]  # the pool and ledger now hold the rows
        spills = [spill for o in outcomes for spill in o.spills]
        supply = sum_supply(outcomes)
        pool = runner.call("rank_keepers", config.rank, pool)
        ledgers = [ledger]
        for decl in gate_stages("pool"):
            pool, dropped = run_pool_stage(
                pool, stage=decl.name, config=config, spills=spills, work_dir=work, runner=runner
            )
            ledgers.append(dropped)
            supply[decl.name] = slice_supply(pool)
        ledger = sort_ledger(pl.concat(ledgers, how="vertical"))
        picked, slices = runner.call("sample", sample_mixture, pool, config=config.sampling)
        pool_counts = frame_counts(pool)
        del pool  # only its counts are needed now: free it before reading the sample back
        sampled = runner.call("gather_records", gather_records, picked, spills=spills)
        return _finish(
            loaded,
            out_dir=out_dir,
            version=version,
            runner=runner,
            runner_name=runner_name,
            outcomes=outcomes,
            pool_counts=pool_counts,
            ledger=ledger,
            sampled=sampled,
            slices=slices,
            supply=supply,
            config=config,
            print_=print_,
            spec_hash=spec_hash,
            holdouts=holdouts,
            started=started,
            cache=cache,
        )


def _finish(
    loaded: LoadedSpec,
    *,
    out_dir: Path,
    version: str,
    runner: StageRunner,
    runner_name: str,
    outcomes: list[FileOutcome],
    pool_counts: dict[str, Any],
    ledger: pl.DataFrame,
    sampled: pl.DataFrame,
    slices: list[SliceResult],
    supply: dict[str, dict[str, int]],
    config: BuildConfig,
    print_: str,
    spec_hash: str,
    holdouts: list[dict[str, Any]],
    started: float,
    cache: KeyedStore | None,
) -> BuildResult:
    """Assemble the manifest and run info, and write the version."""
    spec = loaded.spec
    read = {s.name: 0 for s in spec.sources}
    counted = dict(read)
    for o in outcomes:
        read[o.file.source] += o.file.records
        counted[o.file.source] += o.file.records if o.file.counted is None else o.file.counted
    inputs = [
        {
            "source": o.file.source,
            "path": o.file.path,
            "sha256": o.file.sha256,
            "records": o.file.records,
        }
        for o in outcomes
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": spec.name,
        "version": version,
        "fingerprint": print_,
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
        "counts": {
            **count_records(
                read, ledger, pool_counts["by_source"], stages=ledger_order(), counted=counted
            ),
            **tag_counts(pool_counts, frame_counts(sampled)),
        },
        "license_conflicts": license_conflicts(ledger),
        "slices": {
            "shift": shift_table(supply, stages=ledger_order()),
            "sampling": [asdict(s) for s in slices],
            "total": {"target": spec.total, "actual": sampled.height},
        },
    }
    for line in conflict_warnings(manifest["license_conflicts"]):
        logger.warning(line)
    run_info = {
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.time() - started, 3),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "runner": runner_name,
        "stage_seconds": _stage_seconds([o.seconds for o in outcomes]),
        "stage_cpu_seconds": _stage_seconds([o.cpu_seconds for o in outcomes]),
        "wall_seconds": _wall_seconds(runner, started),
        "startup_marks": _startup_marks(),
        "file_cache": cache.stats() if cache is not None else None,
        "spec_dir": os.path.abspath(loaded.base_dir),  # lets `rebuild` run from any directory
    }
    return runner.call(
        "write_version",
        write_version,
        loaded=loaded,
        out_dir=out_dir,
        version=version,
        sampled=sampled,
        ledger=ledger,
        manifest=manifest,
        run_info=run_info,
    )


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
