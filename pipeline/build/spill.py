"""Records on disk, a narrow frame in memory: what each shard hands to the cross-source stages.

After its per-file stages, a shard (see `pipeline.build.shards.process_shard`) computes every
row-local input of the cross-source stages: the exact-dedup content key, the tags of the pool
stages declared ``tagged_at="shard"`` (decontamination: tagged here, gated later, so the ledger
order stays the declared one) and the near-dedup shingle sets. Its full records go to a Parquet
*spill* file, the shingle sets to an ``.npz``; the driver keeps only the *narrow* frame
(`NARROW_COLUMNS`, the columns the stages declare as `carried`, the shard-time tags and the
spill location ``spill_shard``/``spill_row``), about 180 bytes per record.

`gather_records` reads the sampled rows back from the spills, a batch of one shard at a time.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.faults import fault_point
from pipeline.stages import STAGES
from pipeline.stages.dedup.exact import content_keys
from pipeline.stages.dedup.near import record_shingle_sets
from pipeline.stages.dedup.shingles import ShingleSets

NARROW_COLUMNS = ("record_id", "source", "kind", "license", "intent", "difficulty")
NARROW_EXTRAS = tuple(sorted(c for s in STAGES for c in s.carried))  # counted in the manifest
NARROW_PROVENANCE = ("source", "file", "row")  # what keeper ranks and gates read
CATEGORICAL_COLUMNS = ("source", "kind", "license", "intent", "difficulty")
TAKE_BATCH_ROWS = 8192  # rows of a spill decoded at once when reading the sample back


@dataclass(frozen=True)
class SpillRef:
    """Where one shard's records and shingle sets are, and the schema of its records."""

    records: Path
    shingles: Path
    rows: int
    schema: tuple[tuple[str, pl.DataType], ...]


@contextlib.contextmanager
def work_directory(parent: Path, label: str) -> Iterator[Path]:
    """Yield a fresh hidden directory ``parent/.work-<label>-*`` for spills; remove it after."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".work-{label}-{os.getpid()}-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_spill(records: pl.DataFrame, path: Path) -> None:
    """Write a shard's records to its spill: LZ4, no statistics.

    A spill is internal (read back once, for the sampled rows, by `take_rows`), so it is
    written for speed: on the 100 k scale input's six shards LZ4 wrote in half zstd's CPU
    (0.21 vs 0.46 CPU-s) and `take_rows` read faster, for 1.7x the bytes (31 vs 18 MB;
    docs/performance.md, pool preparation). A cached shard's records (`pipeline.build.cache`)
    and the version's data stay zstd.
    """
    records.write_parquet(path, compression="lz4", statistics=False)


def save_shingles(sets: ShingleSets, path: Path) -> None:
    """Write shingle sets as an uncompressed ``.npz`` (hashes, offsets), atomically.

    The file appears complete or not at all: a cached copy may be read by a later build.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            np.savez(fh, hashes=sets.hashes, offsets=sets.offsets)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def shingle_sizes(path: Path) -> np.ndarray:
    """Return the number of shingles of each document of a file written by `save_shingles`."""
    return np.diff(read_npz(path)["offsets"])


def load_shingles(path: Path, rows: np.ndarray | None = None) -> ShingleSets:
    """Read shingle sets written by `save_shingles`; only documents `rows` (in that order) if given."""
    data = read_npz(path)
    sets = ShingleSets(data["hashes"], data["offsets"])
    return sets if rows is None else select_sets(sets, rows)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Return the arrays of an uncompressed ``.npz`` as read-only views of the mapped file.

    The near-dedup passes read each shard's shingles three times; `np.load` copies every
    array out of the zip and checks its CRC, which cost as much as using them. A compressed
    member (never written by `save_shingles`) is read by `np.load`.
    """
    arrays = {}
    with path.open("rb") as fh, zipfile.ZipFile(fh) as archive:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED:
                with np.load(path) as data:
                    arrays[name] = data[name]
                continue
            fh.seek(info.header_offset + 26)  # local header: name and extra field lengths
            name_len, extra_len = struct.unpack("<HH", fh.read(4))
            fh.seek(info.header_offset + 30 + name_len + extra_len)
            fmt = np.lib.format
            header = fmt.read_array_header_1_0 if fmt.read_magic(fh) == (1, 0) else None
            shape, fortran, dtype = (header or fmt.read_array_header_2_0)(fh)
            count = math.prod(shape)
            array = np.frombuffer(mapped, dtype=dtype, count=count, offset=fh.tell())
            arrays[name] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


def select_sets(sets: ShingleSets, rows: np.ndarray) -> ShingleSets:
    """Return the sets of documents `rows` of `sets`, in that order (repeats allowed).

    One gather over an index of every kept hash, no Python loop per document.

    >>> sets = ShingleSets(np.arange(5, dtype=np.uint64), np.array([0, 2, 2, 5]))
    >>> picked = select_sets(sets, np.array([2, 0, 1]))
    >>> picked.hashes.tolist(), picked.offsets.tolist()
    ([2, 3, 4, 0, 1], [0, 3, 5, 5])
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (len(rows) == 1 or (rows[1:] > rows[:-1]).all()):  # ascending, no repeat
        if len(rows) == len(sets):
            return sets
        keep = np.zeros(len(sets), dtype=bool)
        keep[rows] = True
        sizes = sets.sizes[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return ShingleSets(sets.hashes[np.repeat(keep, sets.sizes)], offsets)
    sizes = sets.sizes[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    # hash k of the output comes from position k - offsets[doc] + sets.offsets[rows[doc]]
    index = np.repeat(sets.offsets[rows] - offsets[:-1], sizes)
    index += np.arange(len(index), dtype=np.int64)
    return ShingleSets(sets.hashes[index], offsets)


def narrow_frame(
    records: pl.DataFrame, *, tags: Sequence[pl.DataFrame] = (), shard: int
) -> pl.DataFrame:
    """Return the driver's view of `records`: labels, provenance, content key, spill location.

    `tags` are the shard-time tag columns of pool stages for the same rows (e.g. the
    ``decontam_*`` columns); their string columns are stored as categoricals.
    """
    extras = [c for c in NARROW_EXTRAS if c in records.columns]
    provenance = pl.struct([pl.col("provenance").struct.field(f) for f in NARROW_PROVENANCE]).alias(
        "provenance"
    )
    narrow = records.select(
        *NARROW_COLUMNS,
        *extras,
        provenance,
        # taken before PII redaction when the PII stage ran (`screen_pii`)
        pl.col("dedup_content_key")
        if "dedup_content_key" in records.columns
        else content_keys(records),
        pl.lit(shard, dtype=pl.UInt32).alias("spill_shard"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("spill_row"),
    )
    tag_strings = [c for t in tags for c, dtype in t.schema.items() if dtype == pl.String]
    if tags:
        narrow = pl.concat([narrow, *tags], how="horizontal")
    return compact_labels(narrow, extra=tag_strings)


def compact_labels(narrow: pl.DataFrame, *, extra: Sequence[str] = ()) -> pl.DataFrame:
    """Store the narrow frame's low-cardinality strings as categoricals (4 bytes a row).

    Labels, sources, licenses, file names and the mostly-null decontamination tags repeat a few
    values millions of times. Values are unchanged; nothing sorts on these physical codes
    (`rank_keepers` and the ledger compare them as strings).
    """
    label_columns = [c for c in (*CATEGORICAL_COLUMNS, *extra) if c in narrow.columns]
    fields = [
        pl.col("provenance").struct.field(f).cast(pl.Categorical)
        if f == "file"
        else pl.col("provenance").struct.field(f)
        for f in NARROW_PROVENANCE
    ]
    return narrow.with_columns(
        *[pl.col(c).cast(pl.Categorical) for c in label_columns],
        pl.struct(fields).alias("provenance"),
    )


def shingle_shard(
    records: pl.DataFrame, *, config, path: Path, sets: ShingleSets | None = None
) -> np.ndarray:
    """Compute (unless given: `sets` of the same rows) and save the near-dedup shingle sets of
    `records`; return their sizes."""
    if sets is None:
        sets = record_shingle_sets(records, config=config.minhash)
    save_shingles(sets, path)
    fault_point("spill")
    return sets.sizes


def pool_schema(spills: Sequence[SpillRef], columns: Sequence[str] | None = None) -> pl.Schema:
    """Return the schema the concatenated records of all spills would have (diagonal, relaxed),
    only `columns` (those a spill has) if given."""
    empties = [
        pl.DataFrame(schema={k: v for k, v in s.schema if columns is None or k in columns})
        for s in spills
        if s.rows
    ]
    return pl.concat(empties, how="diagonal_relaxed").schema if empties else pl.Schema()


def gather_records(
    sampled: pl.DataFrame, *, spills: Sequence[SpillRef], columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """Return the full records of `sampled` (narrow rows with a spill location), in its order.

    Each spill holding sampled rows is read once, a batch at a time (`take_rows`); only
    `columns` of it if given (the version's: the gates' columns and keys are not decoded).
    Columns of `sampled` that the records lack (``sample_repeat``) are kept; the records'
    columns come from the spill.
    """
    at = sampled.with_row_index("_at")
    parts = []
    for (shard,), rows in at.group_by("spill_shard", maintain_order=False):
        rows = rows.sort("spill_row")
        spill = spills[int(shard)]
        wanted = None if columns is None else [c for c, _ in spill.schema if c in columns]
        taken = take_rows(spill.records, rows.get_column("spill_row").to_numpy(), columns=wanted)
        parts.append(taken.with_columns(rows.get_column("_at")))
    schema = pool_schema(spills, columns)
    base = pl.DataFrame(schema={**schema, "_at": pl.UInt32})
    full = pl.concat([base, *parts], how="diagonal_relaxed").sort("_at")
    own = [c for c in sampled.columns if c not in schema and c not in ("spill_shard", "spill_row")]
    return full.drop("_at").with_columns(sampled.select(own))


def take_rows(
    path: Path,
    rows: np.ndarray,
    *,
    batch_rows: int = TAKE_BATCH_ROWS,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Return rows `rows` (ascending, repeats allowed) of a Parquet file, in that order.

    The file is read `batch_rows` at a time and only the wanted rows are copied out (pyarrow
    ``take``), so memory holds one batch, not the file. Reading the whole file with polars and
    indexing it would keep every string buffer of the file alive: polars strings are views into
    the buffers they were read into.
    """
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    batches, offset = [], 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
        if hi > lo:
            batches.append(batch.take(pa.array(rows[lo:hi] - offset)))
        offset += batch.num_rows
        if hi == len(rows):
            break
    return cast(pl.DataFrame, pl.from_arrow(pa.Table.from_batches(batches, schema=schema)))
