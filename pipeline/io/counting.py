"""Counting a file's rows without parsing them: for sharding and the reconciliation."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple

from pipeline.errors import InputError
from pipeline.io.files import detect_format
from pipeline.io.limits import DEFAULT_LIMITS, ReadLimits
from pipeline.io.streams import _Budget, _CsvLines, _open_binary, _stream_lines

SHARD_ROWS = 50_000  # default rows per per-file task: large files are read in row ranges


class RowCount(NamedTuple):
    """A file's row slots (an upper bound of its row indexes) and records, counted cheaply."""

    slots: int | None
    records: int | None


def count_rows(path: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> RowCount:
    """Count the records of `path` without parsing them: for sharding and the reconciliation.

    JSONL: lines (slots) and lines holding anything but whitespace (records); CSV: records
    after the header (quotes respected, fields not parsed); Parquet: the footer's row count.
    A JSON document is parsed whole, so it is neither sharded nor counted here (None). None
    too when the file cannot be read to its end: its file issue says so.
    """
    path = Path(path)
    fmt, gzipped = detect_format(path)
    try:
        if fmt == "jsonl":
            slots = records = 0
            for line in _stream_lines(path, gzipped, limits):
                slots += 1
                records += 1 if line is None or line.strip() else 0
            return RowCount(slots, records)
        if fmt == "parquet" and not gzipped:
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows if path.stat().st_size else 0
            return RowCount(rows, rows)
        if fmt == "csv":
            rows = _count_csv(path, gzipped, limits)
            return RowCount(rows, rows)
    except (InputError, OSError, ValueError, csv.Error):
        pass
    return RowCount(None, None)


def _count_csv(path: Path, gzipped: bool, limits: ReadLimits) -> int:
    fh = io.TextIOWrapper(
        _open_binary(path, gzipped), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    with fh:
        quoted, filled, rows = False, False, 0
        for line in _CsvLines(fh, 1 << 62, _Budget(path, gzipped, limits)):
            quoted ^= line.count('"') % 2 == 1
            filled = filled or bool(line.strip("\r\n"))
            if not quoted:
                rows += 1 if filled else 0
                filled = False
    return max(rows - 1, 0)
