"""One JSON value, decoded and checked: duplicate keys and non-finite numbers are rejected."""

from __future__ import annotations

import json
import math
import re
import threading
from typing import Any

from pipeline.io.limits import ReadLimits, Row, RowError

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


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


_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]  # set in __init__ (the C scanner)


def _decode(text: str) -> Any:
    """`_DECODER.decode(text)`, calling the C scanner directly when the value spans the whole
    text (the usual JSON line): `decode` would skip no leading whitespace (a value starts at 0)
    and find no trailing text, so it returns the same value. Any other text goes to `decode`,
    which raises or skips whitespace exactly as before.

    >>> _decode('{"a": [1, 2.5]}'), _decode(' {"a": 1} ')
    ({'a': [1, 2.5]}, {'a': 1})
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # no value at 0: empty, leading whitespace or not JSON
        return _DECODER.decode(text)
    if end == len(text):
        return value
    return _DECODER.decode(text)


def _decode_json(line: bytes, row: int, limits: ReadLimits) -> Row:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return row, RowError("bad_encoding")
    _MARKED.any = False
    try:
        value = _decode(text)
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
