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

import itertools
import json
import re
import unicodedata

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

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

    The JSON payloads are built as columns (`_turn_texts`, `_json`); only the hash runs per
    record. The keys are `content_key`'s (tests/pipeline/stages/dedup/test_exact.py; the
    per-row definition this replaced is the oracle in tests/pipeline/stages/dedup/reference.py).
    """
    roles, contents, bounds = _flat_turns(frame)
    texts = _turn_texts(contents, roles.eq_missing("assistant"))
    turn = pl.concat_str(
        [pl.lit("["), _json_or_null(roles), pl.lit(","), _json(texts), pl.lit("]")]
    )
    flat = pl.select(turn).to_series().cast(pl.String).to_arrow()
    turns = pl.Series(pa.LargeListArray.from_arrays(pa.array(bounds, type=pa.int64()), flat))
    sides = [_reply_column(frame, name) for name in ("chosen", "rejected")]
    payload = pl.concat_str(
        [pl.lit("[["), pl.lit(turns).list.join(","), pl.lit("],"), sides[0], pl.lit(","), sides[1]]
    )
    payloads = (
        pl.select(payload + "]").to_series() if frame.height else pl.Series([], dtype=pl.String)
    )
    return pl.Series("dedup_content_key", _hashes(payloads), dtype=pl.String)


def _flat_turns(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """Return every turn's role and content (flat) and each row's bounds in them."""
    if "messages" not in frame.columns:
        empty = pl.Series([], dtype=pl.String)
        return empty, empty, np.zeros(frame.height + 1, dtype=np.int64)
    messages = frame.get_column("messages")
    lengths = messages.list.len().fill_null(0).to_numpy()
    bounds = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    flat = messages.list.explode(empty_as_null=False, keep_nulls=False)
    role, content = (flat.struct.field(f).cast(pl.String) for f in ("role", "content"))
    return role, content, bounds


def _reply_column(frame: pl.DataFrame, name: str) -> pl.Expr:
    """``chosen`` / ``rejected`` as payload JSON: `reply_text`'s, or ``null``."""
    if name not in frame.columns:
        return pl.repeat(pl.lit("null"), frame.height)
    texts = frame.get_column(name).cast(pl.String)
    return _json_or_null(_turn_texts(texts, pl.Series([True] * len(texts), dtype=pl.Boolean)))


# How `json.dumps(..., ensure_ascii=False)` escapes a string (`json.encoder.encode_basestring`)
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_ESCAPES.update({chr(c): f"\\u{c:04x}" for c in range(32) if chr(c) not in _ESCAPES})
# `str.split`'s whitespace among ASCII characters (polars' `\s` lacks \x1c-\x1f): the runs that
# are not one space already (a regex matching every space costs 4x more)
_ASCII_SPACE_RUN = r"[\t\n\x0b\x0c\r\x1c-\x1f ]{2,}|[\t\n\x0b\x0c\r\x1c-\x1f]"


def _json(texts: pl.Series) -> pl.Expr:
    """Each text as a JSON string (null stays null)."""
    escaped = pl.lit(texts).str.replace_many(list(_ESCAPES), list(_ESCAPES.values()))
    return pl.concat_str([pl.lit('"'), escaped, pl.lit('"')])


def _json_or_null(texts: pl.Series) -> pl.Expr:
    return pl.coalesce(_json(texts), pl.lit("null"))


def _turn_texts(texts: pl.Series, is_reply: pl.Series) -> pl.Series:
    """Return `_turn_text` of every text: by polars expressions where that is exact (ASCII
    prompts: lowercase, whitespace runs to one space; ASCII replies no line rule changes:
    ``strip("\\n")``), by `normalize_text` / `reply_text` one text at a time elsewhere."""
    text, reply = pl.col("t"), pl.col("r")
    is_ascii = text.str.len_bytes() == text.str.len_chars()
    plain = is_ascii & ~text.str.ends_with(" ") & ~text.str.contains_any(list(_CHANGING))
    rows = pl.DataFrame({"t": texts, "r": is_reply}).with_row_index("i")
    prompts = rows.filter(~reply & is_ascii).select(
        "i", text.str.to_lowercase().str.replace_all(_ASCII_SPACE_RUN, " ").str.strip_chars(" ")
    )
    replies = rows.filter(reply).filter(plain).select("i", text.str.strip_chars("\n"))
    fast = pl.concat([prompts, replies])
    out = rows.select("i").join(fast, on="i", how="left", maintain_order="left").get_column("t")
    slow = (out.is_null() & texts.is_not_null()).arg_true()
    if slow.len():
        rest = zip(texts.gather(slow).to_list(), is_reply.gather(slow).to_list(), strict=True)
        values = [reply_text(t) if r else normalize_text(t) for t, r in rest]
        out = out.scatter(slow, pl.Series(values, dtype=pl.String))
    return out


def _hashes(payloads: pl.Series) -> list[str]:
    """xxh3-128 hex digests of the UTF-8 of each payload, read from the Arrow buffers."""
    array = payloads.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0:
        return []
    array = array.cast(pa.large_string())
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    view = memoryview(data) if data is not None else memoryview(b"")
    digest = xxhash.xxh3_128_hexdigest
    return [digest(view[a:b]) for a, b in itertools.pairwise(ends.tolist())]


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
