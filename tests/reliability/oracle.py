"""An independent conservation oracle: count every input record with readers written here.

The build's own reconciliation compares what its reader yielded with what it kept and dropped,
so a reader that silently stops early reconciles perfectly. This oracle counts the records of
each input file without the project's code (its own gzip member loop, line splitter and CSV
state machine; pyarrow's metadata for Parquet), then checks, per source, that

    records counted here == records in the pool + record rows of the ledger

and that a file the oracle cannot read at all has a whole-file ledger row.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

_CHUNK = 1 << 20
_WS = b" \t\r\n\x0b\x0c"


def _raw_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


class Gunzip:
    """Inflate every gzip member in turn; stop quietly where a truncated file ends.

    Iterating raises ValueError when a member does not start with the gzip magic bytes; after
    the iteration, `truncated` says whether the last member was cut off.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.truncated = path, False

    def __iter__(self) -> Iterator[bytes]:
        self.truncated = yield from _inflate(self.path)


def _inflate(path: Path):
    """Yield inflated chunks; return True when the last member has no end (a cut file)."""
    decoder, fresh = zlib.decompressobj(wbits=31), True
    for data in _raw_chunks(path):
        while True:
            if fresh and data:
                if not b"\x1f\x8b".startswith(data[:2]):
                    msg = "not gzip"
                    raise ValueError(msg)
                fresh = False
            out = decoder.decompress(data, _CHUNK)
            if out:
                yield out
            if decoder.eof:
                data = decoder.unused_data
                decoder, fresh = zlib.decompressobj(wbits=31), True
                if not data:
                    break
                continue
            data = decoder.unconsumed_tail
            if not data and not out:
                break
    return not fresh


def count_lines(chunks: Iterator[bytes], *, cut: bool = False) -> int:
    """Count lines holding anything but whitespace; a UTF-8 BOM opening the file is not content.

    A last line without a newline counts, unless the stream was `cut` (a truncated gzip
    file): then it is the front of a record whose end is lost, and the file issue covers it.
    """
    count, filled, first = 0, False, True
    for chunk in chunks:
        if first and chunk:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            if filled or part.strip(_WS):
                count += 1
            filled = False
        if parts[-1].strip(_WS):
            filled = True
    return count + (1 if filled and not cut else 0)


def count_csv(text: str) -> int:
    """Count CSV records after the header (RFC 4180 quoting); empty lines are not records."""
    rows, in_quotes, at_field_start, filled = 0, False, True, False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if in_quotes:
            j = text.find('"', i)
            if j < 0:
                i = n  # an unclosed quote swallows the rest of the file
                break
            if j + 1 < n and text[j + 1] == '"':
                i = j + 2
                continue
            in_quotes, i = False, j + 1
            continue
        if ch == '"' and at_field_start:
            in_quotes, filled, at_field_start = True, True, False
        elif ch in "\r\n":
            if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            rows += 1 if filled else 0
            filled, at_field_start = False, True
        elif ch == ",":
            filled, at_field_start = True, True
        else:
            filled, at_field_start = True, False
        i += 1
    rows += 1 if filled else 0
    return max(rows - 1, 0)  # the header is not a record


def count_records(path: Path) -> int | None:
    """Records in `path` as this oracle reads it, or None when it cannot be read at all."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    try:
        if base.endswith(".parquet"):
            return None if path.stat().st_size == 0 else pq.ParquetFile(path).metadata.num_rows
        chunks = Gunzip(path) if gz else _raw_chunks(path)
        if base.endswith(".jsonl"):
            lines = count_lines(iter(chunks))
            if gz and chunks.truncated:  # the tail line is cut: recount without it
                return count_lines(iter(Gunzip(path)), cut=True)
            return lines
        data = b"".join(chunks)
        if base.endswith(".csv"):
            return count_csv(data.decode("utf-8", errors="replace").lstrip("\ufeff"))
        if base.endswith(".json"):
            if not data.strip():
                return 0
            try:
                document = json.loads(data.decode("utf-8", errors="surrogatepass"))
            except ValueError:
                return None
            return len(document) if isinstance(document, list) else 1
    except (OSError, ValueError, zlib.error):
        return None
    return None


@dataclass(frozen=True)
class SourceCount:
    """One source: records counted by the oracle, files it could not read."""

    counted: int
    unreadable: tuple[str, ...]


def count_sources(sources: dict[str, list[Path]]) -> dict[str, SourceCount]:
    """Count every file of every source."""
    out = {}
    for name, files in sources.items():
        counted, unreadable = 0, []
        for path in files:
            n = count_records(path)
            if n is None:
                unreadable.append(path.name)
            else:
                counted += n
        out[name] = SourceCount(counted, tuple(unreadable))
    return out
