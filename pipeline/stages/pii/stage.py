"""PII stages over the canonical pool: `tag_pii` (findings + decision) and `redact_pii`.

Columns added by `tag_pii`:

- ``pii_findings``: list of ``{field, entity_type, start, end, score, value_hash}``; offsets are
  characters into the field's text *as tagged*, ``value_hash`` its keyed hash (`pipeline.secret`).
- ``pii_action``: the strongest configured action over the findings (drop > redact > flag) or null.
- ``pii_drop_rule`` (``pii_presidio_v1`` when the action is drop), ``pii_drop_reason``
  (``pii:`` + the sorted entity types whose action is drop), ``pii_detail`` (JSON evidence, no
  values) for `pipeline.stages.gate.apply_gate`.

`redact_pii` replaces the spans of ``redact`` entities with ``<ENTITY_TYPE>`` and adds
``pii_redactions``. It keeps ``record_id``: the id names the content of the *input* record.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from pipeline.secret import hash_key, keyed_hash
from pipeline.stages.pii.config import ACTION_RANK, PII_RULE
from pipeline.stages.pii.engine import quiet_presidio_logs
from pipeline.stages.pii.scanner import PiiScanner

FINDING_DTYPE = pl.Struct(
    {
        "field": pl.String,
        "entity_type": pl.String,
        "start": pl.Int64,
        "end": pl.Int64,
        "score": pl.Float64,
        "value_hash": pl.String,
    }
)
_CONTENT_FIELDS = ("messages", "chosen", "rejected")
_MESSAGE_FIELD = re.compile(r"messages\[(\d+)\]\.content")
_ROW = "_pii_row"
BATCH_ROWS = 10_000  # rows whose texts are held as Python objects at once


def hash_value(value: str, *, key: bytes | None = None) -> str:
    """Return the keyed hash of a detected value (`pipeline.secret.keyed_hash`): not reversible
    from any output, because the key never enters one."""
    return keyed_hash(value, key=key)


def _text_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """Return one row per text field of `frame`: ``_pii_row``, ``field``, ``text``.

    Fields come in `iter_text_fields` order within a row (messages, then chosen, then
    rejected), built by polars, so no record becomes a Python dict.
    """
    parts = []
    if "messages" in frame.columns:
        contents = (
            frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW), "messages")
            .filter(pl.col("messages").list.len() > 0)
            .with_columns(pl.int_ranges(pl.col("messages").list.len()).alias("_i"))
            .explode("messages", "_i")
            .with_columns(pl.col("messages").struct.field("content").alias("text"))
        )
        parts.append(
            contents.select(
                _ROW,
                pl.format("messages[{}].content", "_i").alias("field"),
                "text",
                pl.col("_i").cast(pl.Int64).alias("_order"),
            )
        )
    for order, name in enumerate(("chosen", "rejected"), start=1 << 40):
        if name in frame.columns:
            parts.append(
                frame.select(
                    pl.int_range(pl.len(), dtype=pl.UInt32).alias(_ROW),
                    pl.lit(name).alias("field"),
                    pl.col(name).alias("text"),
                    pl.lit(order, dtype=pl.Int64).alias("_order"),
                ).filter(pl.col("text").is_not_null())
            )
    empty = pl.DataFrame(schema={_ROW: pl.UInt32, "field": pl.String, "text": pl.String})
    if not parts:
        return empty
    return pl.concat(parts).sort(_ROW, "_order").drop("_order")


def _decide(
    findings: list[dict[str, Any]], scanner: PiiScanner
) -> tuple[str | None, str | None, str | None]:
    """Return (action, drop reason, detail JSON) for one record's findings."""
    if not findings:
        return None, None, None
    config = scanner.config
    action = max(
        (config.action_for(f["entity_type"]) for f in findings), key=ACTION_RANK.__getitem__
    )
    dropping = sorted(
        {f["entity_type"] for f in findings if config.action_for(f["entity_type"]) == "drop"}
    )
    reason = "pii:" + ",".join(dropping) if dropping else None
    detail = json.dumps(
        {
            "rule": PII_RULE,
            "config": config.slug,
            "action": action,
            "entity_types": sorted({f["entity_type"] for f in findings}),
            "findings": findings,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return action, reason, detail


def tag_pii(frame: pl.DataFrame, *, scanner: PiiScanner) -> pl.DataFrame:
    """Add the ``pii_`` columns: findings (no values), the decided action and the gate columns.

    Rows are scanned `BATCH_ROWS` at a time, so the Python copies of the texts never exceed one
    batch (a shard's memory does not grow with this stage).

    Parameters
    ----------
    frame
        Canonical records (needs ``messages``; ``chosen``/``rejected`` when present).
    scanner
        The detector; its `PiiConfig` decides actions and thresholds.
    """
    batches = [
        _pii_columns(frame.slice(offset, BATCH_ROWS), scanner)
        for offset in range(0, frame.height, BATCH_ROWS)
    ] or [_pii_columns(frame, scanner)]
    return frame.with_columns(pl.concat(batches, how="vertical", rechunk=True).get_columns())


def _pii_columns(frame: pl.DataFrame, scanner: PiiScanner) -> pl.DataFrame:
    """Return the ``pii_`` columns of `frame` (one batch of rows).

    Findings are rare, so only the texts that `PiiScanner.may_find` keeps (one pass over the
    column: most texts hold no digit, ``@`` or secret gate) become Python strings and are
    scanned, with the secret gates of that pass; the findings column is built from flat
    per-finding lists and per-row offsets (pyarrow), and only rows with a finding get Python
    objects (for their decision and JSON detail).
    """
    fields = _text_fields(frame)
    maybe, secret = scanner.column_gates(fields.get_column("text"))
    fields = fields.filter(maybe)
    texts = fields.get_column("text").to_list()
    gates = ([True] * len(texts), secret.filter(maybe).to_list())  # made once, handed on
    hits = [(i, found) for i, found in enumerate(scanner.scan_texts(texts, gates=gates)) if found]
    rows = fields.get_column(_ROW).gather([i for i, _ in hits]).to_list() if hits else []
    names = fields.get_column("field").gather([i for i, _ in hits]).to_list() if hits else []
    key = hash_key() if hits else None
    by_row: dict[int, list[dict[str, Any]]] = {}
    for row, name, (i, found) in zip(rows, names, hits, strict=True):
        text = texts[i]
        by_row.setdefault(row, []).extend(
            {
                "field": name,
                "entity_type": f.entity_type,
                "start": f.start,
                "end": f.end,
                "score": f.score,
                "value_hash": hash_value(text[f.start : f.end], key=key),
            }
            for f in found
        )
    actions: list[str | None] = [None] * frame.height
    reasons: list[str | None] = [None] * frame.height
    details: list[str | None] = [None] * frame.height
    counts = [0] * frame.height
    flat: list[dict[str, Any]] = []
    for row, row_findings in by_row.items():  # rows in increasing order (fields are sorted)
        actions[row], reasons[row], details[row] = _decide(row_findings, scanner)
        counts[row] = len(row_findings)
        flat.extend(row_findings)
    return pl.DataFrame(
        [
            _findings_series(flat, counts),
            pl.Series("pii_action", actions, dtype=pl.String),
            pl.Series(
                "pii_drop_rule",
                [PII_RULE if a == "drop" else None for a in actions],
                dtype=pl.String,
            ),
            pl.Series("pii_drop_reason", reasons, dtype=pl.String),
            pl.Series("pii_detail", details, dtype=pl.String),
        ]
    )


def _findings_series(flat: list[dict[str, Any]], counts: list[int]) -> pl.Series:
    """Return ``pii_findings`` (List(`FINDING_DTYPE`)): row ``i`` holds the next ``counts[i]``
    findings of `flat`; a row without findings holds an empty list."""
    values = pl.DataFrame(flat, schema=FINDING_DTYPE.to_schema()).to_struct("pii_findings")
    offsets = pa.array(np.concatenate(([0], np.cumsum(counts, dtype=np.int64))), type=pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, values.to_arrow())
    return pl.Series("pii_findings", lists, dtype=pl.List(FINDING_DTYPE))


def _redact_text(
    engine: AnonymizerEngine, text: str, spans: list[dict[str, Any]]
) -> tuple[str, int]:
    results = [RecognizerResult(s["entity_type"], s["start"], s["end"], s["score"]) for s in spans]
    out = engine.anonymize(text, results, operators={"DEFAULT": OperatorConfig("replace")})
    return out.text, len(out.items)


def redact_pii(frame: pl.DataFrame, *, scanner: PiiScanner) -> pl.DataFrame:
    """Replace the spans of ``redact`` entities with ``<ENTITY_TYPE>``; add ``pii_redactions``.

    Uses ``pii_findings`` when the frame has been tagged (it is tagged first otherwise). Only the
    redacted spans change; every other character, row and column is kept, including
    ``record_id`` (the content id of the input record) and the findings' original offsets.
    Only the rows with a span to redact are converted to Python objects.
    """
    if "pii_findings" not in frame.columns:
        frame = tag_pii(frame, scanner=scanner)
    actions = dict(scanner.config.actions)
    redacting = sorted(entity for entity, action in actions.items() if action == "redact")
    columns = [c for c in _CONTENT_FIELDS if c in frame.columns]
    indexed = frame.with_row_index(_ROW)
    has_span = (
        pl.col("pii_findings")
        .list.filter(pl.element().struct.field("entity_type").is_in(redacting))
        .list.len()
        > 0
    ).fill_null(False)
    affected = indexed.filter(has_span).select(_ROW, *columns, "pii_findings")
    if affected.height == 0:
        return frame.with_columns(pl.lit(0, dtype=pl.Int64).alias("pii_redactions"))
    quiet_presidio_logs()
    engine = AnonymizerEngine()
    new_rows: dict[str, list[Any]] = {c: [] for c in (_ROW, *columns)}
    counts = []
    for row in affected.iter_rows(named=True):
        by_field: dict[str, list[dict[str, Any]]] = {}
        for f in row["pii_findings"] or ():
            if actions.get(f["entity_type"]) == "redact":
                by_field.setdefault(f["field"], []).append(f)
        messages = [dict(m) for m in row.get("messages") or ()]
        redacted = 0
        for name, spans in by_field.items():
            match = _MESSAGE_FIELD.fullmatch(name)
            if match:
                i = int(match.group(1))
                messages[i]["content"], n = _redact_text(engine, messages[i]["content"], spans)
            else:
                row[name], n = _redact_text(engine, row[name], spans)
            redacted += n
        row["messages"] = messages if "messages" in columns else None
        for c in (_ROW, *columns):
            new_rows[c].append(row[c])
        counts.append(redacted)
    schema = indexed.schema
    replaced = pl.DataFrame(
        [
            *(pl.Series(c, new_rows[c], dtype=schema[c]) for c in (_ROW, *columns)),
            pl.Series("pii_redactions", counts, dtype=pl.Int64),
        ]
    )
    return (
        indexed.with_columns(pl.lit(None, dtype=pl.Int64).alias("pii_redactions"))
        .update(replaced, on=_ROW, how="left")
        .with_columns(pl.col("pii_redactions").fill_null(0))
        .drop(_ROW)
    )
