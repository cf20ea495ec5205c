"""One reader per format; `iter_rows` picks it from the file name."""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.io.files import detect_format
from pipeline.io.json_values import _DECODER, _checked, _decode_json
from pipeline.io.limits import DEFAULT_LIMITS, FileReadError, ReadLimits, Row, RowError
from pipeline.io.streams import (
    _Budget,
    _CsvLines,
    _open_binary,
    _read_document,
    _RecordTooLarge,
    _stream_error,
    _stream_lines,
)

_PARQUET_BATCH = 8192


def _iter_jsonl(
    lines: Iterator[bytes | None],
    limits: ReadLimits,
    start: int = 0,
    stop: int | None = None,
    first: int = 0,
) -> Iterator[Row]:
    """The rows of `lines`, whose first line is row `first`, in ``start <= row < stop``."""
    for row, line in enumerate(lines, first):
        if row < start:
            continue  # rows before a shard's range are counted, not parsed
        if stop is not None and row >= stop:
            return
        if line is None:
            yield row, RowError("record_too_large")
        elif line and not line.isspace():  # = line.strip(), without copying the line
            yield _decode_json(line, row, limits)


def _iter_json(path: Path, gzipped: bool, limits: ReadLimits) -> Iterator[Row]:
    data = _read_document(path, gzipped, limits)
    if not data.strip():
        return
    try:
        document = _DECODER.decode(data.decode("utf-8", errors="surrogateescape"))
    except (ValueError, RecursionError) as exc:
        # Many `.json` files are really JSON Lines; accept them when every line parses.
        lines = data.split(b"\n")
        if sum(1 for ln in lines if ln.strip()) > 1:
            rows = list(_iter_jsonl(iter(lines), limits))
            if not any(isinstance(r, RowError) and r.reason == "malformed_json" for _, r in rows):
                yield from rows
                return
        kind = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
        msg = f"{path} is {kind}"
        raise FileReadError(msg, reason="malformed_json_file") from None
    records = document if isinstance(document, list) else [document]
    for row, value in enumerate(records):
        yield _checked(row, value, limits)


def _iter_csv(path: Path, gzipped: bool, limits: ReadLimits) -> Iterator[Row]:
    if csv.field_size_limit() < limits.max_record_bytes:
        csv.field_size_limit(limits.max_record_bytes)  # process-wide; only ever raised
    fh = io.TextIOWrapper(
        _open_binary(path, gzipped), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    lines = _CsvLines(fh, limits.max_record_bytes, _Budget(path, gzipped, limits))
    reader = csv.reader(lines)
    header: list[str] | None = None
    row = 0
    try:
        while True:
            lines.reset()
            try:
                values = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLarge) as exc:
                if header is not None:
                    reason = (
                        "record_too_large" if isinstance(exc, _RecordTooLarge) else "malformed_csv"
                    )
                    yield row, RowError(reason)
                    row += 1
                continue
            if not values:
                continue  # a blank line is not a record
            if header is None:
                header = values
                continue
            if len(values) != len(header):
                yield row, RowError("malformed_csv")
            else:
                yield _checked(row, dict(zip(header, values, strict=True)), limits)
            row += 1
    except (OSError, EOFError, zlib.error) as exc:
        raise _stream_error(path, exc) from None
    finally:
        fh.close()


def _iter_parquet(path: Path, gzipped: bool, limits: ReadLimits) -> Iterator[Row]:
    import pyarrow.parquet as pq  # here, not at the top: `mixgate check` starts faster

    if path.stat().st_size == 0:
        return
    source: Any = path
    if gzipped:
        source = io.BytesIO(
            _read_document(path, True, ReadLimits(max_json_bytes=limits.max_decompressed_bytes))
        )
    try:
        parquet = pq.ParquetFile(source)
        row = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for value in batch.to_pylist():
                yield _checked(row, value, limits)
                row += 1
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on bad files
        msg = f"cannot read Parquet file {path}: {str(exc).splitlines()[0][:120]}"
        raise FileReadError(msg, reason="unreadable_parquet") from None


def _iter_all(
    path: Path, fmt: str, gzipped: bool, start: int, stop: int | None, limits: ReadLimits
) -> Iterator[Row]:
    if fmt == "jsonl":
        lines = _stream_lines(path, gzipped, limits, skip=start)
        return _iter_jsonl(lines, limits, start, stop, first=start)
    if fmt == "parquet":
        return _iter_parquet(path, gzipped, limits)
    if fmt == "csv":
        return _iter_csv(path, gzipped, limits)
    return _iter_json(path, gzipped, limits)


def iter_rows(
    path: Path, *, start: int = 0, stop: int | None = None, limits: ReadLimits = DEFAULT_LIMITS
) -> Iterator[Row]:
    """Yield ``(row, record)`` or ``(row, RowError)`` for every record of `path`.

    With `start`/`stop`, only rows ``start <= row < stop`` are yielded. JSONL and CSV stream
    (memory does not grow with the file); a JSON document must be parsed whole.

    Raises
    ------
    InputError
        The file is missing or its format cannot be told from its name.
    FileReadError
        The file cannot be read on (after the rows read so far): `FileReadError.reason`.
    """
    path = Path(path)
    fmt, gzipped = detect_format(path)
    if not path.is_file():
        msg = f"input file not found: {path}"
        raise InputError(msg)
    rows = _iter_all(path, fmt, gzipped, start, stop, limits)
    if fmt == "jsonl":
        yield from rows  # `_iter_jsonl` yields only the rows of the range
        return
    for row, value in rows:
        if row < start:
            continue
        if stop is not None and row >= stop:
            return
        yield row, value
