"""Near-dedup over spilled shards: the steps of `pipeline.stages.dedup.near`, with O(shard) memory per task.

The driver holds the narrow pool (one row per record, ``spill_shard``/``spill_row``); the
shingle sets of each shard are on disk (`pipeline.build.spill`). Two per-shard passes run as tasks
(`StageRunner.map`), then the driver joins bands and verifies candidates:

1. `sketch_shards`: the count-min sketch of shingle document frequency over the pool rows
   (survivors of exact dedup) of a run of shards, one per worker, saved as ``.npy``; the driver
   sums the sketches.
2. `band_shard`: template shingles removed (summed sketch), MinHash signatures, LSH band keys,
   saved band-major (``bands x rows`` uint64) so one band is one contiguous read.
3. Driver, band by band: the keys of all pool records in keeper order (8 bytes per record),
   candidate pairs (`find_pairs_by_band`); then the exact (guarded) shingle sets of the
   candidate records only, and `select_keepers` exactly as in memory.

The result equals `tag_near_duplicates` on the full frame (same sketch shape: `sketch_for` of
the same number of shingle occurrences).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline.build.spill import SpillRef, load_shingles
from pipeline.errors import InternalError
from pipeline.stages.dedup.lsh import compute_band_keys
from pipeline.stages.dedup.minhash import compute_signatures
from pipeline.stages.dedup.near import (
    NearDedupConfig,
    band_plan,
    count_shingle_df,
    drop_template_shingles,
    find_pairs_by_band,
    keeper_order,
    scoped_sets,
    select_keepers,
    sketch_for,
    with_near_columns,
)
from pipeline.stages.dedup.shingles import ShingleSets
from pipeline.stages.dedup.sketch import SketchConfig, empty_sketch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardRows:
    """The pool rows of one spilled shard (sorted spill rows) and where its outputs go."""

    spill: SpillRef
    rows: np.ndarray
    out: Path


@dataclass(frozen=True)
class ShardFile:
    """A `ShardRows` as a task receives it: the rows in a ``.npy`` file, not in the task graph
    (at 10 M records the rows made each pass's Dask graph 37 MiB)."""

    spill: SpillRef
    rows_file: Path
    out: Path

    @classmethod
    def save(cls, job: ShardRows) -> ShardFile:
        """Write the rows of `job` next to its outputs and return the reference."""
        path = job.out.with_suffix(".rows.npy")
        np.save(path, job.rows)
        return cls(job.spill, path, job.out)

    def load(self) -> ShardRows:
        """Return the job with its rows read back."""
        return ShardRows(self.spill, np.load(self.rows_file), self.out)


def shipped(
    groups: Sequence[Sequence[ShardRows]], files: dict[Path, ShardFile]
) -> list[tuple[ShardFile, ...]]:
    """Return `groups` with each job as its `ShardFile` (saved once per job, kept in `files`)."""
    for job in (job for group in groups for job in group):
        if job.out not in files:
            files[job.out] = ShardFile.save(job)
    return [tuple(files[job.out] for job in group) for group in groups]


def sketch_shards(group: Sequence[ShardFile], *, sketch: SketchConfig) -> Path:
    """Save the document-frequency sketch of the pool rows of a run of shards (one shard's
    shingles in memory at a time, one sketch for the run); return its path.

    One sketch per run, not per shard: a sketch has ``4 * 2**width_bits`` counters whatever the
    shard's size (1 GiB at 10 M records), so one per shard filled the disk (200 GiB at 10 M).
    """
    total = empty_sketch(sketch)
    for job in (shard.load() for shard in group):
        count_shingle_df(load_shingles(job.spill.shingles, job.rows), sketch=sketch, out=total)
    path = group[0].out.with_suffix(".sketch.npy")
    np.save(path, total)
    return path


def guarded_sets(
    spill: SpillRef,
    rows: np.ndarray,
    *,
    df_path: Path,
    sketch: SketchConfig,
    config: NearDedupConfig,
) -> ShingleSets:
    """Return the shingle sets of `rows` of a shard, template shingles removed."""
    sets = load_shingles(spill.shingles, rows)
    df = np.load(df_path, mmap_mode="r")
    return drop_template_shingles(sets, df, config.template_max_df, sketch=sketch)


def band_shard(
    shard: ShardFile, *, df_path: Path, sketch: SketchConfig, config: NearDedupConfig
) -> Path:
    """Save the band keys (band-major) and non-empty mask of the shard's pool rows; return the path."""
    job = shard.load()
    sets = scoped_sets(
        guarded_sets(job.spill, job.rows, df_path=df_path, sketch=sketch, config=config),
        config.scope,
    )
    keys = compute_band_keys(compute_signatures(sets, config=config.minhash), band_plan(config))
    path = job.out.with_suffix(".bands.npy")
    np.save(path, np.ascontiguousarray(keys.T))
    np.save(job.out.with_suffix(".nonempty.npy"), sets.sizes > 0)
    return path


Mapper = Callable[..., list[Any]]

# Pool rows per near-dedup task: shards share a task up to this many rows (a task costs
# ~0.1-0.2 CPU-second of Prefect and Dask bookkeeping over the flow, the worker and the server;
# at 1 M, 50,000 made ~19 tasks per pass, 250,000 makes 4, two per worker); a task handles its
# shards one after another, so its memory is that of one shard whatever this is.
NEAR_TASK_ROWS = 250_000
# Document-frequency sketch tasks: one per worker of the default 2-worker cluster (each keeps
# one sketch, up to 1 GiB, and writes it once).
SKETCH_TASKS = 2


def group_shards(
    jobs: Sequence[ShardRows], *, rows: int = NEAR_TASK_ROWS, workers: int = 2
) -> list[tuple[ShardRows, ...]]:
    """Split `jobs` into runs of consecutive shards of about `rows` pool rows (at least
    `workers` runs when there are that many shards), in order.

    >>> jobs = [ShardRows(None, np.arange(n), Path(".")) for n in (10, 10, 10, 70_000, 5)]
    >>> [[len(j.rows) for j in g] for g in group_shards(jobs)]
    [[10, 10, 10], [70000], [5]]
    """
    total = sum(len(j.rows) for j in jobs)
    target = min(rows, max(1, -(-total // max(1, min(workers, len(jobs))))))
    groups: list[list[ShardRows]] = []
    size = 0
    for job in jobs:
        if not groups or size + len(job.rows) > target:
            groups.append([])
            size = 0
        groups[-1].append(job)
        size += len(job.rows)
    return [tuple(g) for g in groups]


def split_runs(jobs: Sequence[ShardRows], k: int) -> list[tuple[ShardRows, ...]]:
    """Split `jobs` into at most `k` runs of consecutive shards of about equal pool rows.

    >>> jobs = [ShardRows(None, np.arange(n), Path(".")) for n in (66, 66, 66, 66, 66)]
    >>> [[len(j.rows) for j in run] for run in split_runs(jobs, 2)]
    [[66, 66, 66], [66, 66]]
    """
    total = max(1, sum(len(j.rows) for j in jobs))
    runs: list[list[ShardRows]] = [[] for _ in range(k)]
    start = 0
    for job in jobs:  # by where the shard starts: run r holds the starts in [r, r + 1) * total / k
        runs[min(k - 1, start * k // total)].append(job)
        start += len(job.rows)
    return [tuple(run) for run in runs if run]


def each_shard(
    group: Sequence[ShardFile], *, per_shard: Callable[..., Path], **kwargs: Any
) -> list[Path]:
    """Run `per_shard` over the shards of one task, in order (`group_shards`)."""
    return [per_shard(job, **kwargs) for job in group]


def tag_near_spilled(
    pool: pl.DataFrame,
    *,
    spills: Sequence[SpillRef],
    config: NearDedupConfig,
    work_dir: Path,
    run_map: Mapper,
) -> pl.DataFrame:
    """Add the ``near_*`` columns to the narrow `pool` (as `tag_near_duplicates` would).

    Parameters
    ----------
    pool
        Narrow pool with ``record_id``, ``dedup_keeper_rank``, ``spill_shard``, ``spill_row``
        and ``near_shingles`` (shingle count of the record, before the guard).
    spills
        The spill of every shard, indexed by ``spill_shard``.
    run_map
        ``run_map(name, fn, items, **kwargs)``: runs per-shard tasks (`StageRunner.map`).
    """
    order = keeper_order(pool)
    jobs, position, starts = _shard_jobs(pool, spills, work_dir)
    sketch = sketch_for(int(pool.get_column("near_shingles").sum()))
    files: dict[Path, ShardFile] = {}
    groups = shipped(group_shards(jobs), files)
    df_path = _document_frequency(jobs, files, sketch=sketch, work_dir=work_dir, run_map=run_map)
    band_paths = [
        p
        for paths in run_map(
            "near_bands",
            each_shard,
            groups,
            per_shard=band_shard,
            df_path=df_path,
            sketch=sketch,
            config=config,
        )
        for p in paths
    ]
    ranked_pos = position[order]  # shard-order position of each record in keeper order
    pairs = _candidate_pairs(band_paths, ranked_pos, max_bucket=config.max_bucket)
    candidates = np.unique(pairs)
    sets = _candidate_sets(
        candidates, ranked_pos, jobs, starts, df_path=df_path, sketch=sketch, config=config
    )
    dup_local, score_local = select_keepers(
        sets, np.searchsorted(candidates, pairs), config.threshold, config.scope
    )
    logger.info(
        "near dedup (spilled): %d candidate pairs, %d records tagged",
        len(pairs),
        int((dup_local >= 0).sum()),
    )
    dup_of = np.full(pool.height, -1, dtype=np.int64)
    score = np.full(pool.height, np.nan)
    tagged = dup_local >= 0
    dup_of[candidates[tagged]] = candidates[dup_local[tagged]]
    score[candidates[tagged]] = score_local[tagged]
    return with_near_columns(pool, order, dup_of, score)


def _shard_jobs(
    pool: pl.DataFrame, spills: Sequence[SpillRef], work_dir: Path
) -> tuple[list[ShardRows], np.ndarray, np.ndarray]:
    """One job per shard with its spilled rows; each pool row's position in shard order; where
    each shard's rows start in that order."""
    located = pool.select("spill_shard", "spill_row").with_row_index("_i")
    by_shard = located.sort(["spill_shard", "spill_row"])
    shard_ids = by_shard.get_column("spill_shard").to_numpy()
    shard_rows = by_shard.get_column("spill_row").to_numpy().astype(np.int64)
    # position of every pool row in shard order (the order the per-shard outputs are in)
    position = np.empty(pool.height, dtype=np.int64)
    position[by_shard.get_column("_i").to_numpy()] = np.arange(pool.height)
    shards = np.unique(shard_ids)
    bounds = np.searchsorted(shard_ids, shards), np.searchsorted(shard_ids, shards, side="right")
    jobs = [
        ShardRows(spills[int(s)], shard_rows[lo:hi], work_dir / f"near-{int(s):05d}")
        for s, lo, hi in zip(shards.tolist(), *bounds, strict=True)
    ]
    return jobs, position, bounds[0]


def _document_frequency(
    jobs: list[ShardRows],
    files: dict[Path, ShardFile],
    *,
    sketch: SketchConfig,
    work_dir: Path,
    run_map: Mapper,
) -> Path:
    """Sum the shards' document-frequency sketches (template guard) into one file; its path.

    One task per worker (`SKETCH_TASKS` runs of shards), so the disk and the driver see that
    many sketches whatever the number of shards; the sum is the same in any grouping."""
    total: np.ndarray | None = None
    runs = shipped(split_runs(jobs, SKETCH_TASKS), files)
    sketched = run_map("near_sketch", sketch_shards, runs, sketch=sketch)
    for path in sketched:
        part = np.load(path)
        if total is None:
            total = part
        else:
            total += part
        Path(path).unlink()
    if total is None:  # the caller never passes an empty pool
        raise InternalError("near-dedup: no shard produced a document-frequency sketch")
    df_path = work_dir / "near-df.npy"
    np.save(df_path, total)
    return df_path


def _candidate_pairs(
    band_paths: list[str], ranked_pos: np.ndarray, *, max_bucket: int
) -> np.ndarray:
    """Candidate pairs (keeper-order indexes) from the shards' band keys, band by band."""
    nonempty_all = np.concatenate(
        [
            np.load(Path(p).with_name(Path(p).name.replace(".bands", ".nonempty")))
            for p in band_paths
        ]
    )
    nonempty = np.flatnonzero(nonempty_all[ranked_pos])
    take = ranked_pos[nonempty]
    bands = [np.load(p, mmap_mode="r") for p in band_paths]

    def columns():
        for b in range(bands[0].shape[0]):
            yield np.concatenate([keys[b] for keys in bands])[take]

    local = find_pairs_by_band(columns(), max_bucket=max_bucket)
    return nonempty[local]


def _candidate_sets(
    candidates: np.ndarray,
    ranked_pos: np.ndarray,
    jobs: Sequence[ShardRows],
    starts: np.ndarray,
    *,
    df_path: Path,
    sketch: SketchConfig,
    config: NearDedupConfig,
) -> ShingleSets:
    """Return the guarded shingle sets of the candidate records, in keeper order."""
    pos = ranked_pos[candidates]
    shard_of = np.searchsorted(starts, pos, side="right") - 1
    parts = []  # (candidates of one shard, their sets): no Python object per candidate
    sizes = np.zeros(len(candidates), dtype=np.int64)
    for k in np.unique(shard_of).tolist():
        mine = np.flatnonzero(shard_of == k)
        rows = jobs[k].rows[pos[mine] - starts[k]]
        sets = guarded_sets(jobs[k].spill, rows, df_path=df_path, sketch=sketch, config=config)
        sizes[mine] = sets.sizes
        parts.append((mine, sets))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    flat = np.zeros(int(offsets[-1]), dtype=np.uint64)
    for mine, sets in parts:  # each hash to its document's place in candidate order
        shift = np.repeat(offsets[mine] - sets.offsets[:-1], sets.sizes)
        flat[shift + np.arange(len(sets.hashes))] = sets.hashes
    return ShingleSets(flat, offsets)
