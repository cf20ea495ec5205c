"""Literal prefilters for regexes: strings one of which every match must contain.

Python's `re` scans a text position by position, and a rule regex such as
``\\b(write|implement|build)\\b[^.?!\\n]{0,40}\\b(function|program)`` costs ~10 µs on a reply that
does not match. `required_literals` reads the pattern's parse tree once and returns lowercase
strings of which any match contains at least one (here ``function`` or ``progra[m]``), so
`Prefilter.may_match` rules most texts out with a few ``in`` tests on the lowercased text. The
answer is exact: a text is only skipped when the regex cannot match it. Lowercasing stands in
for case-insensitive matching only on ASCII text (Unicode case folding has cross-script pairs,
such as the Kelvin sign and ``k``), so a non-ASCII text always goes to the regex.

>>> pre = Prefilter.of(re.compile(r"\\bas an ai(?: language)? model\\b", re.IGNORECASE))
>>> pre.literals
('as an ai',)
>>> pre.may_match("Sure, here it is."), pre.may_match("As an AI model, I ...")
(False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

Literals = frozenset[str]


def _alternatives(items: Any) -> Literals | None:
    """Strings one of which a match of the sequence `items` contains, or None if none found."""
    best: Literals | None = None
    run: list[str] = []

    def consider(found: Literals | None) -> None:
        nonlocal best
        if (
            found
            and all(s.isascii() for s in found)
            and (best is None or min(map(len, found)) > min(map(len, best)))
        ):
            best = found

    for op, av in list(items) + [(None, None)]:
        if op is sre.LITERAL:
            run.append(chr(av).lower())
            continue
        consider(frozenset(["".join(run)]) if run else None)
        run = []
        if op is sre.SUBPATTERN:
            consider(_alternatives(av[-1]))
        elif op is sre.BRANCH:
            branches = [_alternatives(b) for b in av[1]]
            if all(branches):
                consider(frozenset().union(*branches))  # type: ignore[arg-type]
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            consider(_alternatives(av[2]))
        elif op is sre.ATOMIC_GROUP:
            consider(_alternatives(av))
    return best


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Return lowercase strings one of which every match of `pattern` contains (() if unknown).

    >>> required_literals(re.compile(r"(?:\\bfoo\\w+)|(?:bar(?-i:BAZ))", re.I))
    ('bar', 'foo')
    """
    try:
        tree = sre_parse.parse(pattern.pattern, pattern.flags)
    except re.error:  # pragma: no cover - the pattern compiled, so it parses
        return ()
    found = _alternatives(tree)
    return tuple(sorted(found)) if found and all(found) else ()


@dataclass(frozen=True)
class Prefilter:
    """A regex with its required literals (see the module docstring)."""

    pattern: re.Pattern[str]
    literals: tuple[str, ...]

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Prefilter:
        """Analyse `pattern` once."""
        return cls(pattern, required_literals(pattern))

    def may_match(self, text: str, lowered: str | None = None) -> bool:
        """Return False only when `pattern` cannot match `text` (`lowered`: ``text.lower()``)."""
        if not self.literals or not text.isascii():
            return True
        low = text.lower() if lowered is None else lowered
        return any(literal in low for literal in self.literals)
