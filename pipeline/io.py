"""Reading raw input files, row by row, with every failure turned into a row-level reason.

Formats are inferred from the extension: ``.jsonl``, ``.json``, ``.csv``, ``.parquet``, each
optionally followed by ``.gz``. `iter_rows` yields ``(row, record_or_error)`` where ``row`` is the
0-based index of the record in its file (for JSONL, the 0-based line number; blank lines are
skipped but counted). Problems with one record become a `RowError` with a reason code; problems
with the whole file (missing, unreadable, not parseable at all) raise `InputError` in one line.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from glob import glob
from pathlib import Path
from typing import IO, Any, NamedTuple

from pipeline.errors import InputError

FORMATS = ("jsonl", "json", "csv", "parquet")
SHARD_ROWS = 50_000  # default rows per per-file task: large files are read in row ranges
_SURROGATE = re.compile("[\udc80-\udcff]")
_PARQUET_BATCH = 8192


class RowError(NamedTuple):
    """A record that could not be read; `reason` is a ledger reason code."""

    reason: str


Row = tuple[int, "dict[str, Any] | RowError"]


def detect_format(path: Path) -> tuple[str, bool]:
    """Return ``(format, gzipped)`` from the file name, or raise `InputError`.

    >>> detect_format(Path("a/b.jsonl.gz"))
    ('jsonl', True)
    """
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1].lstrip(".") if suffixes else ""
    if fmt not in FORMATS:
        msg = (
            f"cannot infer the format of `{path}`: extension must be one of "
            f"{', '.join('.' + f for f in FORMATS)} (optionally + .gz); got {''.join(path.suffixes)!r}"
        )
        raise InputError(msg)
    return fmt, gzipped


def resolve_paths(pattern: str, *, base_dir: Path) -> list[Path]:
    """Expand a file path or glob relative to `base_dir` into a sorted list of files."""
    full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
    if any(ch in pattern for ch in "*?["):
        matches = sorted(Path(p) for p in glob(full, recursive=True) if Path(p).is_file())
        if not matches:
            msg = f"no input file matches `{pattern}` (looked in {base_dir})"
            raise InputError(msg)
        return matches
    path = Path(full)
    if not path.is_file():
        msg = f"input file not found: {path}"
        raise InputError(msg)
    return [path]


def file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of the file's bytes, streaming."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        msg = f"cannot read input file {path}: {exc.strerror or exc}"
        raise InputError(msg) from exc
    return digest.hexdigest()


def _read_bytes(path: Path, gzipped: bool) -> bytes:
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if gzipped else data
    except FileNotFoundError as exc:
        msg = f"input file not found: {path}"
        raise InputError(msg) from exc
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"cannot read input file {path}: {exc}"
        raise InputError(msg) from exc


def _has_bad_text(value: Any) -> bool:
    """True when a decoded value holds undecodable bytes (surrogate escapes)."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_bad_text(k) or _has_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_bad_text(v) for v in value)
    return False


def _checked(row: int, value: Any) -> Row:
    if not isinstance(value, dict):
        return row, RowError("not_an_object")
    if _has_bad_text(value):
        return row, RowError("bad_encoding")
    return row, value


def _open_binary(path: Path, gzipped: bool) -> IO[bytes]:
    try:
        return gzip.open(path, "rb") if gzipped else path.open("rb")
    except OSError as exc:
        msg = f"cannot read input file {path}: {exc.strerror or exc}"
        raise InputError(msg) from exc


def _stream_lines(path: Path, gzipped: bool) -> Iterator[bytes]:
    """Yield the file's lines (without the newline), streaming; a leading BOM is dropped."""
    fh = _open_binary(path, gzipped)
    try:
        with fh:
            for index, line in enumerate(fh):
                if index == 0 and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                yield line.rstrip(b"\n")
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"cannot read input file {path}: {exc}"
        raise InputError(msg) from exc


def _iter_jsonl(lines: Iterable[bytes], start: int = 0, stop: int | None = None) -> Iterator[Row]:
    for row, line in enumerate(lines):
        if row < start or not line.strip():
            continue  # rows before a shard's range are counted, not parsed
        if stop is not None and row >= stop:
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield row, RowError("bad_encoding")
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield row, RowError("malformed_json")
            continue
        yield _checked(row, value)


def _iter_json(data: bytes, path: Path) -> Iterator[Row]:
    text = data.decode("utf-8", errors="surrogateescape")
    if not text.strip():
        return
    try:
        document = json.loads(text)
    except ValueError as exc:
        # Many `.json` files are really JSON Lines; accept them when every line parses.
        lines = [ln for ln in data.split(b"\n") if ln.strip()]
        if len(lines) > 1:
            rows = list(_iter_jsonl(data.split(b"\n")))
            if not any(isinstance(r, RowError) and r.reason == "malformed_json" for _, r in rows):
                yield from rows
                return
        msg = f"{path} is not valid JSON: {exc}"
        raise InputError(msg) from exc
    records = document if isinstance(document, list) else [document]
    for row, value in enumerate(records):
        yield _checked(row, value)


def _iter_csv(path: Path, gzipped: bool) -> Iterator[Row]:
    fh = io.TextIOWrapper(
        _open_binary(path, gzipped), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    reader = csv.DictReader(fh)
    try:
        for row, value in enumerate(reader):
            if None in value or any(v is None for v in value.values()):
                yield row, RowError("malformed_csv")
                continue
            yield _checked(row, value)
    except csv.Error:
        yield reader.line_num, RowError("malformed_csv")
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"cannot read input file {path}: {exc}"
        raise InputError(msg) from exc
    finally:
        fh.close()


def _iter_parquet(path: Path, gzipped: bool) -> Iterator[Row]:
    import pyarrow.parquet as pq  # here, not at the top: `mixgate check` starts faster

    try:
        source = io.BytesIO(_read_bytes(path, True)) if gzipped else path
        parquet = pq.ParquetFile(source)
        row = 0
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            for value in batch.to_pylist():
                yield row, value
                row += 1
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on bad files
        msg = f"cannot read Parquet file {path}: {exc}"
        raise InputError(msg) from exc


def _iter_all(path: Path, fmt: str, gzipped: bool, start: int, stop: int | None) -> Iterator[Row]:
    if fmt == "parquet":
        return _iter_parquet(path, gzipped)
    if fmt == "jsonl":
        return _iter_jsonl(_stream_lines(path, gzipped), start, stop)
    if fmt == "csv":
        return _iter_csv(path, gzipped)
    data = _read_bytes(path, gzipped)
    return _iter_json(data[3:] if data.startswith(b"\xef\xbb\xbf") else data, path)


def iter_rows(path: Path, *, start: int = 0, stop: int | None = None) -> Iterator[Row]:
    """Yield ``(row, record)`` or ``(row, RowError)`` for every record of `path`.

    With `start`/`stop`, only rows ``start <= row < stop`` are yielded. JSONL and CSV stream
    (memory does not grow with the file); a JSON document must be parsed whole.

    Raises
    ------
    InputError
        The file is missing, unreadable, not valid gzip, or (``.json``) not parseable at all.
    """
    path = Path(path)
    fmt, gzipped = detect_format(path)
    if not path.is_file():
        msg = f"input file not found: {path}"
        raise InputError(msg)
    for row, value in _iter_all(path, fmt, gzipped, start, stop):
        if row < start:
            continue
        if stop is not None and row >= stop:
            return
        yield row, value
