"""`tag_quality`: run the quality gates on the canonical pool and record the first failure.

Columns added (a gate that is switched off leaves its column null):

- ``quality_empty_reply`` (bool), ``quality_same_pair`` (bool; null unless a preference pair),
  ``quality_tool_call_error``, ``quality_length_error``, ``quality_repetition_error`` (reason code
  or null), ``quality_refusal`` (bool: a tag; a drop only when `QualityConfig.drop_refusals`);
- ``quality_drop_rule`` / ``quality_drop_reason`` / ``quality_detail``: the first failing gate in
  `GATE_ORDER`, for `pipeline.stages.gate.apply_gate`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl

from pipeline.stages.quality.checks import (
    Failure,
    any_of,
    check_empty_reply,
    check_lengths,
    check_repetition,
    check_same_pair,
    check_tool_calls,
    find_refusal,
    iter_record_texts,
)
from pipeline.stages.quality.config import QualityConfig

# Fixed order: the first failing gate names the drop. Cheapest and least debatable first.
GATE_ORDER = (
    ("empty_reply_v1", "quality_empty_reply"),
    ("same_pair_v1", "quality_same_pair"),
    ("tool_call_v1", "quality_tool_call_error"),
    ("length_bounds_v1", "quality_length_error"),
    ("repetition_v1", "quality_repetition_error"),
    ("refusal_v1", "quality_refusal"),
)
_BOOL_COLUMNS = ("quality_empty_reply", "quality_same_pair", "quality_refusal")


def _run_gates(
    record: dict[str, Any],
    config: QualityConfig,
    refusals: list[re.Pattern[str]],
    any_refusal: re.Pattern[str] | None,
) -> dict[str, Failure | None]:
    texts = list(iter_record_texts(record))
    is_pair = record.get("chosen") is not None and record.get("rejected") is not None
    return {
        "empty_reply_v1": check_empty_reply(texts) if config.empty_reply else None,
        "same_pair_v1": check_same_pair(record) if config.same_pair and is_pair else None,
        "tool_call_v1": check_tool_calls(texts, config.tool_calls)
        if config.tool_calls is not None
        else None,
        "length_bounds_v1": check_lengths(texts, config.lengths) if config.lengths else None,
        "repetition_v1": check_repetition(texts, config.repetition) if config.repetition else None,
        "refusal_v1": find_refusal(texts, refusals, any_refusal) if refusals else None,
    }


def _column_value(
    rule: str, column: str, failure: Failure | None, config: QualityConfig, is_pair: bool
) -> Any:
    enabled = {
        "empty_reply_v1": config.empty_reply,
        "same_pair_v1": config.same_pair and is_pair,
        "tool_call_v1": config.tool_calls is not None,
        "length_bounds_v1": bool(config.lengths),
        "repetition_v1": config.repetition is not None,
        "refusal_v1": bool(config.refusal_patterns),
    }[rule]
    if not enabled:
        return None
    if column in _BOOL_COLUMNS:
        return failure is not None
    return failure.reason if failure else None


def tag_quality(frame: pl.DataFrame, *, config: QualityConfig) -> pl.DataFrame:
    """Add the per-gate ``quality_`` columns and the gate columns (first failure in `GATE_ORDER`).

    Parameters
    ----------
    frame
        Canonical records (``messages``; ``chosen``/``rejected`` when present).
    config
        Which gates run and their limits.
    """
    refusals = [re.compile(p, re.IGNORECASE) for p in config.refusal_patterns]
    any_refusal = any_of(refusals)
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    out: dict[str, list[Any]] = {column: [] for _, column in GATE_ORDER}
    rules, reasons, details = [], [], []
    for record in frame.select(columns).iter_rows(named=True):
        failures = _run_gates(record, config, refusals, any_refusal)
        is_pair = record.get("chosen") is not None and record.get("rejected") is not None
        first: tuple[str, Failure] | None = None
        for rule, column in GATE_ORDER:
            failure = failures[rule]
            out[column].append(_column_value(rule, column, failure, config, is_pair))
            droppable = rule != "refusal_v1" or config.drop_refusals
            if first is None and failure is not None and droppable:
                first = (rule, failure)
        rules.append(first[0] if first else None)
        reasons.append(first[1].reason if first else None)
        details.append(
            json.dumps(
                {"rule": first[0], **first[1]._asdict()}, sort_keys=True, separators=(",", ":")
            )
            if first
            else None
        )
    return frame.with_columns(
        *(
            pl.Series(column, values, dtype=pl.Boolean if column in _BOOL_COLUMNS else pl.String)
            for column, values in out.items()
        ),
        pl.Series("quality_drop_rule", rules, dtype=pl.String),
        pl.Series("quality_drop_reason", reasons, dtype=pl.String),
        pl.Series("quality_detail", details, dtype=pl.String),
    )
