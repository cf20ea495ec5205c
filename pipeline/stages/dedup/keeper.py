"""Which copy a duplicate lost to: keeper identity in the ledger, and license conflicts.

Equal content has an equal ``record_id`` whatever its source, so ``dup_of`` alone cannot say
which copy was kept. Exact and near dedup therefore put the keeper's identity in the ledger's
``detail``: ``{"keeper": {"source", "file", "row", "license"}, "license": <the dropped copy's>}``.
`license_conflicts` reads those rows back: the same content declared under different licenses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl

from pipeline.stages.license import license_rank

DEDUP_STAGES = ("exact_dedup", "near_dedup")


def keeper_details(
    frame: pl.DataFrame, dropped: Sequence[int], keepers: Sequence[int], *, name: str
) -> pl.Series:
    """Return column `name`: the ``detail`` JSON of each `dropped` row naming its keeper row.

    `frame` has ``source`` and ``provenance`` (``file``, ``row``) and ``license`` in a build;
    a frame without ``source`` or ``provenance`` (a bare key frame) gets an all-null column.
    Rows not in `dropped` get null.
    """
    column = pl.Series(name, [None] * frame.height, dtype=pl.String)
    if "source" not in frame.columns or "provenance" not in frame.columns:
        return column
    columns = frame.select(
        pl.col("source").cast(pl.String),
        pl.col("provenance").struct.field("file").cast(pl.String).alias("file"),
        pl.col("provenance").struct.field("row").alias("row"),
        (pl.col("license").cast(pl.String) if "license" in frame.columns else pl.lit(None)).alias(
            "license"
        ),
    )
    own = columns[list(dropped)].rows()
    kept = columns[list(keepers)].rows()
    details = [
        json.dumps(
            {
                "keeper": {"source": k[0], "file": k[1], "row": k[2], "license": k[3]},
                "license": o[3],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        for o, k in zip(own, kept, strict=True)
    ]
    return column.scatter(list(dropped), details) if details else column


def keeper_of(detail: str | None) -> dict[str, Any] | None:
    """Return the keeper named in a ledger ``detail`` (None if it names none)."""
    if not detail:
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and isinstance(parsed.get("keeper"), dict) else None


def license_conflicts(ledger: pl.DataFrame) -> list[dict[str, Any]]:
    """Return the manifest's ``license_conflicts`` table from the dedup ledger rows.

    One row per (stage, kept source, kept license, dropped source, dropped license) where the
    two licenses differ, with the number of dropped records and ``kept_less_permissive`` when
    the kept copy's license is more restrictive (`license_rank`) than the dropped one's: a
    source priority chose it over a more permissive copy of the same content.
    """
    counts: dict[tuple[str, str, str, str, str], int] = {}
    rows = ledger.filter(pl.col("stage").is_in(DEDUP_STAGES)).select("stage", "source", "detail")
    for stage, source, detail in rows.iter_rows():
        parsed = keeper_of(detail)
        if parsed is None:
            continue
        kept, dropped = parsed["keeper"].get("license"), parsed.get("license")
        if kept is None or dropped is None or kept == dropped:
            continue
        key = (stage, parsed["keeper"]["source"], kept, source, dropped)
        counts[key] = counts.get(key, 0) + 1
    return [
        {
            "stage": stage,
            "kept_source": kept_source,
            "kept_license": kept,
            "dropped_source": dropped_source,
            "dropped_license": dropped,
            "records": n,
            "kept_less_permissive": license_rank(kept) > license_rank(dropped),
        }
        for (stage, kept_source, kept, dropped_source, dropped), n in sorted(counts.items())
    ]


def conflict_warnings(conflicts: Sequence[dict[str, Any]]) -> list[str]:
    """Return one warning line per conflict whose kept copy is the less permissive one."""
    return [
        f"warning: {c['records']} record(s) kept from `{c['kept_source']}` under "
        f"{c['kept_license']} although `{c['dropped_source']}` has the same content under the "
        f"more permissive {c['dropped_license']} ({c['stage']}; source priority decided)"
        for c in conflicts
        if c["kept_less_permissive"]
    ]
