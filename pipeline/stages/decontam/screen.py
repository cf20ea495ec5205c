r"""An exact pre-check of the match rule, over all the candidates of one field at once.

A field that shares a template with many holdout items (an instruction preamble, a benchmark's
boilerplate) is a candidate for every one of them, and almost none of those candidates match:
on the 100 k scale input ~100 k `MatchRule.judge` calls gave ~500 findings, and judging them
one at a time in Python was most of the decontamination CPU. `worth_judging` answers, for all
the candidate items of one field in a few numpy operations, which ones the rule could accept;
only those are judged. It drops a candidate only where `MatchRule.judge` provably returns None,
so the findings are the same (tests compare both on real holdouts and on generated text):

- an item with no word never matches;
- the rule tries an alignment (tokens or words) only where its count bound `_excess` is within
  the allowed edits; the screen computes the same counts, vectorized over the candidates;
- with no alignment tried, an item of fewer than ``aligned_below_words`` words does not match;
- a longer item then needs containment ``>= threshold`` of its distinct token n-grams. The
  postings count ``shared`` distinct shingle *hashes* of the item in the field. Tokens are the
  same in both (``\w+`` of the NFKC-casefolded text, `pipeline.stages.dedup.shingles`), so equal
  n-grams have equal hashes; where the item's distinct n-grams have distinct hashes (checked:
  their number equals the item's shingle count) the n-grams shared are at most ``shared``, and
  ``shared / size < threshold`` rules containment out. An item whose hashes collide is judged.

Items are described once per process and holdout set (`item_table`: a shard task in a worker
process gets its own copy of the index, and describing 2,000 items was a third of a 50 k-record
shard's decontamination), lazily, only the items that turn up as candidates.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xxhash

from pipeline.stages.decontam.evidence import MatchRule, _field_view, _ngrams, _view


@dataclass(frozen=True)
class _Item:
    """What the screen needs of one holdout item (views as in `MatchRule.judge`)."""

    words: int  # ``len(words(item))``: picks the rule
    allowed: int  # word edits an alignment may use
    distinct_grams: int  # distinct token n-grams (the containment denominator)
    token_ids: np.ndarray  # vocabulary ids of the distinct tokens, and their counts
    token_counts: np.ndarray
    word_ids: np.ndarray
    word_counts: np.ndarray


@dataclass
class ItemTable:
    """Per-item token and word counts over one shared vocabulary, built as items turn up."""

    texts: Sequence[str]
    rule: MatchRule
    vocab: dict[str, int] = field(default_factory=dict)
    items: dict[int, _Item] = field(default_factory=dict)

    def item(self, i: int) -> _Item:
        """Return item `i`'s description (computed once)."""
        found = self.items.get(i)
        if found is None:
            found = self.items[i] = self._describe(self.texts[i])
        return found

    def _ids(self, counts: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocab
        ids = [vocab.setdefault(tok, len(vocab)) for tok in counts]
        return np.array(ids, dtype=np.int64), np.array(list(counts.values()), dtype=np.int64)

    def _describe(self, text: str) -> _Item:
        (toks, tok_counts), (wrds, word_counts) = _view(text)
        token_ids, token_counts = self._ids(tok_counts)
        word_ids, word_counts_ = self._ids(word_counts)
        return _Item(
            words=len(wrds),
            allowed=self.rule.max_edits(len(text.split())),
            distinct_grams=len(set(_ngrams(toks, self.rule.n))),
            token_ids=token_ids,
            token_counts=token_counts,
            word_ids=word_ids,
            word_counts=word_counts_,
        )

    def field_counts(self, counts: Counter[str]) -> np.ndarray:
        """Return a field's counts as a dense vector over the vocabulary (other tokens: dropped)."""
        vocab = self.vocab
        dense = np.zeros(len(vocab) + 1, dtype=np.int64)  # the last slot: not in the vocabulary
        ids = np.fromiter((vocab.get(t, -1) for t in counts), dtype=np.int64, count=len(counts))
        dense[ids] = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        dense[-1] = 0
        return dense


_TABLES: dict[tuple[str, MatchRule], ItemTable] = {}  # this process's tables, newest last
_KEEP_TABLES = 4


def item_table(texts: Sequence[str], rule: MatchRule) -> ItemTable:
    """Return the table of these item texts under `rule`, the one this process already filled
    if it has one (keyed by a digest of the texts: an unpickled index is a new object)."""
    key = (xxhash.xxh3_128_hexdigest(json.dumps(list(texts)).encode()), rule)
    table = _TABLES.pop(key, None) or ItemTable(tuple(texts), rule)
    _TABLES[key] = table
    while len(_TABLES) > _KEEP_TABLES:
        del _TABLES[next(iter(_TABLES))]
    return table


def _excess(items: list[_Item], dense: np.ndarray, view: str) -> np.ndarray:
    """Return `evidence._excess` of every item against one field's dense counts."""
    ids = [getattr(it, f"{view}_ids") for it in items]
    counts = np.concatenate([getattr(it, f"{view}_counts") for it in items])
    over = np.maximum(counts - dense[np.concatenate(ids)], 0)
    sums = np.concatenate(([0], np.cumsum(over)))
    bounds = np.concatenate(([0], np.cumsum([len(a) for a in ids])))
    return sums[bounds[1:]] - sums[bounds[:-1]]


def worth_judging(
    table: ItemTable, text: str, items: np.ndarray, shared: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Return a mask of the candidate `items` of field `text` that `MatchRule.judge` could accept.

    `shared` is each candidate's number of shared shingle hashes and `sizes` each item's number
    of shingles (`HoldoutIndex.sizes`). False means judge returns None (module docstring).
    """
    rule = table.rule
    described = [table.item(i) for i in items.tolist()]
    n_words = np.fromiter((it.words for it in described), dtype=np.int64, count=len(described))
    worth = (n_words > 0) & (n_words < rule.exact_below_words)  # exact items: judged
    long = np.flatnonzero(n_words >= rule.exact_below_words)
    if len(long) == 0:
        return worth
    chosen = [described[k] for k in long.tolist()]
    (_, tok_counts), (_, word_counts) = _field_view(text)
    allowed = np.fromiter((it.allowed for it in chosen), dtype=np.int64, count=len(chosen))
    aligns = _excess(chosen, table.field_counts(tok_counts), "token") <= allowed
    aligns |= _excess(chosen, table.field_counts(word_counts), "word") <= allowed
    grams = np.fromiter((it.distinct_grams for it in chosen), dtype=np.int64, count=len(chosen))
    hashes = sizes[items[long]]
    contained = (n_words[long] >= rule.aligned_below_words) & (
        (grams != hashes) | (shared[long] / np.maximum(hashes, 1) >= rule.threshold)
    )
    worth[long] = aligns | contained
    return worth
