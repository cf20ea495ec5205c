"""Reading the first rows of an input file cheaply, and estimating how many rows it holds.

`sample_file(path, limit=...)` reads at most `limit` records from the front of a file and
returns them with an estimate of the file's record count: exact when the reader reached the end
(or Parquet metadata says it), otherwise extrapolated from the bytes the sample took. A check can
then confirm field names and estimate slice supply in well under a second per source, whatever
the file's size.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import pyarrow.parquet as pq

from pipeline.io.files import detect_format
from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows

SAMPLE_ROWS = 200


@dataclass(frozen=True)
class FileSample:
    """The first records of one file and what they say about the whole file."""

    path: Path
    records: list[dict[str, Any]]  # the readable records among the first rows
    read: int  # rows read (readable or not)
    estimated_rows: int  # rows in the whole file (estimate unless `exact`)
    exact: bool

    @property
    def fields(self) -> list[str]:
        """Every top-level field name seen in the sample, in first-seen order."""
        return list(dict.fromkeys(k for r in self.records for k in r))

    @property
    def scale(self) -> float:
        """Rows in the file per row read."""
        return self.estimated_rows / self.read if self.read else 0.0


def _extrapolate(read: int, consumed: int, size: int) -> int:
    return read if consumed <= 0 else max(read, round(read * size / consumed))


def _sample_lines(fh: IO[bytes], limit: int) -> tuple[list[Any], int, bool]:
    values: list[Any] = []
    read = 0
    for index, line in enumerate(fh):
        if index == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        read += 1
        try:
            values.append(json.loads(line))
        except ValueError:
            values.append(None)
        if read >= limit:
            return values, read, fh.readline() == b""
    return values, read, True


def _sample_csv(fh: IO[bytes], limit: int) -> tuple[list[Any], int, bool]:
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(text)
    values: list[Any] = []
    try:
        for value in reader:
            values.append(value)
            if len(values) >= limit:
                return values, len(values), not text.readline()
    except csv.Error:
        pass
    return values, len(values), True


def _sample_stream(path: Path, fmt: str, gzipped: bool, limit: int) -> FileSample:
    size = path.stat().st_size
    with path.open("rb") as raw:
        fh = cast(IO[bytes], gzip.GzipFile(fileobj=raw) if gzipped else raw)
        if fmt == "jsonl":
            values, read, done = _sample_lines(fh, limit)
        else:
            values, read, done = _sample_csv(fh, limit)
        consumed = raw.tell()
    records = [v for v in values if isinstance(v, dict)]
    estimate = read if done else _extrapolate(read, consumed, size)
    return FileSample(path, records, read, estimate, done)


def sample_file(path: Path, *, limit: int = SAMPLE_ROWS) -> FileSample:
    """Read at most `limit` records from the front of `path` and estimate its row count.

    Raises `InputError` (from `pipeline.io`) when the file cannot be read at all.
    """
    path = Path(path)
    fmt, gzipped = detect_format(path)
    try:
        if fmt in ("jsonl", "csv"):
            return _sample_stream(path, fmt, gzipped, limit)
        if fmt == "parquet" and not gzipped:
            parquet = pq.ParquetFile(path)
            batch = next(parquet.iter_batches(batch_size=limit), None)
            records = batch.to_pylist() if batch is not None else []
            total = parquet.metadata.num_rows
            return FileSample(path, records, len(records), total, len(records) == total)
    except (OSError, EOFError, ValueError):
        pass  # let the full reader produce its one-line error
    rows = [value for _, value in iter_rows(path)]
    records = [r for r in rows if not isinstance(r, RowError)]
    return FileSample(path, records[:limit], min(len(rows), limit), len(rows), len(rows) <= limit)
