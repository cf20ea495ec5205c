"""One build from spec to published version: `run_build` (`pipeline.build.rebuild` regenerates one).

The sequence is: plan files -> per-file stages (mapped) -> combine -> keeper ranks -> exact dedup
-> near dedup -> decontamination -> sample -> write. Every call goes through a `StageRunner`,
so Prefect (and Dask) see each stage as a task, and the result never depends on the runner.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.build.assemble import StageResults, assemble_manifest, run_info, with_phase
from pipeline.build.cache import KeyedStore
from pipeline.build.config import BuildConfig
from pipeline.build.plan import FileTask
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
    dumps_canonical,
    fingerprint,
    frame_counts,
    slice_supply,
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
from pipeline.spec import MixtureSpec, spec_sha256
from pipeline.stages import gate_stages
from pipeline.stages.dedup.keeper import conflict_warnings
from pipeline.stages.ingest import relative_path
from pipeline.stages.sample import sample_mixture

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


OUTPUT_COLUMNS = (*RECORD_COLUMNS, *OUTPUT_EXTRAS)  # what a version's data parts may hold


def _output_table(sampled: pl.DataFrame):
    columns = [c for c in OUTPUT_COLUMNS if c in sampled.columns]
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
    t0, c0 = time.perf_counter(), time.process_time()
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
        run_info = {
            **with_phase(run_info, "write_version", t0, c0),
            "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
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
    print_ = _fingerprint(spec_hash, plan)
    if skip_unchanged:
        latest = latest_version(mixture_dir)
        if latest is not None and read_manifest(latest).get("fingerprint") == print_:
            return BuildResult(latest, read_manifest(latest), unchanged=True)
    # config, hashes, holdout index (`plan.seconds`: planned before the build, e.g. while the
    # CLI's Prefect server started)
    runner.seconds["plan"] = round(ahead + time.perf_counter() - t0, 3)
    with work_directory(mixture_dir, version) as work:
        results = _run_stages(
            files,
            spec=spec,
            config=config,
            runner=runner,
            work=work,
            cache=cache,
            shard_rows=shard_rows,
        )
        return _finish(
            loaded,
            results,
            out_dir=out_dir,
            version=version,
            runner=runner,
            runner_name=runner_name,
            config=config,
            print_=print_,
            spec_hash=spec_hash,
            holdouts=holdouts,
            started=started,
            cache=cache,
        )


def _fingerprint(spec_hash: str, plan: BuildPlan) -> str:
    """What decides the output: the spec's bytes, every input file's hash, the holdouts."""
    inputs = [
        {"source": f.source.name, "path": relative_path(f.path, f.base_dir), "sha256": f.sha256}
        for f in plan.files
    ]
    return fingerprint(spec_hash, inputs, plan.holdouts)


def _finish(
    loaded: LoadedSpec,
    results: StageResults,
    *,
    out_dir: Path,
    version: str,
    runner: StageRunner,
    runner_name: str,
    config: BuildConfig,
    print_: str,
    spec_hash: str,
    holdouts: list[dict[str, Any]],
    started: float,
    cache: KeyedStore | None,
) -> BuildResult:
    """Assemble the manifest and run info, and write the version."""
    t0, c0 = time.perf_counter(), time.process_time()
    manifest = assemble_manifest(
        loaded,
        results,
        version=version,
        config=config,
        fingerprint=print_,
        spec_hash=spec_hash,
        holdouts=holdouts,
    )
    for line in conflict_warnings(manifest["license_conflicts"]):
        logger.warning(line)
    _mark(runner, "manifest", t0, c0)
    info = run_info(
        loaded,
        runner=runner,
        runner_name=runner_name,
        outcomes=results.outcomes,
        started=started,
        cache=cache,
    )
    return runner.call(
        "write_version",
        write_version,
        loaded=loaded,
        out_dir=out_dir,
        version=version,
        sampled=results.sampled,
        ledger=results.ledger,
        manifest=manifest,
        run_info=info,
    )


def _mark(runner: StageRunner, name: str, t0: float, c0: float) -> None:
    """Time the work between stage calls as phase `name` (`TimedRunner.mark`; else nothing)."""
    if isinstance(runner, TimedRunner):
        runner.mark(name, t0, c0)


def _run_stages(
    files: list[FileTask],
    *,
    spec: MixtureSpec,
    config: BuildConfig,
    runner: StageRunner,
    work: Path,
    cache: KeyedStore | None,
    shard_rows: int,
) -> StageResults:
    """Per-file stages, pool stages, sample, and the sampled rows read back from the spills."""
    outcomes: list[FileOutcome] = run_file_stages(
        files,
        spec=spec,
        config=config,
        runner=runner,
        work_dir=work,
        cache=cache,
        shard_rows=shard_rows,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    pool, ledger = combine_files(outcomes)
    outcomes = [release_frames(o) for o in outcomes]  # the pool and ledger now hold the rows
    spills = [spill for o in outcomes for spill in o.spills]
    supply = sum_supply(outcomes)
    _mark(runner, "combine", t0, c0)
    pool = runner.call("rank_keepers", config.rank, pool)
    ledgers = [ledger]
    for decl in gate_stages("pool"):
        pool, dropped = run_pool_stage(
            pool, stage=decl.name, config=config, spills=spills, work_dir=work, runner=runner
        )
        ledgers.append(dropped)
        supply[decl.name] = slice_supply(pool)
    t0, c0 = time.perf_counter(), time.process_time()
    ledger = sort_ledger(pl.concat(ledgers, how="vertical"))
    _mark(runner, "sort_ledger", t0, c0)
    picked, slices = runner.call("sample", sample_mixture, pool, config=config.sampling)
    pool_counts = frame_counts(pool)
    del pool  # only its counts are needed now: free it before reading the sample back
    sampled = runner.call(
        "gather_records", gather_records, picked, spills=spills, columns=OUTPUT_COLUMNS
    )
    return StageResults(outcomes, pool_counts, ledger, sampled, slices, supply)
