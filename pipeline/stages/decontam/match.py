"""Decontamination: find evaluation holdout items inside training text fields.

Each text field of a training record is checked against every holdout item separately.

Candidates come from an inverted index over the holdout side (small): sorted
``(shingle hash, item)`` postings (`pipeline.stages.decontam.index`). Every word 3-gram of a
field is looked up with ``np.searchsorted``; the hits, counted per ``(field, item)``, are the
exact numbers of shared shingles. A pair goes on to the match rule only when it shares at least
the item's ``need`` shingles (a bound no true match can fall below), and the rule
(`pipeline.stages.decontam.evidence`) decides on the two texts: **exact** for items under 8
words, **aligned** (at most 10% of the words edited) for longer ones, and **containment** >=
0.55 with no long gap for items of 30 words or more. Containment is asymmetric (a short item
inside a long field), which Jaccard LSH cannot find; the postings can. Before the rule, the
candidates of each field are screened at once (`pipeline.stages.decontam.screen`): a candidate
is skipped only where the rule provably rejects it, so the findings are the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from pipeline.errors import ConfigError
from pipeline.stages.decontam.index import (
    HASH_BITS,
    PRESENCE_BITS,
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    load_holdout_index,
    shingle_slug,
)
from pipeline.stages.decontam.screen import ItemTable, worth_judging
from pipeline.stages.dedup.shingles import ShingleSets, compute_shingle_sets

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

RULE_ID = "decontam_v2"
REASON = "contaminated"
_MAX_PAIRS = 8_000_000  # postings expanded at once; bounds memory per chunk of fields
# fields shingled at once (in full batches), then matched in chunks of `_MAX_PAIRS`; a few MB
_SHINGLE_FIELDS = 4096

__all__ = [
    "REASON",
    "RULE_ID",
    "DecontamConfig",
    "Finding",
    "HoldoutIndex",
    "HoldoutItem",
    "find_contamination",
    "load_holdout_index",
    "tag_contamination",
]


class Finding(NamedTuple):
    """One field of one training record found to contain one holdout item."""

    record: int  # position of the record in the caller's sequence
    field: str
    holdout: str
    holdout_file: str
    holdout_row: int
    score: float
    method: str  # "exact" | "aligned" | "containment"
    turn: int | None = None  # the item's turn (per-turn holdouts), else None


def _count_pairs(
    field_sets: ShingleSets, index: HoldoutIndex
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (field, item, shared shingle count) for every pair sharing a posting, fields in
    order, a chunk of fields at a time: at most `_MAX_PAIRS` postings are expanded at once (a
    single field may need more). Chunks are cut by the postings each field really hits, so a
    block of fields that hits few of them is one chunk (cutting by the most a field could hit
    made ~60-field chunks, and their fixed cost was most of this step)."""
    shift = np.uint64(HASH_BITS - PRESENCE_BITS)
    maybe = np.flatnonzero(index.presence[field_sets.hashes >> shift])
    needles = field_sets.hashes[maybe]
    lo = np.searchsorted(index.post_hash, needles, side="left")
    counts = np.searchsorted(index.post_hash, needles, side="right") - lo
    hit = counts > 0
    lo, counts, fields = lo[hit], counts[hit], field_sets.doc_ids()[maybe[hit]]
    per_field = np.bincount(fields, weights=counts, minlength=len(field_sets)).astype(np.int64)
    for first, last in _chunks(per_field, _MAX_PAIRS):
        a, b = np.searchsorted(fields, [first, last])
        if b > a:
            yield _expand(lo[a:b], counts[a:b], fields[a:b], index)


def _expand(
    lo: np.ndarray, counts: np.ndarray, fields: np.ndarray, index: HoldoutIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (field, item, shared) of the posting runs ``lo[k]:lo[k] + counts[k]`` of `fields`."""
    n_items = len(index.items)
    total = int(counts.sum())
    first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    items = index.post_item[first + np.arange(total)].astype(np.int64)
    keys = np.repeat(fields, counts) * n_items + items
    # `np.unique(keys, return_counts=True)`, sorting with timsort: the keys are runs already
    # sorted (fields ascending, each posting run's items ascending), which it merges ~5x
    # faster than the default quicksort sorts them
    keys.sort(kind="stable")
    edge = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=edge[1:])
    starts = np.flatnonzero(edge)
    keys, shared = keys[starts], np.diff(np.append(starts, len(keys)))
    return keys // n_items, keys % n_items, shared


def _chunks(sizes: np.ndarray, budget: int) -> Iterable[tuple[int, int]]:
    """Yield [lo, hi) ranges of fields whose total size stays within `budget` (at least 1)."""
    if int(sizes.sum()) <= budget:  # the usual case: one chunk, no loop
        yield 0, len(sizes)
        return
    lo, acc = 0, 0
    for i, size in enumerate(sizes.tolist()):
        if acc and acc + size > budget:
            yield lo, i
            lo, acc = i, 0
        acc += size
    if lo < len(sizes):
        yield lo, len(sizes)


def find_contamination(
    fields: Sequence[tuple[int, str, str]],
    *,
    index: HoldoutIndex,
    config: DecontamConfig,
    screen: bool = True,
) -> list[Finding]:
    """Return every (field, holdout item) pair the match rule accepts.

    Parameters
    ----------
    fields
        ``(record, field name, text)`` triples; ``record`` is the caller's record key.
    index
        The holdout index (built with the same config, see `HoldoutIndex.shingle_slug`).
    config
        Shingling and the match rule.
    screen
        Skip the candidates `pipeline.stages.decontam.screen` proves the rule rejects (the
        same findings; False judges every candidate, the tests' oracle).
    """
    if index.shingle_slug != shingle_slug(config):
        msg = (
            f"holdout index config `{index.shingle_slug}` differs from the config's "
            f"`{shingle_slug(config)}`"
        )
        raise ConfigError(msg)
    findings: list[Finding] = []
    texts = [text for _, _, text in fields]
    rule = config.rule
    table = index.item_table(rule) if screen else None
    for start in range(0, len(texts), _SHINGLE_FIELDS):
        block = compute_shingle_sets(texts[start : start + _SHINGLE_FIELDS], config=config.shingles)
        for f_idx, i_idx, shared in _count_pairs(block, index):
            worth = shared >= index.need[i_idx]
            pairs = (f_idx[worth] + start, i_idx[worth], shared[worth])
            for f, i in _judged_pairs(pairs, texts, index, table):
                verdict = rule.judge(index.items[i].text, texts[f])
                if verdict is not None:
                    findings.append(_finding(fields[f], index.items[i], *verdict))
    return findings


def _judged_pairs(
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    texts: Sequence[str],
    index: HoldoutIndex,
    table: ItemTable | None,
) -> Iterable[tuple[int, int]]:
    """Yield the (field, item) candidates worth judging, in order: all of them without a
    `table`, else per field the ones `pipeline.stages.decontam.screen.worth_judging` cannot
    rule out (the same findings, see there)."""
    f_idx, i_idx, shared = pairs
    if table is None or len(f_idx) == 0:
        yield from zip(f_idx.tolist(), i_idx.tolist(), strict=True)
        return
    cuts = np.flatnonzero(f_idx[1:] != f_idx[:-1]) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(f_idx)], strict=True):
        f = int(f_idx[lo])
        items = i_idx[lo:hi]
        keep = worth_judging(table, texts[f], items, shared[lo:hi], index.sizes)
        for i in items[keep].tolist():
            yield f, i


def _finding(
    record_field: tuple[int, str, str], item: HoldoutItem, score: float, method: str
) -> Finding:
    record, name, _ = record_field
    return Finding(record, name, item.holdout, item.file, item.row, float(score), method, item.turn)


def _best_per_record(findings: Iterable[Finding]) -> dict[int, tuple[Finding, int]]:
    """Return, per record, its strongest finding (ties: lowest holdout, row) and finding count."""
    best: dict[int, tuple[Finding, int]] = {}
    for f in findings:
        current = best.get(f.record)
        count = current[1] + 1 if current else 1
        if current is None or (-f.score, f.holdout, f.holdout_row, f.field) < (
            -current[0].score,
            current[0].holdout,
            current[0].holdout_row,
            current[0].field,
        ):
            best[f.record] = (f, count)
        else:
            best[f.record] = (current[0], count)
    return best


def tag_contamination(
    frame: pl.DataFrame, *, index: HoldoutIndex, config: DecontamConfig
) -> pl.DataFrame:
    """Add ``decontam_*`` columns: which holdout item (if any) each record contains.

    Every text field of a record (`iter_text_fields`) is matched separately; a record with any
    finding gets ``decontam_drop_rule = "decontam_v1"``, its strongest finding in
    ``decontam_holdout``, ``decontam_holdout_row``, ``decontam_score``, and JSON
    ``decontam_detail`` (field, method, holdout file, number of findings). Other rows get nulls.
    """
    import polars as pl  # here: `mixgate audit` (no frames) starts without polars

    from pipeline.records.columns import text_fields

    fields = text_fields(frame)  # `iter_text_fields` of every row, read as flat columns
    best = _best_per_record(find_contamination(fields, index=index, config=config))
    rows = [best.get(i) for i in range(frame.height)]
    detail = [
        json.dumps(
            {
                "field": b[0].field,
                "method": b[0].method,
                "turn": b[0].turn,
                "holdout_file": b[0].holdout_file,
                "findings": b[1],
            },
            sort_keys=True,
        )
        if b
        else None
        for b in rows
    ]
    return frame.with_columns(
        pl.Series("decontam_drop_rule", [RULE_ID if b else None for b in rows], dtype=pl.String),
        pl.Series("decontam_drop_reason", [REASON if b else None for b in rows], dtype=pl.String),
        pl.Series("decontam_holdout", [b[0].holdout if b else None for b in rows], dtype=pl.String),
        pl.Series(
            "decontam_holdout_row", [b[0].holdout_row if b else None for b in rows], dtype=pl.Int64
        ),
        pl.Series("decontam_score", [b[0].score if b else None for b in rows], dtype=pl.Float64),
        pl.Series("decontam_detail", detail, dtype=pl.String),
    )
