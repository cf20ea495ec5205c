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


def _trigger_spans(text: str, entities: frozenset[str]) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for entity, pattern in _ANYWHERE.items():
        if entity in entities:
            spans.extend((m.start(), m.end(), entity) for m in pattern.finditer(text))
    first = _first_digit(text)
    if first < 0:  # every other trigger holds a digit
        return spans
    phone = "PHONE_NUMBER" in entities
    longer = [(e, n) for e, n in _MIN_DIGITS.items() if e in entities and e != "PHONE_NUMBER"]
    if phone or longer:
        floor = 0  # a run's prefix never reaches back into the previous run
        for match in _RUN_CORE.finditer(text, first):
            start, end = match.span()
            while start > floor and text[start - 1] in _RUN_PREFIX:
                start -= 1
            floor = end
            if phone:  # every run holds >= 4 digits
                spans.append((start, end, "PHONE_NUMBER"))
            if longer and end - match.start() >= 9:
                digits = sum(map(str.isdigit, match.group()))
                spans.extend((start, end, e) for e, n in longer if digits >= n)
    near = [(e, p) for e, patterns in _NEAR_DIGITS.items() if e in entities for p in patterns]
    if near:
        for cluster in _CLUSTER.finditer(text, first):
            lo = max(0, cluster.start() - _DIGIT_REACH)
            hi = cluster.end() + _DIGIT_REACH  # a lookbehind sees before lo; a lookahead, < hi
            for entity, pattern in near:
                spans.extend((m.start(), m.end(), entity) for m in pattern.finditer(text, lo, hi))
    return spans


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


def find_windows(text: str, entities: frozenset[str]) -> list[Window]:
    """Return the merged windows of `text` that can hold one of `entities`, in order.

    >>> find_windows("mail me at a@b.io please", frozenset({"EMAIL_ADDRESS"}))
    [Window(start=0, end=24, entities=frozenset({'EMAIL_ADDRESS'}), phone_runs=())]
    >>> find_windows("no candidates here", frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER"}))
    []
    """
    if not text:
        return []
    spans = sorted(_trigger_spans(text, entities & TRIGGERED_ENTITIES))
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
