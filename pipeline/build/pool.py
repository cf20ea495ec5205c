"""Cross-source stages on the narrow pool: exact dedup, near dedup and decontamination gates.

The pool in the driver is the narrow frame of `pipeline.build.spill` (no texts). Exact dedup groups
the per-shard content keys; near dedup runs `pipeline.build.pool_dedup` over the spilled shingle
sets (per-shard tasks through the runner); decontamination only gates the tags computed per
shard. Each stage gates in the order of `pipeline.build.shards.POOL_STAGES`, so ledger attribution is
the same as on the full pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pipeline.build.runner import StageRunner
from pipeline.build.pool_dedup import tag_near_spilled
from pipeline.stages.gate import apply_gate
from pipeline.records.schemas import LEDGER_SCHEMA
from pipeline.build.spill import SpillRef
from pipeline.build.config import BuildConfig


def gate_stage(pool: pl.DataFrame, *, stage: str, config: BuildConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Gate `stage` on a pool that carries its tags (tagging exact dedup first).

    The kept rows lose the stage's own columns: the ledger holds the evidence, and the pool
    stays narrow for the stages after it.
    """
    if stage == "exact_dedup":
        pool = config.pool_stages["exact_dedup"](pool)
    prefix = config.prefix(stage)
    kept, dropped = apply_gate(pool, stage=stage, prefix=prefix)
    spent = [c for c in kept.columns if c.startswith(f"{prefix}_")]
    if stage == "exact_dedup":
        spent.append("dedup_content_key")
    return kept.drop(spent), dropped


def run_pool_stage(
    pool: pl.DataFrame,
    *,
    stage: str,
    config: BuildConfig,
    spills: Sequence[SpillRef],
    work_dir: Path,
    runner: StageRunner,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run one cross-source stage on the narrow pool; return (kept rows, ledger rows)."""
    if stage not in config.pool_stages or pool.height == 0:
        return pool, pl.DataFrame(schema=LEDGER_SCHEMA)
    if stage == "near_dedup":
        pool = tag_near_spilled(
            pool, spills=spills, config=config.near, work_dir=work_dir, run_map=runner.map
        )
    return runner.call(stage, gate_stage, pool, stage=stage, config=config)
