"""Reading raw files: every format, gzip, and every failure as a row reason or a one-line error."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.errors import InputError
from pipeline.io.files import detect_format, resolve_paths
from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows

RECORDS = [{"prompt": "p1", "response": "r1"}, {"prompt": "p2", "response": "r2"}]


def _values(path):
    return [value for _, value in iter_rows(path)]


@pytest.mark.parametrize("gz", [False, True])
def test_every_format_reads_the_same_records(tmp_path, gz):
    suffix = ".gz" if gz else ""
    payloads = {
        "a.jsonl": "\n".join(json.dumps(r) for r in RECORDS).encode(),
        "a.json": json.dumps(RECORDS).encode(),
        "a.csv": b"prompt,response\np1,r1\np2,r2\n",
    }
    for name, data in payloads.items():
        path = tmp_path / (name + suffix)
        path.write_bytes(gzip.compress(data) if gz else data)
        assert _values(path) == RECORDS, name
    table_path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(RECORDS), table_path)
    assert _values(table_path) == RECORDS


def test_jsonl_rows_are_line_numbers_and_failures_are_reasons(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{broken\n[1, 2]\n{"b": "\xff"}\n{"c": 3}\n')
    rows = list(iter_rows(path))
    assert rows == [
        (0, {"a": 1}),
        (2, RowError("malformed_json")),
        (3, RowError("not_an_object")),
        (4, RowError("bad_encoding")),
        (5, {"c": 3}),
    ]


def test_bad_encoding_in_json_and_csv_is_a_row_reason(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"prompt,response\nok,fine\nbad \xff,x\n")
    assert [v for _, v in iter_rows(path)] == [
        {"prompt": "ok", "response": "fine"},
        RowError("bad_encoding"),
    ]


def test_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"")
    assert list(iter_rows(path)) == []


def test_missing_file_and_unknown_extension_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        list(iter_rows(tmp_path / "missing.jsonl"))
    with pytest.raises(InputError, match="cannot infer the format"):
        detect_format(tmp_path / "data.txt")
    with pytest.raises(InputError, match="no input file matches"):
        resolve_paths("*.jsonl", base_dir=tmp_path)


def test_corrupt_gzip_and_unparseable_json_are_input_errors(tmp_path):
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read"):
        list(iter_rows(gz))
    bad = tmp_path / "x.json"
    bad.write_bytes(b'[{"a": 1},')
    with pytest.raises(InputError, match="not valid JSON"):
        list(iter_rows(bad))


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz", "r.csv"])
def test_row_ranges_partition_the_file_exactly(tmp_path, name):
    rows = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(23)]
    if name.startswith("r.csv"):
        data = ("prompt,response\n" + "".join(f"p{i},r{i}\n" for i in range(23))).encode()
    else:
        lines = [json.dumps(r) for r in rows]
        lines.insert(5, "")  # a blank line keeps its row number
        lines.insert(9, "{broken")
        data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    whole = list(iter_rows(path))
    pieces = [r for start in range(0, 30, 7) for r in iter_rows(path, start=start, stop=start + 7)]
    assert pieces == whole
    assert all(
        start <= row < start + 7 for row, _ in iter_rows(path, start=7, stop=14) for start in [7]
    )
