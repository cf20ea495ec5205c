"""A shard's rows before its range are read past a buffer at a time (`streams._skip_lines`);
the oracle is the line-by-line read from the first line, rows before the range passed over:
same rows, row numbers and reasons, and the same file issue when the decompressed budget runs
out (before, inside or after the range)."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.io import streams
from pipeline.io.limits import FileReadError, ReadLimits
from pipeline.io.readers import _iter_jsonl, iter_rows

LINES = st.one_of(
    st.builds(lambda t: json.dumps({"prompt": t, "response": "r"}, ensure_ascii=False), st.text()),
    st.sampled_from(["", " ", "{broken", "\r", '{"a": 1, "a": 2}', "[1]", "x" * 300]),
)


def _collect(rows):
    """Rows, then the reason of a file issue if one stops the read."""
    out = []
    try:
        out.extend(rows)
    except FileReadError as exc:
        out.append(("issue", exc.reason))
    return out


def _oracle(path, gzipped, limits, start, stop):
    """The line-by-line read before `skip`: every line from 0, rows before `start` passed over."""
    return _collect(_iter_jsonl(streams._stream_lines(path, gzipped, limits), limits, start, stop))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    lines=st.lists(LINES, max_size=40),
    bom=st.booleans(),
    newline_at_end=st.booleans(),
    gzipped=st.booleans(),
    start=st.integers(0, 45),
    length=st.one_of(st.none(), st.integers(1, 20)),
    max_record_bytes=st.sampled_from([64, 1 << 20]),
    chunk=st.sampled_from([7, 64, 1 << 20]),
)
def test_a_row_range_equals_the_whole_read_filtered(
    tmp_path_factory, lines, bom, newline_at_end, gzipped, start, length, max_record_bytes, chunk
):
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    data = (b"\xef\xbb\xbf" if bom else b"") + data + (b"\n" if newline_at_end and lines else b"")
    path = tmp_path_factory.mktemp("skip") / ("r.jsonl.gz" if gzipped else "r.jsonl")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    limits = ReadLimits(
        max_record_bytes=max_record_bytes, max_decompressed_bytes=max(1, len(data) // 2)
    )
    stop = None if length is None else start + length
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streams, "_CHUNK", chunk)
        got = _collect(iter_rows(path, start=start, stop=stop, limits=limits))
        assert got == _oracle(path, gzipped, limits, start, stop)
