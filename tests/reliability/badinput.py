"""The bad-input matrix: one generator per input class, each planting bad records among good ones.

Every class writes a directory of files for one source. Good records are numbered and carry
unique, ordinary text (random pseudo-words: no PII, no duplicates, nothing a quality gate drops);
bad records are planted between them. `Planted` tells the test what it planted: the row index of
every good record per file, and what the build must say about the bad ones (the ledger reasons
of the bad rows, and the reason of a whole-file issue).

Nothing here uses the project's readers or writers except pyarrow for Parquet files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GOOD_PER_FILE = 4
BOMB_BYTES = 1 << 30  # the gzip bomb's decompressed size: 1 GiB
BIG_LINE_BYTES = 50 * 1000 * 1000  # "a 50 MB line"
DEEP = 100_000  # nesting depth of the deeply nested record


@dataclass
class Planted:
    """What one class planted: files, good rows per file, expected reasons."""

    name: str
    files: list[Path] = field(default_factory=list)
    good_rows: dict[str, list[int]] = field(default_factory=dict)  # file name -> good row indexes
    reasons: set[str] = field(default_factory=set)  # ledger reasons of the bad rows
    file_issue: str | None = None  # reason of the whole-file ledger row, if any
    ext: str = "jsonl"


class Words:
    """Unique ordinary text: pseudo-words drawn from a seeded generator, never repeated."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._n = 0

    def sentence(self, words: int = 14) -> str:
        self._n += 1
        body = " ".join(
            "".join(
                self._rng.choice("bcdfghjklmnprstvwz") + self._rng.choice("aeiou")
                for _ in range(self._rng.randint(2, 4))
            )
            for _ in range(words)
        )
        return f"Item {self._n}: {body}."

    def record(self) -> dict[str, str]:
        return {"prompt": self.sentence(), "response": self.sentence(22)}


def _jsonl(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _good(words: Words) -> bytes:
    return json.dumps(words.record()).encode()


def _mixed(words: Words, bad: list[bytes]) -> tuple[list[bytes], list[int]]:
    """Good, bad, good, bad, ..., good: return the lines and the good rows."""
    lines, good = [], []
    for item in bad:
        good.append(len(lines))
        lines.append(_good(words))
        lines.append(item)
    for _ in range(GOOD_PER_FILE - 1):
        good.append(len(lines))
        lines.append(_good(words))
    return lines, good


def _line_class(name: str, bad: list[bytes], reasons: set[str]) -> Callable[[Path, Words], Planted]:
    def make(root: Path, words: Words) -> Planted:
        lines, good = _mixed(words, bad)
        path = root / f"{name}.jsonl"
        path.write_bytes(_jsonl(lines))
        return Planted(name, [path], {path.name: good}, reasons)

    return make


def _with_good_file(root: Path, words: Words, planted: Planted) -> Planted:
    """Add a file of good records next to a whole-file case (the source keeps its good records)."""
    path = root / "good.jsonl"
    path.write_bytes(_jsonl([_good(words) for _ in range(GOOD_PER_FILE)]))
    planted.files.append(path)
    planted.good_rows[path.name] = list(range(GOOD_PER_FILE))
    return planted


def gzip_bomb(root: Path, words: Words) -> Planted:
    """~1 MiB of gzip that inflates to 1 GiB: one line of 'a's between good records.

    Built cheaply: one compressed member of 16 MiB is written 64 times (a gzip file may hold
    many members; readers must concatenate them), so nothing of 1 GiB is ever in memory.
    """
    path = root / "gzip_bomb.jsonl.gz"
    chunk = 16 << 20
    member = gzip.compress(b"a" * chunk, compresslevel=9, mtime=0)
    head = [_good(words), _good(words)]
    tail = [_good(words), _good(words)]
    with path.open("wb") as fh:
        fh.write(gzip.compress(_jsonl(head), mtime=0))
        fh.write(gzip.compress(b'{"prompt": "', mtime=0))
        for _ in range(BOMB_BYTES // chunk):
            fh.write(member)
        fh.write(gzip.compress(b'", "response": "x"}\n' + _jsonl(tail), mtime=0))
    return Planted(
        "gzip_bomb", [path], {path.name: [0, 1, 3, 4]}, {"record_too_large"}, ext="jsonl.gz"
    )


def truncated_gzip(root: Path, words: Words) -> Planted:
    """A gzip file cut in the middle: the records before the cut stay, the file gets an issue."""
    path = root / "truncated.jsonl.gz"
    lines = [_good(words) for _ in range(40)]
    data = gzip.compress(_jsonl(lines), mtime=0)
    path.write_bytes(data[: len(data) * 2 // 3])
    # Which rows survive depends on where deflate's blocks end: the test reads that with its own
    # reader (the oracle); here every complete line is good.
    return _with_good_file(
        root,
        words,
        Planted(
            "truncated_gzip",
            [path],
            {},
            {"malformed_json"},
            file_issue="truncated_gzip",
            ext="jsonl.gz",
        ),
    )


def not_gzip(root: Path, words: Words) -> Planted:
    """A `.jsonl.gz` that holds plain text: a file issue, the other file's records stay."""
    path = root / "plain.jsonl.gz"
    path.write_bytes(_jsonl([_good(words) for _ in range(3)]))
    return _with_good_file(
        root,
        words,
        Planted("not_gzip", [path], {path.name: []}, set(), file_issue="not_gzip", ext="jsonl.gz"),
    )


def big_line(root: Path, words: Words) -> Planted:
    path = root / "big_line.jsonl"
    good = [_good(words) for _ in range(4)]
    with path.open("wb") as fh:
        fh.write(good[0] + b"\n" + good[1] + b"\n")
        fh.write(b'{"prompt": "')
        block = b"lorem ipsum " * 100_000
        for _ in range(BIG_LINE_BYTES // len(block) + 1):
            fh.write(block)
        fh.write(b'", "response": "fine"}\n')
        fh.write(good[2] + b"\n" + good[3] + b"\n")
    return Planted("big_line_50mb", [path], {path.name: [0, 1, 3, 4]}, {"record_too_large"})


def binary_jsonl(root: Path, words: Words) -> Planted:
    rng = random.Random(7)
    blobs = [
        bytes(rng.randrange(256) for _ in range(300)).replace(b"\n", b"\x00") for _ in range(3)
    ]
    return _line_class("binary_jsonl", blobs, {"bad_encoding", "malformed_json"})(root, words)


def bom_jsonl(root: Path, words: Words) -> Planted:
    """A UTF-8 BOM before the first record: stripped, every record kept."""
    path = root / "bom.jsonl"
    lines = [_good(words) for _ in range(GOOD_PER_FILE)]
    path.write_bytes(b"\xef\xbb\xbf" + _jsonl(lines))
    return Planted("bom_jsonl", [path], {path.name: list(range(GOOD_PER_FILE))}, set())


def _csv_bytes(rows: list[dict[str, str]], *, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["prompt", "response"], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


def bom_csv(root: Path, words: Words) -> Planted:
    path = root / "bom.csv"
    path.write_bytes(_csv_bytes([words.record() for _ in range(GOOD_PER_FILE)], bom=True))
    return Planted("bom_csv", [path], {path.name: list(range(GOOD_PER_FILE))}, set(), ext="csv")


def csv_newlines(root: Path, words: Words) -> Planted:
    """Quoted fields holding newlines: one record each, not several."""
    path = root / "newlines.csv"
    rows = [words.record() for _ in range(GOOD_PER_FILE)]
    rows[1]["response"] = rows[1]["response"].replace(" ", "\n", 3)
    rows[2]["prompt"] = rows[2]["prompt"].replace(" ", "\r\n", 2)
    path.write_bytes(_csv_bytes(rows))
    return Planted(
        "csv_embedded_newlines", [path], {path.name: list(range(GOOD_PER_FILE))}, set(), ext="csv"
    )


def csv_long_field(root: Path, words: Words) -> Planted:
    """A reply over 131,072 characters in row 3 of 10: the rows after it must not vanish."""
    path = root / "long_field.csv"
    rows = [words.record() for _ in range(10)]
    rows[2]["response"] = words.sentence(25_000)  # ~200k characters, no repetition
    assert len(rows[2]["response"]) > 131_072
    path.write_bytes(_csv_bytes(rows))
    # The long reply is read whole; the quality gate's default reply length bound then drops it.
    return Planted(
        "csv_long_field",
        [path],
        {path.name: [0, 1, 3, 4, 5, 6, 7, 8, 9]},
        {"too_long:reply_tokens"},
        ext="csv",
    )


def csv_ragged(root: Path, words: Words) -> Planted:
    path = root / "ragged.csv"
    good = [words.record() for _ in range(GOOD_PER_FILE)]
    text = _csv_bytes(good).decode()
    lines = text.split("\r\n")
    lines.insert(2, '"only one field"')
    lines.insert(4, '"a","b","c"')
    path.write_bytes("\r\n".join(lines).encode())
    return Planted("csv_ragged", [path], {path.name: [0, 2, 4, 5]}, {"malformed_csv"}, ext="csv")


def csv_bad_utf8(root: Path, words: Words) -> Planted:
    path = root / "bad_utf8.csv"
    good = [words.record() for _ in range(GOOD_PER_FILE)]
    text = _csv_bytes(good)
    lines = text.split(b"\r\n")
    lines.insert(2, b'"caf\xe9 latin-1","reply \xff"')
    path.write_bytes(b"\r\n".join(lines))
    return Planted("csv_bad_utf8", [path], {path.name: [0, 2, 3, 4]}, {"bad_encoding"}, ext="csv")


def _good_parquet(path: Path, words: Words, n: int = GOOD_PER_FILE) -> None:
    rows = [words.record() for _ in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path)


def parquet_wrong_schema(root: Path, words: Words) -> Planted:
    """A Parquet file with unrelated columns: every row gets a reason, the good file is kept."""
    good = root / "a_good.parquet"
    _good_parquet(good, words)
    bad = root / "b_wrong.parquet"
    pq.write_table(pa.table({"foo": [1, 2, 3], "bar": ["x", "y", "z"]}), bad)
    return Planted(
        "parquet_wrong_schema",
        [good, bad],
        {good.name: list(range(GOOD_PER_FILE)), bad.name: []},
        {"missing_field:prompt"},
        ext="parquet",
    )


def parquet_truncated(root: Path, words: Words) -> Planted:
    good = root / "a_good.parquet"
    _good_parquet(good, words)
    bad = root / "b_truncated.parquet"
    _good_parquet(bad, words, 20)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    return Planted(
        "parquet_truncated",
        [good, bad],
        {good.name: list(range(GOOD_PER_FILE)), bad.name: []},
        set(),
        file_issue="unreadable_parquet",
        ext="parquet",
    )


def parquet_empty(root: Path, words: Words) -> Planted:
    good = root / "a_good.parquet"
    _good_parquet(good, words)
    bad = root / "b_zero.parquet"
    bad.write_bytes(b"")
    return Planted(
        "parquet_zero_bytes",
        [good, bad],
        {good.name: list(range(GOOD_PER_FILE)), bad.name: []},
        set(),
        file_issue="empty_file",
        ext="parquet",
    )


def empty_jsonl(root: Path, words: Words) -> Planted:
    path = root / "b_empty.jsonl"
    path.write_bytes(b"")
    return _with_good_file(
        root, words, Planted("empty_file", [path], {path.name: []}, set(), file_issue="empty_file")
    )


def whitespace_jsonl(root: Path, words: Words) -> Planted:
    path = root / "b_blank.jsonl"
    path.write_bytes(b"  \n\n\t\r\n \n")
    return _with_good_file(
        root,
        words,
        Planted("whitespace_only", [path], {path.name: []}, set(), file_issue="empty_file"),
    )


def json_truncated(root: Path, words: Words) -> Planted:
    """A `.json` array cut in the middle: not parseable at all, a file issue."""
    path = root / "b_truncated.json"
    text = json.dumps([words.record() for _ in range(5)])
    path.write_text(text[: len(text) // 2])
    return _with_good_file(
        root,
        words,
        Planted(
            "json_truncated",
            [path],
            {path.name: []},
            set(),
            file_issue="malformed_json_file",
            ext="json",
        ),
    )


def json_array_mixed(root: Path, words: Words) -> Planted:
    """A `.json` array with good objects, non-objects and a lone surrogate."""
    path = root / "array.json"
    items = [
        words.record(),
        42,
        words.record(),
        ["a", "list"],
        words.record(),
        None,
        {"prompt": "x \ud800 y", "response": "z"},
        words.record(),
    ]
    text = json.dumps(items)  # ensure_ascii keeps the lone surrogate as an escape
    path.write_text(text)
    return Planted(
        "json_array_mixed",
        [path],
        {path.name: [0, 2, 4, 7]},
        {"not_an_object", "bad_encoding"},
        ext="json",
    )


CLASSES: dict[str, Callable[[Path, Words], Planted]] = {
    "lone_surrogate": _line_class(
        "lone_surrogate",
        [
            b'{"prompt": "hi \\ud800 there", "response": "ok"}',
            b'{"prompt": "fine", "response": "low \\udfff half"}',
            b'{"prompt": "key too", "response": "ok", "\\udc80": 1}',
        ],
        {"bad_encoding"},
    ),
    "nul_escaped": _line_class(
        "nul_escaped",
        [
            b'{"prompt": "nul \\u0000 inside", "response": "ok"}',
        ],
        {"nul_byte"},
    ),
    "nul_raw": _line_class(
        "nul_raw",
        [
            b'{"prompt": "raw \x00 nul", "response": "ok"}',
            b"\x00\x00\x00\x00",
        ],
        {"malformed_json"},
    ),
    "big_line_50mb": big_line,
    "deep_nesting": _line_class(
        "deep_nesting",
        [
            b'{"prompt": ' + b"[" * DEEP + b"]" * DEEP + b', "response": "x"}',
            b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        ],
        {"nesting_too_deep"},
    ),
    "gzip_bomb": gzip_bomb,
    "truncated_gzip": truncated_gzip,
    "not_gzip": not_gzip,
    "binary_jsonl": binary_jsonl,
    "bom_jsonl": bom_jsonl,
    "bom_csv": bom_csv,
    "csv_embedded_newlines": csv_newlines,
    "csv_long_field": csv_long_field,
    "csv_ragged": csv_ragged,
    "csv_bad_utf8": csv_bad_utf8,
    "parquet_wrong_schema": parquet_wrong_schema,
    "parquet_truncated": parquet_truncated,
    "parquet_zero_bytes": parquet_empty,
    "empty_file": empty_jsonl,
    "whitespace_only": whitespace_jsonl,
    "duplicate_keys": _line_class(
        "duplicate_keys",
        [
            b'{"prompt": "first", "prompt": "second", "response": "ok"}',
            b'{"prompt": "p", "response": "r", "meta": {"a": 1, "a": 2}}',
        ],
        {"duplicate_key"},
    ),
    "nan_infinity": _line_class(
        "nan_infinity",
        [
            b'{"prompt": "p", "response": "r", "score": NaN}',
            b'{"prompt": "p", "response": "r", "score": -Infinity}',
            b'{"prompt": "p", "response": "r", "score": 1e999}',
        ],
        {"nonfinite_number"},
    ),
    "wrong_types": _line_class(
        "wrong_types",
        [
            b'{"prompt": 12, "response": "r"}',
            b'{"prompt": ["a", "b"], "response": "r"}',
            b'{"prompt": true, "response": "r"}',
            b'{"prompt": {"text": "p"}, "response": "r"}',
            b'{"prompt": "p", "response": null}',
            b'{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "x"}]}',
        ],
        {"wrong_type:prompt", "missing_field:response", "wrong_type:messages.content"},
    ),
    "not_an_object": _line_class(
        "not_an_object",
        [
            b"[1, 2, 3]",
            b'"just a string"',
            b"null",
            b"17",
        ],
        {"not_an_object"},
    ),
    "malformed_json": _line_class(
        "malformed_json",
        [
            b'{"prompt": "unterminated',
            b"{oops}",
            b'{"prompt": "p", "response": "r"} trailing',
            b"1" * 5000,
        ],
        {"malformed_json"},
    ),
    "json_truncated": json_truncated,
    "json_array_mixed": json_array_mixed,
}


def plant(root: Path, names: list[str] | None = None, *, seed: int = 11) -> list[Planted]:
    """Write every class (or `names`) under ``root/<class>/``; return what was planted."""
    words = Words(seed)
    planted = []
    for name in names or list(CLASSES):
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        planted.append(CLASSES[name](directory, words))
    return planted


def source_entry(planted: Planted, root: Path) -> dict[str, object]:
    """The spec entry of a planted class: one source, every file of its directory."""
    return {
        "name": planted.name,
        "kind": "sft",
        "path": f"{root / planted.name}/*",
        "license": "MIT",
        "intent": "conversation",
        "difficulty": "straightforward",
    }


__all__ = ["CLASSES", "Planted", "plant", "source_entry"]
