"""Cross-source stages on the narrow pool: the gates of the declared pool stages, in order.

The pool in the driver is the narrow frame of `pipeline.build.spill` (no texts). What a stage
needs before its gate depends on where its declaration says it is tagged (`tagged_at`):
``pool`` stages tag the narrow pool here (exact dedup on the per-shard content keys), ``spill``
stages tag over the spilled shards (near dedup: `pipeline.build.pool_dedup`, per-shard tasks
through the runner), ``shard`` stages were tagged per shard and are only gated here
(decontamination). Stages gate in the order of `pipeline.stages.STAGES`, so ledger attribution
is the same as on the full pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pipeline.build.config import BuildConfig
from pipeline.build.runner import StageRunner
from pipeline.build.spill import SpillRef
from pipeline.records.schemas import LEDGER_SCHEMA
from pipeline.stages import stage as declared
from pipeline.stages.gate import apply_gate


def gate_stage(
    pool: pl.DataFrame, *, stage: str, config: BuildConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Gate `stage` on a pool that carries its tags (tagging it first if it is tagged here).

    The kept rows lose the stage's own columns and the ones it declares `spent`: the ledger
    holds the evidence, and the pool stays narrow for the stages after it.
    """
    decl = declared(stage)
    if decl.tagged_at == "pool":
        pool = config.stages[stage](pool)
    kept, dropped = apply_gate(pool, stage=stage, prefix=decl.gate_prefix)
    spent = [c for c in kept.columns if c.startswith(f"{decl.gate_prefix}_")]
    spent += [c for c in decl.spent if c in kept.columns]
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
    if stage not in config.stages or pool.height == 0:
        return pool, pl.DataFrame(schema=LEDGER_SCHEMA)
    if declared(stage).tagged_at == "spill":
        pool = config.stages[stage](pool, spills=spills, work_dir=work_dir, run_map=runner.map)
    return runner.call(stage, gate_stage, pool, stage=stage, config=config)
