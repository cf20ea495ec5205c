"""Running the per-file stages over shards: ingest, tag, license, quality, PII, pool preparation.

Per-file stages run once per input file, or once per shard of a large file (a row range of
`shard_rows`, each its own task, merged back into one outcome per file). A shard whose file,
stage config and code are unchanged is loaded from the per-file cache
(`pipeline.build.cache.KeyedStore`) instead of recomputed. Neither sharding nor caching changes a
byte of the output, provided per-file stages are row-local (a record's result depends on that
record only), which every per-file stage must be.

Memory: each shard task (`process_shard`) spills its records to Parquet and returns only a
narrow frame (`pipeline.build.spill`), so the driver holds ~180 bytes per record, not the texts;
the cross-source stages run on the narrow pool (`pipeline.build.pool`) and the sampled rows are
read back from the spills at write time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.build.cache import CacheEntry, KeyedStore, digest_key
from pipeline.build.config import BuildConfig
from pipeline.build.guard import guarded, sanitized
from pipeline.build.plan import FileTask, largest_first, shard_file
from pipeline.build.runner import StageRunner
from pipeline.build.spill import SpillRef, narrow_frame, shingle_shard, shingle_sizes, write_spill
from pipeline.io.counting import SHARD_ROWS
from pipeline.output.manifest import code_version, slice_supply
from pipeline.records.schemas import LEDGER_SCHEMA, empty_ledger, empty_records, ledger_frame
from pipeline.spec import MixtureSpec, SourceSpec, spec_section
from pipeline.stages import STAGES, gate_stages, ledger_order
from pipeline.stages.dedup.near import record_shingle_sets
from pipeline.stages.dedup.shingles import ShingleSets
from pipeline.stages.gate import apply_gate
from pipeline.stages.ingest import (
    INGEST_STAGE,
    InputFile,
    file_issue,
    ingest_file,
    relative_path,
)

DEFAULT_SHARD_ROWS = SHARD_ROWS  # re-exported: rows per per-file task
CACHE_FORMAT = "mixgate.filecache/v1"


@dataclass
class FileOutcome:
    """What the per-file stages made of one input file."""

    records: pl.DataFrame
    ledger: pl.DataFrame
    file: InputFile
    supply: dict[str, dict[str, int]]  # stage -> slice -> records after that stage
    seconds: dict[str, float] = field(default_factory=dict)
    spills: tuple[SpillRef, ...] = ()  # one per shard when `records` is the narrow frame
    # near-dedup shingle sets of the kept records, taken before PII redaction (None: no PII stage)
    shingles: ShingleSets | None = None
    # CPU seconds of the stages in `seconds` (`time.process_time`: every thread of the process, so
    # exact where a process runs one shard at a time: serial, Dask workers, process pools)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def process_file(task: FileTask, *, config: BuildConfig) -> FileOutcome:
    """Run the per-file stages on one file or shard: ingest, tag, license, quality, PII."""
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    result = ingest_file(
        task.path,
        source=task.source,
        base_dir=task.base_dir,
        check=config.check_label,
        sha256=task.sha256,
        rows=task.rows,
        limits=config.reading,
    )
    _, frame, failed = guarded(config.tag, result.records, stage=INGEST_STAGE)
    timings[INGEST_STAGE] = time.perf_counter() - t0
    cpu[INGEST_STAGE] = time.process_time() - c0
    ledgers = [result.ledger, failed]
    supply = {INGEST_STAGE: slice_supply(frame)}
    shingles = None
    for decl in gate_stages("file"):
        t0, c0 = time.perf_counter(), time.process_time()
        tagger = config.stages.get(decl.name)
        if tagger is not None:
            frame, tagged, failed = guarded(tagger, frame, stage=decl.name)
            ledgers.append(failed)
            if decl.rewrites_text:
                shingles = _pre_rewrite_shingles(
                    frame, tagged, prefix=decl.gate_prefix, config=config
                )
            frame, dropped = apply_gate(tagged, stage=decl.name, prefix=decl.gate_prefix)
            ledgers.append(dropped)
        supply[decl.name] = slice_supply(frame)
        timings[decl.name] = time.perf_counter() - t0
        cpu[decl.name] = time.process_time() - c0
    ledger = pl.concat(ledgers, how="vertical")
    return FileOutcome(
        frame, ledger, result.file, supply, timings, cpu_seconds=cpu, shingles=shingles
    )


def _pre_rewrite_shingles(
    before: pl.DataFrame, tagged: pl.DataFrame, *, prefix: str, config: BuildConfig
) -> ShingleSets:
    """Shingle the texts of the rows the gate keeps, as they were before the stage rewrote them
    (PII redaction), so redaction never changes what near-dedup counts as a duplicate (the
    exact-dedup key is taken before redaction too, in `screen_pii`)."""
    kept = tagged.get_column(f"{prefix}_drop_rule").is_null()
    return record_shingle_sets(before.filter(kept), config=config.near.minhash)


def merge_outcomes(parts: Sequence[FileOutcome]) -> FileOutcome:
    """Merge the outcomes of one file's shards (in row order) into the outcome of the whole file."""
    if len(parts) == 1:
        return parts[0]
    frames = [p.records for p in parts if p.records.height]
    records = pl.concat(frames, how="diagonal_relaxed") if frames else parts[0].records
    ledger = pl.concat([p.ledger for p in parts], how="vertical")
    first = parts[0].file
    count = sum(p.file.records for p in parts)
    issues = ledger.filter(pl.col("row").is_null())
    if issues.height > 1:  # every shard after a cut in the file reports it: keep the first
        ledger = pl.concat(
            [
                issues.unique(["file", "reason"], keep="first", maintain_order=True),
                ledger.filter(pl.col("row").is_not_null()),
            ],
            how="vertical",
        )
    if count == 0 and issues.height == 0:
        empty = file_issue(first.source, first.path, "empty_file")
        ledger = pl.concat([ledger_frame([empty]), ledger], how="vertical")
    seconds: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    for p in parts:
        seconds.update(p.seconds)
        cpu.update(p.cpu_seconds)
    spills = tuple(s for p in parts for s in p.spills)
    file = replace(first, records=count)
    return FileOutcome(
        records, ledger, file, sum_supply(parts), dict(seconds), spills, cpu_seconds=dict(cpu)
    )


def file_cache_key(task: FileTask, *, slug: str, code: str) -> str:
    """Return the cache key of one file task: content, path, row range, stage config, code."""
    payload = {
        "format": CACHE_FORMAT,
        "sha256": task.sha256,
        "path": relative_path(task.path, task.base_dir),
        "rows": task.rows,
        "stages": slug,
        "code": code,
    }
    return digest_key(payload)


def file_stage_slug(spec: MixtureSpec, source: SourceSpec, evidence: dict[str, Any]) -> str:
    """Return a digest of everything the file-scope stages read for a file of `source`.

    That is the source's own spec and the slice labels (ingest checks labels against them),
    the other spec sections the file-scope stages of `pipeline.stages.STAGES` declare, and the
    rule ids and config details they declare. A setting only pool stages read (dedup, holdouts,
    sampling, the mixture size) does not invalidate cached per-file results.
    """
    file_scope = [s for s in STAGES if s.scope == "file"]
    read = sorted({name for s in file_scope for name in s.sections} - {"sources", "slices"})
    rules, details = evidence.get("rules", {}), evidence.get("config", {})
    payload = {
        "source": source.model_dump(mode="json"),
        "labels": sorted({(s.intent, s.difficulty) for s in spec.slices}),
        "sections": {name: spec_section(spec, name) for name in read},
        "rules": {k: rules.get(k) for s in file_scope for k in s.rules},
        "details": {k: details.get(k) for s in file_scope for k in s.details},
    }
    return digest_key(payload)


def outcome_to_entry(outcome: FileOutcome, files: dict[str, Path] | None = None) -> CacheEntry:
    """Return the cache entry of one file outcome (frames as Parquet, the rest as JSON), with
    `files` (e.g. the shard's shingle sets) copied in."""
    meta = {"file": asdict(outcome.file), "supply": outcome.supply}
    return CacheEntry({"records": outcome.records, "ledger": outcome.ledger}, {}, meta, files or {})


def outcome_from_entry(entry: CacheEntry) -> FileOutcome:
    """Rebuild a file outcome from its cache entry (no stage time: nothing ran)."""
    meta = entry.meta
    file = InputFile(**meta["file"])
    return FileOutcome(entry.frames["records"], entry.frames["ledger"], file, meta["supply"])


@dataclass(frozen=True)
class ShardJob:
    """One shard to run: its task, its global index, and its cache entry (key, present)."""

    task: FileTask
    index: int
    cache: tuple[Path, str, str] | None = None  # (root, namespace, key)
    cached: bool = False

    @property
    def source(self) -> SourceSpec:
        """The shard's source (task labels read it)."""
        return self.task.source

    @property
    def path(self) -> Path:
        """The shard's input file."""
        return self.task.path

    @property
    def rows(self) -> tuple[int, int | None] | None:
        """The shard's row range."""
        return self.task.rows


def process_shard(job: ShardJob, *, config: BuildConfig, work_dir: Path) -> FileOutcome:
    """Run (or load from the cache) a shard's per-file stages, spill it, return its narrow outcome.

    The records go to a Parquet spill and the near-dedup shingle sets to an ``.npz``, both in
    ``work_dir``, or in the shard's cache entry when caching: a new entry is stored whole
    (records, ledger, shingle file named by the shingling slug) and a published one is only
    read; a cached shard whose entry lacks this slug's shingles is shingled into ``work_dir``. `FileOutcome.records` is the
    narrow frame (`pipeline.build.spill.narrow_frame`) with the decontamination tags and shingle
    counts.
    """
    store, key = (KeyedStore(job.cache[0], job.cache[1]), job.cache[2]) if job.cache else (None, "")
    shingle_name = f"shingles-{config.near.minhash.slug}.npz"
    records_path = work_dir / f"shard-{job.index:05d}.parquet"
    shingles = work_dir / f"shard-{job.index:05d}.shingles.npz"
    entry = None
    if store is not None and job.cached:
        entry = store.get(key)
    if store is not None and entry is not None:  # published entry: only read from it
        outcome = outcome_from_entry(entry)
        records_path = store.path_for(key) / "records.parquet"
        shingles = entry.files.get(shingle_name, shingles)
    else:
        where = f"process_file[{job.source.name}:{job.path.name}]"
        outcome = sanitized(where, process_file, job.task, config=config)
    t0, c0 = time.perf_counter(), time.process_time()
    records = outcome.records
    tags = [
        config.stages[s.name](records).select(pl.selectors.starts_with(f"{s.prefix}_"))
        for s in STAGES
        if s.tagged_at == "shard" and s.name in config.stages
    ]
    if shingles.is_file():  # cached with the shard's records: same texts, same shingling
        sizes = shingle_sizes(shingles)
    else:  # `outcome.shingles`: taken before PII redaction
        sizes = shingle_shard(records, config=config.near, path=shingles, sets=outcome.shingles)
    if entry is None and store is not None:  # a new entry: records, ledger and shingles at once
        stored = store.put(key, outcome_to_entry(outcome, {shingle_name: shingles}))
        records_path = stored / "records.parquet"
        shingles = stored / shingle_name if (stored / shingle_name).is_file() else shingles
    elif entry is None:
        write_spill(outcome.records, records_path)
    narrow = narrow_frame(records, tags=tags, shard=job.index).with_columns(
        pl.Series("near_shingles", sizes, dtype=pl.UInt32)
    )
    spill = SpillRef(records_path, shingles, records.height, tuple(records.schema.items()))
    seconds = {**outcome.seconds, "pool_prep": time.perf_counter() - t0}
    cpu = {**outcome.cpu_seconds, "pool_prep": time.process_time() - c0}
    return replace(
        outcome, records=narrow, seconds=seconds, cpu_seconds=cpu, spills=(spill,), shingles=None
    )


def _probe(cache: KeyedStore, key: str) -> bool:
    """Return whether `cache` holds `key`, counting a hit or a miss (without loading it)."""
    found = (cache.path_for(key) / "meta.json").is_file()
    if found:
        cache.hits += 1
    else:
        cache.misses += 1
    return found


def run_file_stages(
    files: Sequence[FileTask],
    *,
    spec: MixtureSpec,
    config: BuildConfig,
    runner: StageRunner,
    work_dir: Path,
    cache: KeyedStore | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
) -> list[FileOutcome]:
    """Run `process_shard` over every shard of `files`; return one narrow outcome per file.

    Cache lookups happen here (counted in `cache`); a shard found in the cache is loaded by its
    task instead of recomputed, a shard not found is computed and stored by its task. The
    outcomes carry the shards' spills in shard order (``spill_shard`` indexes them).
    """
    groups = [shard_file(task, shard_rows=shard_rows, limits=config.reading) for task in files]
    shards = [shard for group in groups for shard in group]
    jobs = [ShardJob(shard, i) for i, shard in enumerate(shards)]
    if cache is not None:
        code = code_version()
        slugs = {s.name: file_stage_slug(spec, s, config.evidence()) for s in spec.sources}
        for i, shard in enumerate(shards):
            key = file_cache_key(shard, slug=slugs[shard.source.name], code=code)
            jobs[i] = replace(
                jobs[i], cache=(cache.root, cache.namespace, key), cached=_probe(cache, key)
            )
    # submitted largest first; the results are put back in `jobs` order: the output is the same
    order = largest_first([j.task for j in jobs], cached=[j.cached for j in jobs])
    ran = runner.map(
        "process_file", process_shard, [jobs[i] for i in order], config=config, work_dir=work_dir
    )
    by_job = dict(zip(order, ran, strict=True))
    found = [by_job[i] for i in range(len(jobs))]
    merged, at = [], 0
    for group in groups:
        merged.append(check_count(merge_outcomes(found[at : at + len(group)]), group[0].counted))
        at += len(group)
    return merged


def check_count(outcome: FileOutcome, counted: int | None) -> FileOutcome:
    """Record the file's independent count; a gap with what the reader read is a file issue.

    A reader that stops early, or reads one record as several, would otherwise reconcile
    perfectly with itself. A file that already has a file issue (read only in part) is left
    as it is.
    """
    file = replace(outcome.file, counted=counted)
    has_issue = outcome.ledger.filter(pl.col("row").is_null()).height > 0
    if counted is None or counted == file.records or has_issue:
        return replace(outcome, file=file)
    issue = file_issue(
        file.source, file.path, "row_count_mismatch", counted=counted, read=file.records
    )
    return replace(outcome, file=file, ledger=pl.concat([outcome.ledger, ledger_frame([issue])]))


def combine_files(outcomes: Sequence[FileOutcome]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Concatenate per-file records and ledgers in file order (spec order)."""
    frames = [o.records for o in outcomes if o.records.height]
    pool = pl.concat(frames, how="diagonal_relaxed") if frames else empty_records()
    ledger = pl.concat([o.ledger for o in outcomes], how="vertical") if outcomes else empty_ledger()
    return pool, ledger


def release_frames(outcome: FileOutcome) -> FileOutcome:
    """Return `outcome` without its record and ledger frames (counts, supply and spills stay)."""
    return replace(outcome, records=outcome.records.clear(), ledger=outcome.ledger.clear())


def sum_supply(outcomes: Sequence[FileOutcome]) -> dict[str, dict[str, int]]:
    """Add up per-file slice supplies, stage by stage."""
    total: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        for stage, counts in outcome.supply.items():
            total.setdefault(stage, Counter()).update(counts)
    return {stage: dict(sorted(c.items())) for stage, c in total.items()}


def sort_ledger(ledger: pl.DataFrame) -> pl.DataFrame:
    """Order ledger rows deterministically: stage order, source, file, row, record_id."""
    order = {s: i for i, s in enumerate(ledger_order())}
    return (
        ledger.with_columns(
            pl.col("stage")
            .replace_strict(order, default=len(order), return_dtype=pl.Int32)
            .alias("_s")
        )
        .sort(["_s", "source", "file", "row", "record_id"], nulls_last=False)
        .drop("_s")
        .select(list(LEDGER_SCHEMA))
    )


__all__ = [
    "DEFAULT_SHARD_ROWS",
    "FileOutcome",
    "combine_files",
    "file_cache_key",
    "merge_outcomes",
    "outcome_from_entry",
    "outcome_to_entry",
    "process_file",
    "process_shard",
    "release_frames",
    "run_file_stages",
    "sort_ledger",
    "sum_supply",
]
