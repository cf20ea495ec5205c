"""Decoding one JSON value: the fast path agrees with the full walk."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.limits import RowError


def _walked(line: bytes):
    """The reference: decode, then always walk the value (`_checked`), as before the fast path."""
    from pipeline.io.json_values import _DECODER, _checked
    from pipeline.io.limits import DEFAULT_LIMITS

    try:
        value = _DECODER.decode(line.decode("utf-8"))
    except RecursionError:
        return RowError("nesting_too_deep")
    except (ValueError, UnicodeDecodeError):
        return RowError("bad_encoding" if b"\xff" in line else "malformed_json")
    return _checked(0, value, DEFAULT_LIMITS)[1]


def test_decode_fast_path_gives_the_walks_reason_for_every_line():
    from pipeline.io.json_values import _decode_json
    from pipeline.io.limits import DEFAULT_LIMITS

    deep = b'{"a": ' + b"[" * 120 + b"1" + b"]" * 120 + b"}"
    lines = [
        b'{"a": "x", "b": [1, 2.5, {"c": null}]}',
        b'{"a": 1, "a": 2}',
        b'{"a": {"b": 1, "b": 2}}',
        b'{"a": NaN}',
        b'{"a": [Infinity]}',
        b'{"a": 1e999}',
        b'{"a": "nul \\u0000 here"}',
        b'{"a": "lone \\ud800 surrogate"}',
        b'{"\\u0000key": 1}',
        b'{"a": "a literal \\\\u0041"}',
        b'{"a": "bracket text [[[[{{{{"}',
        deep,
        b"[1, 2]",
        b'"text"',
        b'{"a": "raw \x01 control"}',
        b"{not json",
    ]
    for line in lines:
        got = _decode_json(line, 0, DEFAULT_LIMITS)[1]
        assert got == _walked(line), line
        assert type(got) is type(_walked(line))


def _outcome(decode, text):
    try:
        return "ok", decode(text)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        ).map(json.dumps),
        st.text(),
    ),
    st.sampled_from(["", " ", "\r", "\n", " \t", "x", "}", " 1"]),
    st.sampled_from(["", " ", "\t\r\n", "\ufeff"]),
)
def test_decode_calls_the_scanner_as_decode_would(text, tail, head):
    """`_decode` is `_DECODER.decode` (the oracle): same value or the same error, on any text."""
    from pipeline.io.json_values import _DECODER, _decode

    line = head + text + tail
    assert _outcome(_decode, line) == _outcome(_DECODER.decode, line)


def test_decode_on_odd_lines():
    from pipeline.io.json_values import _DECODER, _decode

    deep = "[" * 5000 + "]" * 5000
    for line in [
        "",
        " ",
        "{}",
        ' {"a": 1}',
        '{"a": 1}\r',
        '{"a": x}',
        '{"a": {"b": 1, "b": 2}, "c": x}',
        "[1] [2]",
        "NaN",
        "-Infinity",
        '"\u2028"',
        deep,
        "1e999",
        "{} x",
    ]:
        assert _outcome(_decode, line) == _outcome(_DECODER.decode, line), line
