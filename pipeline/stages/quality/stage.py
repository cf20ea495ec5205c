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
from typing import Any

import polars as pl

from pipeline.stages.quality.checks import Failure
from pipeline.stages.quality.config import QualityConfig
from pipeline.stages.quality.gates import run_gates

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


def _gate_columns(
    failures: dict[str, dict[int, Failure]], config: QualityConfig, is_pair: list[bool]
) -> dict[str, list[Any]]:
    """The per-gate columns: null where the gate is off, else a flag or the reason code."""
    enabled = {
        "empty_reply_v1": config.empty_reply,
        "tool_call_v1": config.tool_calls is not None,
        "length_bounds_v1": bool(config.lengths),
        "repetition_v1": config.repetition is not None,
        "refusal_v1": bool(config.refusal_patterns),
    }
    out: dict[str, list[Any]] = {}
    for rule, column in GATE_ORDER:
        if rule == "same_pair_v1":
            values: list[Any] = (
                [False if pair else None for pair in is_pair]
                if config.same_pair
                else [None] * len(is_pair)
            )
        else:
            values = [False if enabled[rule] and column in _BOOL_COLUMNS else None] * len(is_pair)
        for row, failure in failures.get(rule, {}).items():
            values[row] = True if column in _BOOL_COLUMNS else failure.reason
        out[column] = values
    return out


def _drop_columns(
    failures: dict[str, dict[int, Failure]], config: QualityConfig, size: int
) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """Rule, reason and JSON detail of each row's first droppable failure in `GATE_ORDER`."""
    rules: list[str | None] = [None] * size
    reasons: list[str | None] = [None] * size
    details: list[str | None] = [None] * size
    for rule, _ in GATE_ORDER:
        if rule == "refusal_v1" and not config.drop_refusals:
            continue
        for row, failure in failures.get(rule, {}).items():
            if rules[row] is None:
                rules[row], reasons[row] = rule, failure.reason
                details[row] = json.dumps(
                    {"rule": rule, **failure._asdict()}, sort_keys=True, separators=(",", ":")
                )
    return rules, reasons, details


def tag_quality(frame: pl.DataFrame, *, config: QualityConfig) -> pl.DataFrame:
    """Add the per-gate ``quality_`` columns and the gate columns (first failure in `GATE_ORDER`).

    Each gate walks the frame's texts as flat lists (`frame_texts`) and records the first
    failure per row; rows without one, nearly all, cost no per-row Python beyond that walk.

    Parameters
    ----------
    frame
        Canonical records (``messages``; ``chosen``/``rejected`` when present).
    config
        Which gates run and their limits.
    """
    failures = run_gates(frame, config)
    columns = [c for c in ("chosen", "rejected") if c in frame.columns]
    is_pair = (
        frame.select(pl.all_horizontal(pl.col(c).is_not_null() for c in columns))
        .to_series()
        .to_list()
        if len(columns) == 2
        else [False] * len(frame)
    )
    rules, reasons, details = _drop_columns(failures, config, len(frame))
    return frame.with_columns(
        *(
            pl.Series(column, values, dtype=pl.Boolean if column in _BOOL_COLUMNS else pl.String)
            for column, values in _gate_columns(failures, config, is_pair).items()
        ),
        pl.Series("quality_drop_rule", rules, dtype=pl.String),
        pl.Series("quality_drop_reason", reasons, dtype=pl.String),
        pl.Series("quality_detail", details, dtype=pl.String),
    )
