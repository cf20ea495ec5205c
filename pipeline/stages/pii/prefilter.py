"""A cheap prefilter: which parts of a text can hold a candidate, for which entity types.

Presidio's recognizers cost ~2 ms per 1,000 characters. Most training text holds no PII, so the
scanner only sends *windows* around trigger matches to presidio, asking only for the entity types
that were triggered. A trigger is a superset of what presidio's recognizer can match:

- ``EMAIL_ADDRESS``: an ``@``;
- ``PHONE_NUMBER`` / ``CREDIT_CARD`` / ``US_SSN``: a run of digits and phone punctuation holding
  at least 4 / 12 / 9 digits (4 = the shortest national number length in phonenumbers' metadata);
- ``DK_CPR``: the union of `DkCprRecognizer`'s two patterns;
- ``IBAN_CODE``: two letters followed by two digits;
- ``IP_ADDRESS``: a dotted quad, or ``h:h:`` with up to 4 hex digits per ``h`` (every IPv6 form
  has two colons in such a run);
- ``CRYPTO``: presidio's own address pattern.

Entity types without a trigger (e.g. PERSON with an NER model, URL) are analysed on the whole text.
A window extends a trigger match by `WINDOW_BEFORE` characters (room for the five context words
presidio looks at) and `WINDOW_AFTER` characters, then out to the nearest whitespace so no token
is cut; overlapping windows are merged. tests/test_pii.py checks that windowed and whole-text
analysis give the same findings on real and synthetic data.
"""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

import numpy as np
import polars as pl

from pipeline.stages.pii.credentials import SECRET_ENTITIES

WINDOW_BEFORE = 160
WINDOW_AFTER = 48

_PHONE_PUNCT = (
    r"\s\-.()/\[\]~\u00ad\u200b\u2010-\u2015\u2060\u2212\u3000\uff08\uff09\uff0d-\uff0f\uff3b\uff3d"
)
# A run of digits and phone punctuation with at least four digits (the smallest trigger).
_DIGIT_RUN = re.compile(rf"[+\uff0b(\uff08]*\d(?:[{_PHONE_PUNCT}]*\d){{3,}}")
_MIN_DIGITS = {"PHONE_NUMBER": 4, "US_SSN": 9, "CREDIT_CARD": 12}
_TRIGGERS = {
    "EMAIL_ADDRESS": re.compile("@"),
    "IBAN_CODE": re.compile(r"[A-Za-z]{2}\d\d"),
    "IP_ADDRESS": re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"),
    "CRYPTO": re.compile(r"[13][0-9A-Za-z]{25}|[Bb][Cc]1[0-9A-Za-z]{25}"),
    "DK_CPR": re.compile(r"(?<![\d-])[0-3]\d[01]\d{3}[- ]?\d{4}(?![\d-])"),  # both CPR patterns
}
# The same triggers, split by whether every match holds a digit. Such a match starts at most 3
# characters before a digit and ends at most 26 after one, so those patterns only search the
# digit clusters (digits less than 2 * `_DIGIT_REACH` apart) widened by `_DIGIT_REACH` (~15 %
# of LIMA's text; 3x faster). A dotted quad and an ``:h:`` match never overlap (their only
# shared characters are digits, each flanked by a character the other cannot hold), so the two
# halves of the IP pattern searched apart find what the alternation finds. tests/pipeline/
# stages/pii/test_pii.py checks equality with the whole-text search on real and random text.
_DIGIT_REACH = 27
_DIGIT_CLUSTER = re.compile(rf"\d+(?:\D{{1,{2 * _DIGIT_REACH - 1}}}\d+)*")
_NEAR_DIGITS = {
    "IBAN_CODE": (_TRIGGERS["IBAN_CODE"],),
    "IP_ADDRESS": (re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d"),),
    "CRYPTO": (_TRIGGERS["CRYPTO"],),
    # `_TRIGGERS["DK_CPR"]` with its lookbehind moved after the first digit: a pattern that
    # starts with a character class is searched by the regex engine's fast scan for that class.
    "DK_CPR": (re.compile(r"[0-3](?<![\d-][0-3])\d[01]\d{3}[- ]?\d{4}(?![\d-])"),),
}
# Faster searches for the same spans (Python's `re` scans quickly only for a pattern that starts
# with a character class; possessive quantifiers skip backtracking that cannot succeed, because
# the classes around them are disjoint):
# - `_DIGIT_RUN` = its optional ``+``/``(`` prefix, found by stepping back from `_RUN_CORE`;
# - `_DIGIT_CLUSTER` = `_CLUSTER`.
_RUN_CORE = re.compile(rf"\d(?:[{_PHONE_PUNCT}]*+\d){{3,}}")
_CLUSTER = re.compile(rf"\d++(?:\D{{1,{2 * _DIGIT_REACH - 1}}}+\d++)*+")
_ANYWHERE = {"EMAIL_ADDRESS": re.compile("@"), "IP_ADDRESS": re.compile(r":[0-9A-Fa-f]{0,4}:")}
_NON_SPACE = re.compile(r"\S*")
_DIGIT = re.compile(r"\d")
_RUN_PREFIX = "+\uff0b(\uff08"  # what `_DIGIT_RUN` may hold before its first digit

TRIGGERED_ENTITIES = frozenset(_TRIGGERS) | frozenset(_MIN_DIGITS)


class Window(NamedTuple):
    """A slice ``text[start:end]`` to analyse for `entities`."""

    start: int
    end: int
    entities: frozenset[str]
    phone_runs: tuple[tuple[int, int], ...] = ()  # the PHONE_NUMBER trigger spans inside


def _first_digit(text: str) -> int:
    """The index of the first digit of `text` (-1: none). Ten `str.find` scans of an ASCII text
    cost less than one regex scan for ``\\d``; 30 % of LIMA's text is before its first digit.

    >>> _first_digit("abc 42"), _first_digit("abc"), _first_digit("x\u0663")
    (4, -1, 1)
    """
    if text.isascii():
        found = [i for i in map(text.find, "0123456789") if i >= 0]
        return min(found) if found else -1
    match = _DIGIT.search(text)
    return match.start() if match else -1


class DigitMap(NamedTuple):
    """Where the digit triggers of a text can be: what `_trigger_spans` needs beyond `@`/`:`."""

    runs: list[tuple[int, int, int]]  # `_RUN_CORE` matches: start, end, digits in the match
    clusters: list[tuple[int, int]]  # `_CLUSTER` matches widened by `_DIGIT_REACH` either side
    near: frozenset[str]  # the `_NEAR_DIGITS` types that can match (the others cannot)


def _digit_map(text: str, first: int) -> DigitMap:
    """The `DigitMap` of `text` by regex search from its first digit `first` (the definition)."""
    runs = [
        (m.start(), m.end(), sum(map(str.isdigit, m.group())))
        for m in _RUN_CORE.finditer(text, first)
    ]
    clusters = [
        (max(0, m.start() - _DIGIT_REACH), m.end() + _DIGIT_REACH)
        for m in _CLUSTER.finditer(text, first)
    ]
    return DigitMap(runs, clusters, frozenset(_NEAR_DIGITS))


def _trigger_spans(
    text: str, entities: frozenset[str], digits: DigitMap | None = None
) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for entity, pattern in _ANYWHERE.items():
        if entity in entities:
            spans.extend((m.start(), m.end(), entity) for m in pattern.finditer(text))
    if digits is None:
        first = _first_digit(text)
        if first < 0:  # every other trigger holds a digit
            return spans
        digits = _digit_map(text, first)
    phone = "PHONE_NUMBER" in entities
    longer = [(e, n) for e, n in _MIN_DIGITS.items() if e in entities and e != "PHONE_NUMBER"]
    if phone or longer:
        floor = 0  # a run's prefix never reaches back into the previous run
        for start, end, count in digits.runs:
            core = start
            while start > floor and text[start - 1] in _RUN_PREFIX:
                start -= 1
            floor = end
            if phone:  # every run holds >= 4 digits
                spans.append((start, end, "PHONE_NUMBER"))
            if longer and end - core >= 9:
                spans.extend((start, end, e) for e, n in longer if count >= n)
    near = [
        (e, p)
        for e, patterns in _NEAR_DIGITS.items()
        if e in entities & digits.near
        for p in patterns
    ]
    if near:
        for lo, hi in digits.clusters:  # a lookbehind sees before lo; a lookahead, < hi
            for entity, pattern in near:
                spans.extend((m.start(), m.end(), entity) for m in pattern.finditer(text, lo, hi))
    return spans


def _class_of(char: str) -> int:
    """Bit flags of `char`, from the regexes that define the triggers."""
    flags = [
        _DIGIT.fullmatch(char),
        _PUNCT.fullmatch(char),
        char in _LETTERS,
        char == ".",
        char in "13",
    ]
    return sum(bool(f) << bit for bit, f in enumerate(flags))


def _class_table() -> np.ndarray:
    return np.array([_class_of(chr(code)) for code in range(256)], dtype=np.uint8)


_PUNCT = re.compile(rf"[{_PHONE_PUNCT}]")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # [A-Za-z]
_CLASSES = _class_table()  # of code points 0-255
_IS_DIGIT, _IS_PUNCT, _IS_LETTER, _IS_DOT, _IS_ONE_THREE = (1, 2, 4, 8, 16)


def _groups(keys: np.ndarray) -> tuple[list[int], list[int]]:
    """(first, last) index of each run of equal values in `keys` (not empty)."""
    cut = np.flatnonzero(np.diff(keys)) + 1
    return [0, *cut.tolist()], [*(cut - 1).tolist(), len(keys) - 1]


_CHUNK_CHARS = 1 << 20  # characters joined at once (~20 bytes of numpy arrays each)


def digit_maps(texts: list[str]) -> list[DigitMap]:
    """The `DigitMap` of every text, from numpy passes over the texts joined by ``\\x00`` (in
    no class), as code points: flags of the code points above 255 are looked up one distinct
    code point at a time.

    In ASCII, `_RUN_CORE` matches are exactly the spans from the first to the last digit of each
    maximal stretch of digits and phone punctuation holding >= 4 digits (its ``[P]*+\\d`` steps
    take every digit of the stretch and stop at its end), and `_CLUSTER` matches the digits less
    than ``2 * _DIGIT_REACH`` apart. A `_NEAR_DIGITS` type is kept when a necessary condition
    of its pattern holds somewhere in the text: letter-letter-digit-digit (IBAN), digit-dot-digit
    (dotted quad), six digits in a row (CPR), ``1``/``3`` then 25 letters or digits (Bitcoin).
    Same spans as `_digit_map` (tests/pipeline/stages/pii/test_gates.py).
    """
    maps: list[DigitMap] = []
    start = size = 0
    for end, text in enumerate([*texts, None]):
        if end > start and (text is None or size + len(text) > _CHUNK_CHARS):
            maps += _joined_digit_maps(texts[start:end])
            start, size = end, 0
        size += len(text) + 1 if text is not None else 0
    return maps


def _joined_digit_maps(texts: list[str]) -> list[DigitMap]:
    """`digit_maps` of `texts`, joined."""
    starts = np.concatenate(([0], np.cumsum([len(t) + 1 for t in texts[:-1]], dtype=np.int64)))
    joined = "\x00".join(texts)
    if joined.isascii():
        classes = _CLASSES[np.frombuffer(joined.encode("ascii"), dtype=np.uint8)]
    else:
        points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        classes = _CLASSES[np.minimum(points, 255)]
        high = np.flatnonzero(points > 255)
        distinct, where = np.unique(points[high], return_inverse=True)
        flags = np.array([_class_of(chr(c)) for c in distinct.tolist()], dtype=np.uint8)
        classes[high] = flags[where]
    at = np.flatnonzero(classes & _IS_DIGIT)  # digit positions
    owner = np.searchsorted(starts, at, side="right") - 1  # their texts
    runs: dict[int, list[tuple[int, int, int]]] = {}
    clusters: dict[int, list[tuple[int, int]]] = {}
    near = _near_types(classes, at, owner)
    if len(at):
        # stretches of digits and phone punctuation, numbered by the other characters before
        stretch = np.cumsum((classes & (_IS_DIGIT | _IS_PUNCT)) == 0, dtype=np.int32)[at]
        apart = (np.diff(at) > 2 * _DIGIT_REACH) | (np.diff(owner) != 0)
        at_, owner_ = at.tolist(), owner.tolist()  # Python ints from here on
        for a, b in zip(*_groups(stretch), strict=True):
            if b - a >= 3:
                runs.setdefault(owner_[a], []).append((at_[a], at_[b] + 1, b - a + 1))
        for a, b in zip(*_groups(np.concatenate(([0], np.cumsum(apart)))), strict=True):
            if owner_[a] in near:
                clusters.setdefault(owner_[a], []).append((at_[a], at_[b] + 1))
    return [
        DigitMap(
            [(x - base, y - base, n) for x, y, n in runs.get(k, ())],
            [
                (max(0, x - base - _DIGIT_REACH), y - base + _DIGIT_REACH)
                for x, y in clusters.get(k, ())
            ],
            near.get(k, frozenset()),
        )
        for k, base in enumerate(starts.tolist())
    ]


def _near_types(
    classes: np.ndarray, at: np.ndarray, owner: np.ndarray
) -> dict[int, frozenset[str]]:
    """The `_NEAR_DIGITS` types whose necessary condition holds in each text, tested at the
    digit positions `at` (of texts `owner`) only."""
    n = len(classes)
    if not len(at):
        return {}

    def has(offset: int, flag: int, where: np.ndarray = at) -> np.ndarray:
        index = where + offset
        inside = (index >= 0) & (index < n)
        return inside & ((classes[np.clip(index, 0, n - 1)] & flag) != 0)

    one_three = at[has(0, _IS_ONE_THREE)]
    alnum = np.ones(len(one_three), dtype=bool)
    for offset in range(1, 26):
        alnum &= has(offset, _IS_LETTER | _IS_DIGIT, one_three)
    tests = {
        "IBAN_CODE": has(1, _IS_DIGIT) & has(-1, _IS_LETTER) & has(-2, _IS_LETTER),
        "IP_ADDRESS": has(1, _IS_DOT) & has(2, _IS_DIGIT),
        "DK_CPR": np.concatenate((at[5:] - at[: max(0, len(at) - 5)] == 5, np.zeros(5, bool)))[
            : len(at)
        ],
    }
    found: dict[int, set[str]] = {}
    for entity, hits in tests.items():
        for text in np.unique(owner[hits]).tolist():
            found.setdefault(text, set()).add(entity)
    for text in np.unique(owner[np.isin(at, one_three[alnum])]).tolist():
        found.setdefault(text, set()).add("CRYPTO")
    return {text: frozenset(types) for text, types in found.items()}


@cache
def _trigger_chars() -> list[str]:
    """``@``, ``:`` and every character `re` reads as ``\\d`` (`str.isdecimal`; 660 in Python
    3.11), taken from this interpreter's Unicode data on first use (~0.07 s of CPU)."""
    return ["@", ":", *(c for c in map(chr, range(0x110000)) if c.isdecimal())]


def trigger_gate(texts: pl.Series) -> pl.Series:
    """Whether each text can hold a trigger: ``False`` only where `find_windows` finds no
    triggered window (null texts: ``False``).

    Every trigger match holds ``@`` (EMAIL_ADDRESS), ``:`` (the IPv6 trigger) or a ``\\d``
    digit: a digit run, ``[A-Za-z]{2}\\d\\d``, a dotted quad, ``[13]`` + 25 characters, a CPR
    number. One literal search for those characters over the whole column (polars'
    Aho-Corasick: substring tests, no regex dialect involved) replaces `_trigger_spans` on the
    ~99 % of synthetic texts and ~58 % of LIMA's that hold none of them.

    >>> trigger_gate(pl.Series(["no candidates", "call 555", "a@b", "\u0663", None])).to_list()
    [False, True, True, True, False]
    """
    return texts.str.contains_any(_trigger_chars()).fill_null(False)


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - WINDOW_BEFORE)
    hi = min(len(text), end + WINDOW_AFTER)
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    rest = _NON_SPACE.match(text, hi)  # never None: `\S*` matches the empty string
    return lo, rest.end() if rest else hi


def find_windows(
    text: str, entities: frozenset[str], digits: DigitMap | None = None
) -> list[Window]:
    """Return the merged windows of `text` that can hold one of `entities`, in order; `digits`
    is the text's `DigitMap` when `digit_maps` made it (else it is searched here).

    >>> find_windows("mail me at a@b.io please", frozenset({"EMAIL_ADDRESS"}))
    [Window(start=0, end=24, entities=frozenset({'EMAIL_ADDRESS'}), phone_runs=())]
    >>> find_windows("no candidates here", frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER"}))
    []
    """
    if not text:
        return []
    spans = sorted(_trigger_spans(text, entities & TRIGGERED_ENTITIES, digits))
    windows: list[Window] = []
    lo = hi = -1  # the open window, its entity types and phone runs
    types: set[str] = set()
    runs: list[tuple[int, int]] = []
    for start, end, entity in spans:
        # A window reaching start - WINDOW_BEFORE overlaps this span's widened start, and one
        # reaching end + WINDOW_AFTER its widened end (both widen to the same whitespace), so
        # the span's own widening is needed only beyond them (spans of long digit lists).
        if not (0 <= start - WINDOW_BEFORE <= hi):
            new_lo, new_hi = _widen(text, start, end)
            if new_lo > hi:
                if hi >= 0:
                    windows.append(Window(lo, hi, frozenset(types), tuple(runs)))
                lo, hi, types, runs = new_lo, new_hi, set(), []
            hi = max(hi, new_hi)
        elif end + WINDOW_AFTER > hi:
            hi = max(hi, _widen(text, start, end)[1])
        types.add(entity)
        if entity == "PHONE_NUMBER":
            runs.append((start, end))
    if hi >= 0:
        windows.append(Window(lo, hi, frozenset(types), tuple(runs)))
    untriggered = entities - TRIGGERED_ENTITIES - SECRET_ENTITIES  # secrets: not presidio's
    if untriggered:
        windows.append(Window(0, len(text), untriggered))
    return windows
