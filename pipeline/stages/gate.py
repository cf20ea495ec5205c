"""Gates: the only place rows leave the pool, each drop with a stage, a rule id and a reason.

"Tag, then decide": a tagging stage adds namespaced columns; a gate reads the stage's decision
columns and splits the frame into the rows kept and the ledger rows for the rows dropped.

A stage with prefix ``p`` signals a drop by a non-null ``p_drop_rule`` (the versioned rule id)
and ``p_drop_reason`` (the reason code). It may also fill ``p_dup_of``, ``p_score``,
``p_holdout``, ``p_holdout_row`` and ``p_detail``; they go to the matching ledger columns.
"""

from __future__ import annotations

import polars as pl

from pipeline.errors import InternalError
from pipeline.records.schemas import LEDGER_SCHEMA

_EXTRAS = ("dup_of", "score", "holdout", "holdout_row", "detail")


def apply_gate(
    frame: pl.DataFrame, *, stage: str, prefix: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split `frame` on ``{prefix}_drop_rule`` into (kept rows, ledger rows for `stage`).

    Rows whose ``{prefix}_drop_rule`` is null are kept, unchanged. The ledger rows carry the
    record's id and provenance, and the stage's evidence columns when the stage produced them.
    """
    rule = f"{prefix}_drop_rule"
    if rule not in frame.columns:
        msg = f"gate `{stage}` needs column `{rule}`; got columns {frame.columns}"
        raise InternalError(msg)
    dropped_mask = pl.col(rule).is_not_null()
    kept = frame.filter(~dropped_mask)
    dropped = frame.filter(dropped_mask)
    columns = [
        pl.col("record_id"),
        pl.col("source").cast(pl.String),
        pl.col("provenance").struct.field("file").cast(pl.String).alias("file"),
        pl.col("provenance").struct.field("row").alias("row"),
        pl.lit(stage, dtype=pl.String).alias("stage"),
        pl.col(rule).cast(pl.String).alias("rule_id"),
        pl.col(f"{prefix}_drop_reason").cast(pl.String).alias("reason"),
    ]
    for extra in _EXTRAS:
        name = f"{prefix}_{extra}"
        expr = pl.col(name) if name in frame.columns else pl.lit(None)
        columns.append(expr.cast(LEDGER_SCHEMA[extra]).alias(extra))
    return kept, dropped.select(columns)
