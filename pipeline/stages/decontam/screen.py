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


@dataclass
class ItemTable:
    """Per-item token and word counts over one shared vocabulary, built as items turn up.

    Per item ``i`` (views as in `MatchRule.judge`): ``words[i]`` (``len(words(item))``, -1
    while not described), ``allowed[i]`` word edits, ``grams[i]`` distinct token n-grams, and
    per view (0: tokens, 1: words) the vocabulary ids of its distinct entries and their counts,
    stored flat in the order items were described (``lengths[view, i]`` entries from
    ``starts[view, i]``), so `excess` gathers any items' entries in one numpy indexing.
    """

    texts: Sequence[str]
    rule: MatchRule
    vocab: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.texts)
        self.words = np.full(n, -1, dtype=np.int64)
        self.allowed = np.zeros(n, dtype=np.int64)
        self.grams = np.zeros(n, dtype=np.int64)
        self.lengths = np.zeros((2, n), dtype=np.int64)
        self.starts = np.zeros((2, n), dtype=np.int64)
        # per view: flat ids and counts, and the parts described since they were last joined
        self._flat = [(_EMPTY, _EMPTY), (_EMPTY, _EMPTY)]
        self._pending: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self._size = [0, 0]

    def describe(self, items: np.ndarray) -> None:
        """Describe the `items` not yet described."""
        for i in items[self.words[items] < 0].tolist():
            text = self.texts[i]
            (toks, tok_counts), (wrds, word_counts) = _view(text)
            for view, counts in enumerate((tok_counts, word_counts)):
                ids, values = self._ids(counts)
                self._pending[view].extend((ids, values))
                self.starts[view, i] = self._size[view]
                self.lengths[view, i] = len(counts)
                self._size[view] += len(counts)
            self.allowed[i] = self.rule.max_edits(len(text.split()))
            self.grams[i] = len(set(_ngrams(toks, self.rule.n)))
            self.words[i] = len(wrds)

    def _ids(self, counts: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocab
        ids = [vocab.setdefault(tok, len(vocab)) for tok in counts]
        return np.array(ids, dtype=np.int64), np.array(list(counts.values()), dtype=np.int64)

    def flat(self, view: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the flat ids and counts of `view` of every item described so far."""
        pending = self._pending[view]
        if pending:
            ids, counts = self._flat[view]
            self._flat[view] = (
                np.concatenate([ids, *pending[0::2]]),
                np.concatenate([counts, *pending[1::2]]),
            )
            pending.clear()
        return self._flat[view]

    def field_counts(self, counts: Counter[str]) -> np.ndarray:
        """Return a field's counts as a dense vector over the vocabulary (other tokens: dropped)."""
        vocab = self.vocab
        dense = np.zeros(len(vocab) + 1, dtype=np.int64)  # the last slot: not in the vocabulary
        ids = np.fromiter((vocab.get(t, -1) for t in counts), dtype=np.int64, count=len(counts))
        dense[ids] = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
        dense[-1] = 0
        return dense

    def excess(self, view: int, items: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Return `evidence._excess` of every item in `items` (described) against one field's
        dense counts of `view`."""
        ids, counts = self.flat(view)
        lengths = self.lengths[view, items]
        bounds = np.concatenate(([0], np.cumsum(lengths)))
        at = np.repeat(self.starts[view, items] - bounds[:-1], lengths) + np.arange(bounds[-1])
        over = counts[at] - dense[ids[at]]
        np.maximum(over, 0, out=over)
        sums = np.concatenate(([0], np.cumsum(over)))
        return sums[bounds[1:]] - sums[bounds[:-1]]


_EMPTY = np.zeros(0, dtype=np.int64)


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


def worth_judging(
    table: ItemTable, text: str, items: np.ndarray, shared: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """Return a mask of the candidate `items` of field `text` that `MatchRule.judge` could accept.

    `shared` is each candidate's number of shared shingle hashes and `sizes` each item's number
    of shingles (`HoldoutIndex.sizes`). False means judge returns None (module docstring).
    """
    rule = table.rule
    table.describe(items)
    n_words = table.words[items]
    worth = (n_words > 0) & (n_words < rule.exact_below_words)  # exact items: judged
    long = np.flatnonzero(n_words >= rule.exact_below_words)
    if len(long) == 0:
        return worth
    chosen = items[long]
    (_, tok_counts), (_, word_counts) = _field_view(text)
    allowed = table.allowed[chosen]
    aligns = table.excess(0, chosen, table.field_counts(tok_counts)) <= allowed
    aligns |= table.excess(1, chosen, table.field_counts(word_counts)) <= allowed
    hashes = sizes[chosen]
    contained = (n_words[long] >= rule.aligned_below_words) & (
        (table.grams[chosen] != hashes) | (shared[long] / np.maximum(hashes, 1) >= rule.threshold)
    )
    worth[long] = aligns | contained
    return worth
