r"""Whole-word prefilters for rule regexes: words one of which every match holds as a whole word.

Most rule regexes look like ``\b(write|create|build)\b[^.?!\n]{0,40}\b(function|app)\b``,
case-insensitive. `re` tries such a pattern at every word boundary of a text (~12 µs on a
250-character reply); the literal prefilter (`pipeline.records.literals`) often cannot help,
because ``pen`` is in ``pencils`` and 39 ``in`` tests cost as much as the search. A whole
word is stronger: after ``\b``, a literal run of word characters that ends at a non-word
literal or at ``\b`` is a maximal ``\w+`` run of the text. So, on ASCII text, a match needs
one of `whole_words` among the text's lowercased ``\w+`` runs, one set lookup per rule once
the text's runs are known (`Segment.runs`).

The analysis walks the parse tree and only answers when it is sure: mandatory sequence items,
groups and alternations (every branch must answer); anything else gives None (no filter).

>>> sorted(whole_words(re.compile(r"\b(write|come up with)\b.{0,9}\bpoem", re.I)))
['come', 'write']
>>> whole_words(re.compile(r"Traceback|\bdef\w+")) is None
True
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def whole_words(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Lowercase words, one of which every match of `pattern` holds as a whole word, or None."""
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:  # pragma: no cover - the pattern compiled, so it parses
        return None
    return _find(list(tree))


def quick_to_search(pattern: re.Pattern[str]) -> bool:
    """Whether `re` skips most positions of a text by itself: every branch starts at ``^`` or
    with an uncased literal (``\\$``). There a literal prefilter costs more than the search.
    """
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:  # pragma: no cover - the pattern compiled, so it parses
        return False
    return _anchored(list(tree))


def _anchored(items: list[Any]) -> bool:
    if not items:
        return False
    op, av = items[0]
    if op is sre.AT:
        return av in (sre.AT_BEGINNING, sre.AT_BEGINNING_LINE, sre.AT_BEGINNING_STRING)
    if op is sre.LITERAL:
        return chr(av).lower() == chr(av).upper()
    if op is sre.SUBPATTERN:
        return _anchored(list(av[-1]))
    if op is sre.BRANCH:
        return all(_anchored(list(b)) for b in av[1])
    return False


def _find(items: list[Any]) -> frozenset[str] | None:
    """Words for the sequence `items`: the first mandatory item that yields an answer."""
    for k, (op, av) in enumerate(items):
        found: frozenset[str] | None = None
        if op is sre.AT and av is sre.AT_BOUNDARY:
            found = _word(items[k + 1 :], "")
        elif op is sre.SUBPATTERN:
            found = _find(list(av[-1]) + items[k + 1 :])
        elif op is sre.BRANCH:
            found = _union([_find(list(b) + items[k + 1 :]) for b in av[1]])
        if found:
            return found
    return None


def _word(items: list[Any], prefix: str) -> frozenset[str] | None:
    """The words `items` start with, right after a word boundary (`prefix`: chars so far)."""
    for k, (op, av) in enumerate(items):
        if op is sre.LITERAL:
            char = chr(av).lower()
            if char in _WORD_CHARS:
                prefix += char
                continue
            if char.isascii() and not char.isalnum():  # an ASCII non-word char ends the run
                return frozenset([prefix]) if prefix else None
            return None
        if op is sre.AT and av is sre.AT_BOUNDARY:  # after a word char: the run ends here
            return frozenset([prefix]) if prefix else None
        if op is sre.SUBPATTERN:
            return _word(list(av[-1]) + items[k + 1 :], prefix)
        if op is sre.BRANCH:
            return _union([_word(list(b) + items[k + 1 :], prefix) for b in av[1]])
        return None
    return None  # the match may end inside a longer word


def _union(parts: list[frozenset[str] | None]) -> frozenset[str] | None:
    if not parts or not all(parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]
