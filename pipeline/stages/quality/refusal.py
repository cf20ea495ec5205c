"""Refusal search with an exact literal prefilter: most replies are ruled out by substring tests.

Python's `re` tries every alternative of the case-insensitive refusal patterns at every position
of a reply (~17 us per reply on the scale input). Each pattern, read through `re`'s own parser,
names a set of literal strings one of which every match contains (``"an ai"`` for
``\\bi(?: am|'m) (?:just )?an ai\\b``). An ASCII reply whose lower-cased text holds none of them,
for every pattern, matches no pattern; only the others go through `find_refusal`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

import polars as pl

from pipeline.stages.quality.checks import any_of

try:  # re's parser: private, so a missing one only switches the prefilter off
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11 names them sre_*
    _sre = _sre_parse = None


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The candidate whose shortest string is longest (the rarest to find by chance)."""
    return max(candidates, key=lambda found: min(map(len, found)), default=None)


def _item_needs(op: Any, av: Any) -> frozenset[str] | None:
    """What one parsed item needs: groups and repeats (min >= 1) their body, a branch any arm's."""
    if op is _sre.SUBPATTERN:
        return _needs(av[3])
    if op is _sre.ATOMIC_GROUP:
        return _needs(av)
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
        return _needs(av[2])
    if op is _sre.BRANCH:
        arms = [_needs(arm) for arm in av[1]]
        if arms and all(arms):
            return frozenset().union(*arms)  # type: ignore[arg-type]
    return None


def _needs(items: Iterable[tuple[Any, Any]]) -> frozenset[str] | None:
    """Lower-cased strings one of which any match of this parsed sequence contains, or None.

    A run of ASCII literals is matched as one contiguous substring (case-insensitively, so its
    lower-case form is in the lower-cased text); a non-ASCII literal ends a run, since under
    IGNORECASE some (``\\u212a``, the Kelvin sign) match ASCII letters.
    """
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL and av < 128:
            run.append(chr(av).lower())
            continue
        if run:
            candidates.append(frozenset({"".join(run)}))
            run = []
        needed = _item_needs(op, av)
        if needed:
            candidates.append(needed)
    if run:
        candidates.append(frozenset({"".join(run)}))
    return _best(candidates)


def required_strings(pattern: str) -> frozenset[str] | None:
    """Lower-cased strings one of which every match of `pattern` contains, or None if unknown.

    >>> sorted(required_strings(r"\\bi (?:cannot|can't) (?:comply|provide)\\b"))
    ['comply', 'provide']
    >>> required_strings(r"\\w+ ai") == frozenset({" ai"}), required_strings(r"(?:ab)?c*")
    (True, None)
    """
    if _sre_parse is None:
        return None
    try:
        return _needs(_sre_parse.parse(pattern, re.IGNORECASE))
    except (re.error, TypeError, ValueError, IndexError):  # pragma: no cover - parser drift
        return None


def _shortest_needles(needles: frozenset[str]) -> tuple[str, ...]:
    """`needles` without those holding another: a text with ``"as an ai"`` holds ``"an ai"``.

    >>> _shortest_needles(frozenset({"as an ai", "an ai", "comply"}))
    ('an ai', 'comply')
    """
    return tuple(sorted(n for n in needles if not any(m != n and m in n for m in needles)))


class RefusalFinder:
    """`find_refusal` for the case-insensitive `patterns`, ruling out ASCII replies by substrings.

    Same answer as ``find_refusal(texts, compiled, any_of(compiled))`` (tested on real replies).
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        self.any_pattern = any_of(self.patterns)
        needs = [required_strings(p.pattern) for p in self.patterns]
        self.needles: tuple[str, ...] | None = (
            _shortest_needles(frozenset().union(*needs)) if all(needs) else None  # type: ignore[arg-type]
        )

    def could_match(self, text: str) -> bool:
        """False only when no pattern can match `text` (an ASCII text without any needle)."""
        if self.needles is None or not text.isascii():
            return True
        lowered = text.lower()
        return any(map(lowered.__contains__, self.needles))

    def candidates(self, texts: list[str], indices: list[int]) -> list[int]:
        """The `indices` (ascending) whose text `could_match`, in order, searching all at once.

        The ASCII texts go through one polars ``contains_any`` (Aho-Corasick over every needle,
        ASCII case-insensitive: for an ASCII text, a lower-case needle is found so exactly
        when it is in ``text.lower()``).
        """
        if self.needles is None:
            return indices
        plain = [i for i in indices if texts[i].isascii()]
        keep = set(indices).difference(plain)
        if plain and self.needles:
            found = pl.Series([texts[i] for i in plain], dtype=pl.String).str.contains_any(
                list(self.needles), ascii_case_insensitive=True
            )
            keep.update(itertools.compress(plain, found.to_list()))
        return sorted(keep)
