"""Exact dedup on content: prompts normalized (NFKC, casefold, whitespace), replies as written.

`tag_exact_duplicates` keys every record by the xxh3-128 of its content key and, within each
group, keeps the record with the lowest ``dedup_keeper_rank``; the others get
``exact_drop_rule = exact_dedup_v2``, ``exact_dup_of`` = the keeper's record_id and
``exact_detail`` naming the keeper's source, file, row and license (`pipeline.stages.dedup.keeper`).

Prompt turns (system, user) are normalized as before, so "What is 2+2?" and "what is  2+2?"
are one prompt (kept as it was; not re-measured). Replies (assistant turns, ``chosen``,
``rejected``) keep their letter case and each line's indentation (`reply_text`); only spacing
inside a line, trailing spaces and blank lines at the ends are normalized. Two answers that
differ in case ("Yes" vs "yes" to a task about case) or in indentation (code) are different
answers, and both are kept.
"""

from __future__ import annotations

import json
import re
import unicodedata

import polars as pl
import xxhash

from pipeline.records.columns import message_columns
from pipeline.records.text import normalize_text
from pipeline.stages.dedup.keeper import keeper_details

EXACT_RULE = "exact_dedup_v2"


_INNER_SPACE = re.compile(r"[ \t]+")
# An ASCII text holding none of these (nor a trailing space) has no line `reply_text` changes: no
# run of spaces or tab to collapse, no whitespace at a line's end (str.isspace in ASCII).
_CHANGING = ("  ", " \n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


def reply_text(text: str) -> str:
    """Return a reply as compared: NFC, case and each line's indentation kept, other spacing collapsed.

    >>> reply_text("  if x:\\n      return  1  \\n")
    '  if x:\\n      return 1'
    """
    text = unicodedata.normalize("NFC", text)
    if text.isascii() and not text.endswith(" ") and not any(s in text for s in _CHANGING):
        return text.strip("\n")  # no line changes (most prose: 3x faster than line by line)
    lines = []
    for line in text.split("\n"):
        if "\t" in line or "  " in line or line[-1:].isspace():  # else the line stays as it is
            rest = line.lstrip(" \t")
            indent = line[: len(line) - len(rest)]
            line = indent + _INNER_SPACE.sub(" ", rest).rstrip()
        lines.append(line)
    return "\n".join(lines).strip("\n")


# `json.dumps` with these options builds a new encoder per call (a quarter of a key's cost)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def content_key(messages: list[dict], chosen: str | None, rejected: str | None) -> str:
    """Return the content key of a record: roles, normalized prompts and exact replies, hashed.

    >>> content_key([{"role": "assistant", "content": "Yes"}], None, None) == content_key(
    ...     [{"role": "assistant", "content": "yes"}], None, None)
    False
    """
    turns = [(m["role"], m["content"]) for m in messages]
    return _key([(role, _turn_text(role, text)) for role, text in turns], chosen, rejected)


def _turn_text(role: str | None, text: str) -> str:
    return reply_text(text) if role == "assistant" else normalize_text(text)


def _key(turns: list[tuple[str | None, str]], chosen: str | None, rejected: str | None) -> str:
    """Hash the payload ``[[[role, text], ...], chosen, rejected]`` (JSON, compact, UTF-8)."""
    payload = _ENCODE(
        [
            turns,
            reply_text(chosen) if chosen is not None else None,
            reply_text(rejected) if rejected is not None else None,
        ]
    )
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


def content_keys(frame: pl.DataFrame) -> pl.Series:
    """Return ``dedup_content_key``: the `content_key` of every record of `frame`.

    The turns are read as flat columns (`message_columns`), not as one dict per message; the
    keys are `content_key`'s (tests/pipeline/stages/dedup/test_exact.py).
    """
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
        pl.when(first.fill_null(True)).then(pl.col("_i")).forward_fill().alias("_keeper_row"),
    ).sort("_i")
    is_dup = ~decided.get_column("_keep")
    dropped = decided.filter(is_dup)
    detail = keeper_details(
        tagged,
        dropped.get_column("_i").to_list(),
        dropped.get_column("_keeper_row").to_list(),
        name="exact_detail",
    )
    return tagged.with_columns(
        pl.when(is_dup).then(pl.lit(EXACT_RULE)).otherwise(None).alias("exact_drop_rule"),
        pl.when(is_dup).then(pl.lit("exact_duplicate")).otherwise(None).alias("exact_drop_reason"),
        pl.when(is_dup).then(decided.get_column("_keeper")).otherwise(None).alias("exact_dup_of"),
        detail,
    )
