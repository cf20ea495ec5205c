"""The canonical record and the ledger: one Arrow schema for every kind, and how to read it.

A canonical record has these columns (polars dtypes in `RECORD_SCHEMA`):

- ``record_id``: xxh3-128 hex of the canonical content (messages, chosen, rejected), so equal
  content has an equal id whatever its source.
- ``source``, ``kind`` (``sft`` | ``preference`` | ``synthetic``).
- ``messages``: list of ``{role, content}``; an optional leading ``system`` turn, then strictly
  alternating ``user``/``assistant`` turns. SFT and synthetic records end with an assistant turn;
  preference records end with a user turn (the shared prompt) and carry the two replies in
  ``chosen`` and ``rejected``.
- ``intent``, ``difficulty``: slice labels (null until tagged).
- ``license`` (SPDX id or ``unknown``), ``generator`` (null unless synthetic).
- ``provenance``: ``{source, file, file_sha256, row}``; ``row`` is the 0-based index of the
  record in its file (for JSONL, the 0-based line number).

Stages add namespaced columns (``license_``, ``dedup_``, ``decontam_``, ``pii_``, ``quality_``,
``tag_``) and gates drop rows into the ledger (`LEDGER_SCHEMA`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from json.encoder import encode_basestring as _json_str  # what json.dumps writes for a str
from typing import Any

import polars as pl
import xxhash

KINDS = ("sft", "preference", "synthetic")
ROLES = ("system", "user", "assistant")

MESSAGE_DTYPE = pl.Struct({"role": pl.String, "content": pl.String})
PROVENANCE_DTYPE = pl.Struct(
    {"source": pl.String, "file": pl.String, "file_sha256": pl.String, "row": pl.Int64}
)

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "source": pl.String(),
    "kind": pl.String(),
    "messages": pl.List(MESSAGE_DTYPE),
    "chosen": pl.String(),
    "rejected": pl.String(),
    "intent": pl.String(),
    "difficulty": pl.String(),
    "license": pl.String(),
    "generator": pl.String(),
    "provenance": PROVENANCE_DTYPE,
}
RECORD_COLUMNS = tuple(RECORD_SCHEMA)

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),  # null when the record could not be parsed at all
    "source": pl.String(),
    "file": pl.String(),
    "row": pl.Int64(),
    "stage": pl.String(),  # ingest | license | exact_dedup | near_dedup | decontam | pii | quality
    "rule_id": pl.String(),  # versioned rule id, e.g. `schema_v1`, `exact_dedup_v1`
    "reason": pl.String(),  # reason code, e.g. `malformed_json`, `missing_field:prompt`
    "dup_of": pl.String(),  # record_id of the kept record (dedup stages)
    "score": pl.Float64(),  # similarity / containment / detector score, when there is one
    "holdout": pl.String(),  # holdout name (decontam)
    "holdout_row": pl.Int64(),  # 0-based row of the matched holdout item (decontam)
    "detail": pl.String(),  # JSON with extra evidence; never a detected PII value
}
LEDGER_COLUMNS = tuple(LEDGER_SCHEMA)


def empty_records() -> pl.DataFrame:
    """Return an empty frame with the canonical record schema."""
    return pl.DataFrame(schema=RECORD_SCHEMA)


def empty_ledger() -> pl.DataFrame:
    """Return an empty frame with the ledger schema."""
    return pl.DataFrame(schema=LEDGER_SCHEMA)


def ledger_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a ledger frame from dicts; missing keys become nulls."""
    return (
        pl.DataFrame(
            [{c: r.get(c) for c in LEDGER_COLUMNS} for r in rows],
            schema=LEDGER_SCHEMA,
            orient="row",
        )
        if rows
        else empty_ledger()
    )


def compute_record_id(
    messages: Sequence[Mapping[str, str]], chosen: str | None = None, rejected: str | None = None
) -> str:
    """Return the xxh3-128 hex digest of a record's canonical content.

    The content is serialized as compact, key-sorted JSON so the id does not depend on the
    source's field order or formatting: the bytes of ``json.dumps({"messages": [{"role", "content"},
    ...], "chosen": chosen, "rejected": rejected}, ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))``. That text is written here directly (keys in sorted order, each string
    through the encoder `json.dumps` itself uses), at about half json.dumps' cost per record;
    tests/pipeline/records/test_record_id.py holds json.dumps as the oracle.

    >>> compute_record_id([{"role": "user", "content": "hi"}]) == compute_record_id(
    ...     [{"content": "hi", "role": "user"}])
    True
    """
    turns = ",".join(
        [f'{{"content":{_json_str(m["content"])},"role":{_json_str(m["role"])}}}' for m in messages]
    )
    first = "null" if chosen is None else _json_str(chosen)
    second = "null" if rejected is None else _json_str(rejected)
    payload = f'{{"chosen":{first},"messages":[{turns}],"rejected":{second}}}'
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


def iter_text_fields(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(field, text)`` for every text field of a canonical record (as a dict).

    Field names are stable and used in the ledger and reports: ``messages[i].content``,
    ``chosen``, ``rejected``.

    >>> list(iter_text_fields({"messages": [{"role": "user", "content": "hi"}], "chosen": None}))
    [('messages[0].content', 'hi')]
    """
    for i, message in enumerate(record.get("messages") or ()):
        yield f"messages[{i}].content", message["content"]
    for name in ("chosen", "rejected"):
        value = record.get(name)
        if value is not None:
            yield name, value
