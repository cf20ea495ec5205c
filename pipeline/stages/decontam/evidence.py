r"""The match rule: when does a text field contain a holdout item? Evidence grows as items shrink.

Candidates come from the shingle postings (`pipeline.stages.decontam.match`); this module decides
each ``(item, field)`` candidate on the texts alone, so a verdict never depends on which other
holdouts or training records are in the run (no document frequency is used). Tokens are the
``\w+`` runs of the NFKC-casefolded text, as in the word shingles. By the item's length ``m``:

- **exact** (``m < exact_below_words``, e.g. "How do I make escargot?"): the item's tokens equal
  the whole field's, or one whole line's. Five words that open a longer question are no
  evidence ("How do I make meth"), nor a short phrase inside an article's paragraph.
- **aligned** (``m < aligned_below_words``): the item aligns with a contiguous span of the field
  with at most ``max(1, round(edit_rate * m))`` word edits (insert, delete, substitute),
  computed exactly (Myers' bit-parallel semi-global edit distance over token ids). Containment
  of 3-grams is too coarse here: one replaced word removes three of a ten-word item's eight
  shingles, and a shared opening ("What are the most effective ways to ...") already reaches
  0.55.
- **containment** (longer items): at least ``threshold`` of the item's shingles are in the
  field, and no run of more than ``max_gap`` consecutive item shingles is missing. A replaced
  word leaves a gap of ``n`` shingles; a whole different sentence (another question that shares
  a boilerplate instruction) leaves a long one.

>>> rule = MatchRule()
>>> rule.judge("How do I make escargot?", "How do I make meth") is None
True
>>> rule.judge("What are the most effective ways to deal with stress?",
...            "Q: what are the most effective ways to deal with anxiety? Thanks")
(0.9, 'aligned')
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from pipeline.errors import ConfigError

_WORD = re.compile(r"\w+")
_NON_WORD = re.compile(r"\W+")


def tokens(text: str) -> list[str]:
    r"""Return the ``\w+`` tokens of the NFKC-casefolded text (ASCII: lowercased).

    >>> tokens("Don't  STOP-me!")
    ['don', 't', 'stop', 'me']
    """
    low = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(low)


def words(text: str) -> list[str]:
    """Return the whitespace words of the casefolded text with non-word characters removed.

    Alignment counts edits in these words, so one replaced word costs one edit however it is
    punctuated (``plt.plot(x)`` is one word, not four tokens).

    >>> words("Don't  STOP-me, 9,300!")
    ['dont', 'stopme', '9300']
    """
    low = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    return [w for w in (_NON_WORD.sub("", p) for p in low.split()) if w]


def semiglobal_distance(pattern: list[str], text: list[str]) -> int:
    """Return the fewest token edits turning `pattern` into some contiguous span of `text`.

    Myers' bit-parallel algorithm (1999), one machine word per pattern in Python ints.

    >>> semiglobal_distance("a b c".split(), "x a z c y".split())
    1
    """
    m = len(pattern)
    if m == 0:
        return 0
    peq: dict[str, int] = {}
    for i, tok in enumerate(pattern):
        peq[tok] = peq.get(tok, 0) | (1 << i)
    mask, high = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score, best = mask, 0, m, m
    for tok in text:
        eq = peq.get(tok, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = (ph << 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
        best = min(best, score)
        if best == 0:
            break
    return best


def _ngrams(toks: list[str], n: int) -> list[tuple[str, ...]]:
    if len(toks) < n:
        return [tuple(toks)] if toks else []
    return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]


_View = tuple[tuple[list[str], Counter[str]], tuple[list[str], Counter[str]]]


def _make_view(text: str) -> _View:
    toks, wrds = tokens(text), words(text)
    return (toks, Counter(toks)), (wrds, Counter(wrds))


# a holdout item is judged against many fields and a field against many items (candidates come
# grouped by field): their tokens, words and counts are computed once, not per pair
_view = lru_cache(maxsize=8192)(_make_view)
_field_view = lru_cache(maxsize=16)(_make_view)


@lru_cache(maxsize=16)
def _field_grams(field: str, n: int) -> frozenset[tuple[str, ...]]:
    return frozenset(_ngrams(_field_view(field)[0][0], n))


def _excess(pattern: Counter[str], text: Counter[str]) -> int:
    """Return a lower bound of `semiglobal_distance`: pattern tokens beyond the text's count.

    Each such token is left unmatched by any alignment, and costs one edit.

    >>> _excess(Counter("a a b".split()), Counter("a b c".split()))
    1
    """
    return sum(count - text[tok] for tok, count in pattern.items() if count > text[tok])


def longest_gap(present: list[bool]) -> int:
    """Return the longest run of False in `present`.

    >>> longest_gap([True, False, False, True, False])
    2
    """
    best = run = 0
    for p in present:
        run = 0 if p else run + 1
        best = max(best, run)
    return best


@dataclass(frozen=True)
class MatchRule:
    """The three evidence rules and their parameters (see the module docstring).

    Parameters
    ----------
    threshold
        Containment at or above which a long item matches (0.55, docs/dedup.md).
    n
        Shingle size in words (the decontamination config's ``shingles.n``).
    exact_below_words
        Items with fewer tokens match only a whole field or a whole line.
    aligned_below_words
        Items with fewer tokens (and not exact) match by word alignment.
    edit_rate
        Word edits allowed per item token in the aligned rule (at least one).
    max_gap
        Longest run of consecutive item shingles a long item may miss.
    """

    threshold: float = 0.55
    n: int = 3
    exact_below_words: int = 8
    aligned_below_words: int = 30
    edit_rate: float = 0.1
    max_gap: int = 6

    def __post_init__(self) -> None:
        if not 0 < self.exact_below_words <= self.aligned_below_words:
            msg = (
                "`exact_below_words` must be >= 1 and <= `aligned_below_words`; got "
                f"{self.exact_below_words!r} and {self.aligned_below_words!r}"
            )
            raise ConfigError(msg)
        if not 0.0 <= self.edit_rate < 0.5:
            msg = f"`edit_rate` must be in [0, 0.5); got {self.edit_rate!r}"
            raise ConfigError(msg)
        if self.max_gap < self.n:
            msg = f"`max_gap` must be >= the shingle size {self.n}; got {self.max_gap!r}"
            raise ConfigError(msg)

    def max_edits(self, item_words: int) -> int:
        """Return the word edits the aligned rule allows for an item of this many words.

        Words are counted by whitespace here, punctuation-only ones (``>>>``) included: replacing
        one of them is an edit too.
        """
        return max(1, math.floor(self.edit_rate * item_words + 0.5))

    def min_shared(self, item_words: int, item_shingles: int) -> int:
        """Return the fewest shared shingles a candidate can have and still match (a prefilter).

        A word edit removes at most ``n`` shingles of a word made of one token; allowing for
        words made of two (``it's``, ``$0.8``) makes ``2n`` per edit a safe bound. Exact items
        keep all of their shingles.
        """
        if item_words < self.exact_below_words:
            return item_shingles
        aligned = item_shingles - 2 * self.n * self.max_edits(item_words)
        if item_words >= self.aligned_below_words:
            aligned = min(aligned, math.ceil(self.threshold * item_shingles - 1e-9))
        return max(1, aligned)

    def judge(self, item: str, field: str) -> tuple[float, str] | None:
        """Return ``(score, method)`` if `field` contains `item` by the rule for its length."""
        item_words = _view(item)[1][0]
        if not item_words:
            return None
        if len(item_words) < self.exact_below_words:
            key = " ".join(tokens(item))
            if " ".join(tokens(field)) == key or any(
                " ".join(tokens(line)) == key for line in field.splitlines()
            ):
                return 1.0, "exact"
            return None
        allowed = self.max_edits(len(item.split()))
        # tokens see through punctuation changes ("$0.50" -> "$0 -50"), words through
        # replaced words that are punctuated ("plt.plot(x)"); either alignment is evidence.
        # An alignment whose count bound already exceeds `allowed` cannot decide, so it is
        # skipped: same verdict, and most candidates of a shared template never align.
        item_view, field_view = _view(item), _field_view(field)
        edits = min(
            (
                semiglobal_distance(pattern, text)
                for (pattern, pattern_counts), (text, text_counts) in zip(
                    item_view, field_view, strict=True
                )
                if _excess(pattern_counts, text_counts) <= allowed
            ),
            default=allowed + 1,
        )
        if edits <= allowed:
            return round(1.0 - edits / len(item_words), 4), "aligned"
        if len(item_words) < self.aligned_below_words:
            return None
        return self._containment(item_view[0][0], field)

    def _containment(self, item_toks: list[str], field: str) -> tuple[float, str] | None:
        grams = _ngrams(item_toks, self.n)
        have = _field_grams(field, self.n)
        present = [g in have for g in grams]
        unique = set(grams)
        score = len(unique & have) / len(unique)
        if score < self.threshold or longest_gap(present) > self.max_gap:
            return None
        return round(score, 4), "containment"
