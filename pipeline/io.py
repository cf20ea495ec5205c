"""Reading raw input files, row by row, with every failure turned into a row-level reason.

Formats are inferred from the extension: ``.jsonl``, ``.json``, ``.csv``, ``.parquet``, each
optionally followed by ``.gz``. `iter_rows` yields ``(row, record_or_error)`` where ``row`` is the
0-based index of the record in its file (for JSONL, the 0-based line number; blank lines are
skipped but counted). Problems with one record become a `RowError` with a reason code; a file
that cannot be read on (not gzip, truncated, corrupt, over a size guard) raises `FileReadError`
(an `InputError` carrying a ledger reason) after the rows read before the problem.

Resource guards (`ReadLimits`, the spec's ``reading`` section) bound what one file can cost:
a line or CSV record over `max_record_bytes` is one `record_too_large` row and is never held
in memory whole; a gzip stream stops at `max_decompressed_bytes` (gzip bombs); JSON nested
deeper than `max_depth` is `nesting_too_deep`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, cast

from pipeline.errors import ConfigError, InputError

FORMATS = ("jsonl", "json", "csv", "parquet")
SHARD_ROWS = 50_000  # default rows per per-file task: large files are read in row ranges
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_PARQUET_BATCH = 8192
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ReadLimits:
    """Resource guards for reading one input file (the spec's ``reading`` section).

    `max_record_bytes`: a JSONL line or a CSV record longer than this is one
    ``record_too_large`` ledger row (never held whole in memory); also the CSV field limit.
    `max_decompressed_bytes`: a gzip file stops there with a ``decompressed_too_large`` file
    issue (the rows before it are kept). `max_json_bytes`: a ``.json`` document is parsed whole,
    so a larger one is a ``json_file_too_large`` file issue (convert it to JSON Lines).
    `max_depth`: JSON nested deeper is ``nesting_too_deep``. `on_file_error`: ``skip`` records
    a whole-file problem as a file issue and goes on; ``fail`` stops the build.

    >>> ReadLimits().max_record_bytes
    16777216
    """

    max_record_bytes: int = 16 << 20
    max_decompressed_bytes: int = 4 << 30
    max_json_bytes: int = 512 << 20
    max_depth: int = 100
    on_file_error: Literal["skip", "fail"] = "skip"

    def __post_init__(self) -> None:
        for name in ("max_record_bytes", "max_decompressed_bytes", "max_json_bytes", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"`reading.{name}` must be a positive integer; got {str(value)[:40]!r}"
                raise ConfigError(msg)
        if self.on_file_error not in ("skip", "fail"):
            msg = f"`reading.on_file_error` must be one of skip, fail; got {str(self.on_file_error)[:40]!r}"
            raise ConfigError(msg)


DEFAULT_LIMITS = ReadLimits()


class RowError(NamedTuple):
    """A record that could not be read; `reason` is a ledger reason code."""

    reason: str


class FileReadError(InputError):
    """A file that cannot be read (on): `reason` is the ledger reason of its file issue."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


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
            f"{', '.join('.' + f for f in FORMATS)} (optionally + .gz); got {''.join(path.suffixes)[:40]!r}"
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


# --- JSON values: duplicate keys and non-finite numbers are marked, then rejected ------------


class _DuplicateKeys(dict):
    """An object that had a key twice (the parser keeps the last value; we reject the record)."""


class _NonFinite:
    """Stands in for NaN, Infinity or an overflowing float such as 1e999."""


_NONFINITE = _NonFinite()


# Set by the parse hooks when they mark a value (per thread: build tasks decode in threads),
# so `_decode_json` walks a decoded record only when the walk can find something.
_MARKED = threading.local()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    _MARKED.any = True
    return _DuplicateKeys(value)


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    if math.isfinite(value):
        return value
    _MARKED.any = True
    return _NONFINITE


def _constant(_: str) -> _NonFinite:
    _MARKED.any = True
    return _NONFINITE


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_float, parse_constant=_constant)


def _problem(value: Any, max_depth: int) -> str | None:
    """Return the reason a decoded value cannot become a record, or None (iterative walk).

    >>> _problem({"a": ["ok", "nul \\x00"]}, 10)
    'nul_byte'
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            bad = _BAD_TEXT.search(item)
            if bad is not None:
                return "nul_byte" if bad.group() == "\x00" else "bad_encoding"
        elif isinstance(item, dict):
            if isinstance(item, _DuplicateKeys):
                return "duplicate_key"
            if depth > max_depth:
                return "nesting_too_deep"
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > max_depth:
                return "nesting_too_deep"
            stack.extend((v, depth + 1) for v in item)
        elif item is _NONFINITE:
            return "nonfinite_number"
    return None


def _checked(row: int, value: Any, limits: ReadLimits) -> Row:
    if not isinstance(value, dict):
        return row, RowError("not_an_object")
    problem = _problem(value, limits.max_depth)
    if problem is not None:
        return row, RowError(problem)
    return row, value


def _decode_json(line: bytes, row: int, limits: ReadLimits) -> Row:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return row, RowError("bad_encoding")
    _MARKED.any = False
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        return row, RowError("nesting_too_deep")
    except ValueError:
        return row, RowError("malformed_json")
    if (
        not _MARKED.any
        and isinstance(value, dict)
        and "\\u" not in text
        and text.count("{") + text.count("[") <= limits.max_depth
    ):
        # `_problem` cannot find anything: no hook marked a duplicate key or a non-finite
        # number; NUL and surrogates in a strictly decoded line can only come from \u escapes
        # (raw control characters are malformed JSON); depth <= the number of brackets.
        return row, value
    return _checked(row, value, limits)


# --- byte streams: gzip failures become file issues; sizes are bounded ---------------------


def _open_binary(path: Path, gzipped: bool) -> IO[bytes]:
    try:
        return cast(IO[bytes], gzip.open(path, "rb") if gzipped else path.open("rb"))
    except OSError as exc:
        msg = f"cannot read input file {path}: {exc.strerror or exc}"
        raise FileReadError(msg, reason="unreadable_file") from exc


def _stream_error(path: Path, exc: BaseException) -> FileReadError:
    if isinstance(exc, EOFError):
        return FileReadError(
            f"cannot read input file {path}: gzip stream is truncated", reason="truncated_gzip"
        )
    if isinstance(exc, gzip.BadGzipFile):
        return FileReadError(f"cannot read input file {path}: not gzip", reason="not_gzip")
    if isinstance(exc, zlib.error):
        return FileReadError(
            f"cannot read input file {path}: corrupt gzip data", reason="corrupt_gzip"
        )
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return FileReadError(f"cannot read input file {path}: {reason}", reason="unreadable_file")


class _Budget:
    """Counts the (decompressed) bytes read from one file against `max_decompressed_bytes`."""

    def __init__(self, path: Path, gzipped: bool, limits: ReadLimits) -> None:
        self.path, self.limit, self.used = path, limits.max_decompressed_bytes, 0
        self.active = gzipped

    def take(self, n: int) -> None:
        self.used += n
        if self.active and self.used > self.limit:
            msg = (
                f"{self.path}: decompressed size passed `reading.max_decompressed_bytes` "
                f"({self.limit}); the rest of the file is not read"
            )
            raise FileReadError(msg, reason="decompressed_too_large")


def _bounded_lines(fh: IO[bytes], limit: int, budget: _Budget) -> Iterator[bytes | None]:
    """Yield each line without its newline, or None for a line over `limit` bytes.

    `readline(limit + 1)` never holds more than `limit` bytes: the rest of a long line is read
    and dropped a chunk at a time.
    """
    while line := fh.readline(limit + 1):
        budget.take(len(line))
        if line.endswith(b"\n"):
            yield line[:-1]
            continue
        if len(line) <= limit:
            yield line  # the last line, without a newline
            continue
        while line and not line.endswith(b"\n"):
            line = fh.readline(_CHUNK)
            budget.take(len(line))
        yield None


def _stream_lines(path: Path, gzipped: bool, limits: ReadLimits) -> Iterator[bytes | None]:
    """Yield the file's lines (None: over the size limit), streaming; a leading BOM is dropped."""
    fh = _open_binary(path, gzipped)
    budget = _Budget(path, gzipped, limits)
    try:
        with fh:
            for index, line in enumerate(_bounded_lines(fh, limits.max_record_bytes, budget)):
                if index == 0 and line is not None and line.startswith(_BOM):
                    line = line[3:]
                yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise _stream_error(path, exc) from None


def _iter_jsonl(
    lines: Iterator[bytes | None], limits: ReadLimits, start: int = 0, stop: int | None = None
) -> Iterator[Row]:
    for row, line in enumerate(lines):
        if row < start:
            continue  # rows before a shard's range are counted, not parsed
        if stop is not None and row >= stop:
            return
        if line is None:
            yield row, RowError("record_too_large")
        elif line.strip():
            yield _decode_json(line, row, limits)


def _read_document(path: Path, gzipped: bool, limits: ReadLimits) -> bytes:
    fh = _open_binary(path, gzipped)
    try:
        with fh:
            data = fh.read(limits.max_json_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise _stream_error(path, exc) from None
    if len(data) > limits.max_json_bytes:
        msg = (
            f"{path}: a .json document is parsed whole and this one passes "
            f"`reading.max_json_bytes` ({limits.max_json_bytes}); convert it to JSON Lines"
        )
        raise FileReadError(msg, reason="json_file_too_large")
    return data[3:] if data.startswith(_BOM) else data


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


# --- CSV: a record too large or malformed is one row; the reader goes on -------------------


class _RecordTooLarge(Exception):
    """Raised through the csv reader by `_CsvLines`; the reader resets and goes on."""


class _CsvLines:
    """The text lines the csv reader pulls, bounded per record (`reset` at each record).

    An iterator class, not a generator: it can raise `_RecordTooLarge` and be pulled again.
    """

    def __init__(self, fh: IO[str], limit: int, budget: _Budget) -> None:
        self.fh, self.limit, self.budget, self.used = fh, limit, budget, 0

    def __iter__(self) -> _CsvLines:
        return self

    def reset(self) -> None:
        self.used = 0

    def __next__(self) -> str:
        line = self.fh.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.budget.take(len(line))
        self.used += len(line)
        if self.used > self.limit:
            while line and not line.endswith(("\n", "\r")):
                line = self.fh.readline(_CHUNK)
                self.budget.take(len(line))
            self.used = 0
            raise _RecordTooLarge
        return line


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
        return _iter_jsonl(_stream_lines(path, gzipped, limits), limits, start, stop)
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
    for row, value in _iter_all(path, fmt, gzipped, start, stop, limits):
        if row < start:
            continue
        if stop is not None and row >= stop:
            return
        yield row, value


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
