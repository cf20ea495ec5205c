"""Decoding one JSON value: the fast path agrees with the full walk."""

from __future__ import annotations

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
