"""Exact dedup on normalized content (NFKC, casefold, whitespace collapsed).

`tag_exact_duplicates` keys every record by the xxh3-128 of its normalized text fields and,
within each group, keeps the record with the lowest ``dedup_keeper_rank``; the others get
``exact_drop_rule = exact_dedup_v1`` and ``exact_dup_of`` = the keeper's record_id.
"""

from __future__ import annotations

import json

import polars as pl
import xxhash

from pipeline.records.text import normalize_text

EXACT_RULE = "exact_dedup_v1"


def content_key(messages: list[dict], chosen: str | None, rejected: str | None) -> str:
    """Return the normalized-content key of a record: roles and normalized texts, hashed."""
    payload = json.dumps(
        [
            [(m["role"], normalize_text(m["content"])) for m in messages],
            normalize_text(chosen) if chosen is not None else None,
            normalize_text(rejected) if rejected is not None else None,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


def content_keys(frame: pl.DataFrame) -> pl.Series:
    """Return ``dedup_content_key``: the `content_key` of every record of `frame`."""
    keys = [
        content_key(m, c, r)
        for m, c, r in zip(
            frame.get_column("messages").to_list(),
            frame.get_column("chosen").to_list(),
            frame.get_column("rejected").to_list(),
            strict=True,
        )
    ]
    return pl.Series("dedup_content_key", keys, dtype=pl.String)


def tag_exact_duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``dedup_content_key`` and the ``exact_drop_*`` / ``exact_dup_of`` gate columns.

    A frame that already has ``dedup_content_key`` (computed per shard, see `pipeline.build.spill`)
    needs no text columns: only the key, ``record_id`` and ``dedup_keeper_rank`` are read.
    """
    tagged = frame
    if "dedup_content_key" not in frame.columns:
        tagged = frame.with_columns(content_keys(frame))
    # Sort once by (key, keeper rank): a group's first row is its keeper. No window functions,
    # so memory stays a few narrow columns even on millions of rows.
    ordered = tagged.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"),
        pl.col("dedup_content_key"),
        pl.col("dedup_keeper_rank"),
        pl.col("record_id"),
    ).sort(["dedup_content_key", "dedup_keeper_rank"])
    first = pl.col("dedup_content_key") != pl.col("dedup_content_key").shift(1)
    decided = ordered.select(
        pl.col("_i"),
        first.fill_null(True).alias("_keep"),
        pl.when(first.fill_null(True)).then(pl.col("record_id")).forward_fill().alias("_keeper"),
    ).sort("_i")
    is_dup = ~decided.get_column("_keep")
    return tagged.with_columns(
        pl.when(is_dup).then(pl.lit(EXACT_RULE)).otherwise(None).alias("exact_drop_rule"),
        pl.when(is_dup).then(pl.lit("exact_duplicate")).otherwise(None).alias("exact_drop_reason"),
        pl.when(is_dup).then(decided.get_column("_keeper")).otherwise(None).alias("exact_dup_of"),
    )
