"""Byte and text streams: gzip failures become file issues; sizes are bounded."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from pipeline.io.limits import FileReadError, ReadLimits

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


def _open_binary(path: Path, gzipped: bool) -> IO[bytes]:
    try:
        return cast(
            IO[bytes], gzip.open(path, "rb") if gzipped else path.open("rb", buffering=_CHUNK)
        )
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


def _skip_lines(fh: IO[bytes], count: int, budget: _Budget) -> None:
    """Read past the first `count` lines (or to the end of the file), a buffer at a time.

    A line is what `_bounded_lines` yields one row for: the bytes up to a newline, however long.
    The budget takes the same bytes, so it stops the read at the same place as line by line.
    """
    while count > 0:
        buffered = fh.peek(_CHUNK)  # type: ignore[attr-defined]  # BufferedReader, GzipFile
        if not buffered:
            return
        newlines = buffered.count(b"\n")
        size = len(buffered)
        if newlines >= count:
            size = -1
            for _ in range(count):
                size = buffered.index(b"\n", size + 1)
            size += 1
        count -= min(newlines, count)
        budget.take(size)
        fh.read(size)


def _stream_lines(
    path: Path, gzipped: bool, limits: ReadLimits, skip: int = 0
) -> Iterator[bytes | None]:
    """Yield the file's lines (None: over the size limit), streaming; a leading BOM is dropped.

    The first `skip` lines are read past without being yielded (a shard's rows before its
    range), so the first line yielded is line `skip`.
    """
    fh = _open_binary(path, gzipped)
    budget = _Budget(path, gzipped, limits)
    try:
        with fh:
            _skip_lines(fh, skip, budget)
            lines = _bounded_lines(fh, limits.max_record_bytes, budget)
            for index, line in enumerate(lines, skip):
                if index == 0 and line is not None and line.startswith(_BOM):
                    line = line[3:]
                yield line
    except (OSError, EOFError, zlib.error) as exc:
        raise _stream_error(path, exc) from None


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
