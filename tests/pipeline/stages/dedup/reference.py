"""Definitions replaced by faster ones in issue 15 (pool preparation), kept as test oracles.

Each is the code of main at bacf9fe, unchanged but for names.
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from pipeline.records.columns import message_columns, optional_column
from pipeline.stages.dedup.exact import _key, _turn_text
from pipeline.stages.dedup.near import MERGE_DOCS, REPLY_BIT
from pipeline.stages.dedup.shingles import (
    MinHashConfig,
    ShingleSets,
    compute_shingle_sets,
    concat_shingle_sets,
    unique_per_doc,
)


def record_shingle_sets(frame: pl.DataFrame, *, config: MinHashConfig) -> ShingleSets:
    """Each side made unique per `BATCH_DOCS` batch, then both sides merged and made unique."""
    prompts, replies = record_sides(frame)  # this module's
    p = compute_shingle_sets(prompts, config=config)
    r = compute_shingle_sets(replies, config=config)
    p_docs, r_docs = p.doc_ids(), r.doc_ids()
    parts = []
    for lo in range(0, len(prompts), MERGE_DOCS):
        hi = min(lo + MERGE_DOCS, len(prompts))
        ps, rs = slice(p.offsets[lo], p.offsets[hi]), slice(r.offsets[lo], r.offsets[hi])
        hashes = np.concatenate([p.hashes[ps] & ~REPLY_BIT, r.hashes[rs] | REPLY_BIT])
        docs = np.concatenate([p_docs[ps], r_docs[rs]]) - lo
        parts.append(unique_per_doc(hashes, docs, hi - lo))
    return concat_shingle_sets(parts) if len(parts) != 1 else parts[0]


def content_keys(frame: pl.DataFrame) -> pl.Series:
    """`content_key` of every record, one `_turn_text` and one `_key` call per turn / record."""
    turns = message_columns(frame)
    texts = list(map(_turn_text, turns.roles, turns.contents))
    pairs = list(zip(turns.roles, texts, strict=True))
    keys = [
        _key(pairs[a:b], chosen, rejected)
        for (a, b), chosen, rejected in zip(
            turns.spans(),
            frame.get_column("chosen").to_list(),
            frame.get_column("rejected").to_list(),
            strict=True,
        )
    ]
    return pl.Series("dedup_content_key", keys, dtype=pl.String)


def expand_postings(lo, counts, fields, index):
    """`pipeline.stages.decontam.match._expand` with `np.unique` (quicksort)."""
    n_items = len(index.items)
    total = int(counts.sum())
    first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    items = index.post_item[first + np.arange(total)].astype(np.int64)
    keys, shared = np.unique(np.repeat(fields, counts) * n_items + items, return_counts=True)
    return keys // n_items, keys % n_items, shared


def record_sides(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Each record's prompt and reply side, joined row by row from the flat turns."""
    turns = message_columns(frame)
    chosen, rejected = optional_column(frame, "chosen"), optional_column(frame, "rejected")
    contents, spans = turns.contents, turns.spans()
    is_reply = [role == "assistant" for role in turns.roles]
    is_prompt = [not reply for reply in is_reply]
    prompts = ["\n".join(itertools.compress(contents[a:b], is_prompt[a:b])) for a, b in spans]
    replies = []
    for (a, b), c, r in zip(spans, chosen, rejected, strict=True):
        reply = list(itertools.compress(contents[a:b], is_reply[a:b]))
        if c is not None:
            reply.append(c)
        if r is not None:
            reply.append(r)
        replies.append("\n".join(reply))
    return prompts, replies
