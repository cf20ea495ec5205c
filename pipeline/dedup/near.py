r"""Within-pool near-duplicate tagging: MinHash + LSH candidates, verified on exact shingle sets.

The text of a record is all its text fields (`iter_text_fields`) joined with ``"\n"``.
Records are processed in keeper order (``dedup_keeper_rank``, then ``record_id``); a record is
dropped when its exact Jaccard similarity with an already *kept* record reaches the threshold.
There is no transitive chaining: if A ~ B and B ~ C but A !~ C, A is kept, B is dropped as a
copy of A, and C is kept, because its only similar record (B) was not kept.

Template guard: shingles found in more than ``template_max_df`` records of the pool (chat
templates, system prompts, boilerplate) are removed from both the signatures and the
verification sets, so shared boilerplate never makes different records similar. A record left
with no shingle is never tagged (identical copies are the exact-dedup stage's job).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipeline.dedup.lsh import compute_band_keys, find_candidate_pairs, optimal_bands
from pipeline.dedup.minhash import (
    MinHashConfig,
    ShingleSets,
    compute_shingle_sets,
    compute_signatures,
    exact_jaccard,
    filter_shingle_sets,
)
from pipeline.errors import ConfigError
from pipeline.schemas import iter_text_fields

logger = logging.getLogger(__name__)

RULE_ID = "near_dedup_v1"
REASON = "near_duplicate"


@dataclass(frozen=True)
class NearDedupConfig:
    """Parameters of within-pool near-dedup.

    Parameters
    ----------
    threshold
        Exact Jaccard similarity (after the template guard) at or above which a record is a
        near-duplicate of a kept record.
    minhash
        Shingling and signature parameters.
    template_max_df
        Shingles in more than this many records are boilerplate and ignored; None disables.
    max_bucket
        LSH bucket size above which pairs are capped (see `pipeline.dedup.lsh`).
    fp_weight, fn_weight
        Weights of the LSH band choice (`optimal_bands`); recall-oriented by default.
    """

    threshold: float = 0.8
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    template_max_df: int | None = 100
    max_bucket: int = 64
    fp_weight: float = 0.05
    fn_weight: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            msg = f"`threshold` must be in (0, 1); got {self.threshold!r}"
            raise ConfigError(msg)
        if self.template_max_df is not None and self.template_max_df < 2:
            msg = f"`template_max_df` must be None or an integer >= 2; got {self.template_max_df!r}"
            raise ConfigError(msg)
        if self.max_bucket < 2:
            msg = f"`max_bucket` must be an integer >= 2; got {self.max_bucket!r}"
            raise ConfigError(msg)

    @property
    def slug(self) -> str:
        """Identify the configuration, e.g. ``near_j0.80_df100_word5_p128_s1_v1``."""
        df = "dfoff" if self.template_max_df is None else f"df{self.template_max_df}"
        return f"near_j{self.threshold:.2f}_{df}_{self.minhash.slug}"


def drop_template_shingles(sets: ShingleSets, max_df: int | None) -> ShingleSets:
    """Remove the shingles present in more than `max_df` documents of `sets` (None: keep all)."""
    if max_df is None or len(sets.hashes) == 0:
        return sets
    values, counts = np.unique(sets.hashes, return_counts=True)
    common = values[counts > max_df]
    if len(common) == 0:
        return sets
    logger.info("template guard: %d shingles in > %d documents ignored", len(common), max_df)
    return filter_shingle_sets(sets, ~np.isin(sets.hashes, common))


def record_texts(frame: pl.DataFrame) -> list[str]:
    """Return each record's text fields joined with newlines, in frame order."""
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    return [
        "\n".join(t for _, t in iter_text_fields(r))
        for r in frame.select(columns).iter_rows(named=True)
    ]


def _select_keepers(
    sets: ShingleSets, pairs: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return (representative index or -1, verified score) per document, greedily in index order."""
    n = len(sets)
    dup_of = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan)
    if len(pairs) == 0:
        return dup_of, score
    order = np.lexsort((pairs[:, 0], pairs[:, 1]))  # by later doc, then earlier doc
    later, earlier = pairs[order, 1], pairs[order, 0]
    bounds = np.flatnonzero(np.concatenate(([True], later[1:] != later[:-1], [True])))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        doc = int(later[lo])
        mine = sets.doc(doc)
        for cand in earlier[lo:hi]:
            if dup_of[cand] != -1:
                continue
            similarity = exact_jaccard(sets.doc(int(cand)), mine)
            if similarity >= threshold:
                dup_of[doc], score[doc] = cand, similarity
                break
    return dup_of, score


def tag_near_duplicates(frame: pl.DataFrame, *, config: NearDedupConfig) -> pl.DataFrame:
    """Add ``near_drop_rule``, ``near_drop_reason``, ``near_dup_of`` and ``near_score``.

    Parameters
    ----------
    frame
        Canonical records with ``record_id`` and ``dedup_keeper_rank`` (lower = keeper).
    config
        Threshold, shingling and guard parameters.

    Returns
    -------
    The frame, same rows and order, with the four columns added; rows not dropped have nulls.
    """
    for needed in ("record_id", "dedup_keeper_rank"):
        if needed not in frame.columns:
            msg = f"`tag_near_duplicates` needs column `{needed}`; got columns {frame.columns}"
            raise ConfigError(msg)
    order = np.lexsort(
        (frame["record_id"].to_numpy(), frame["dedup_keeper_rank"].cast(pl.Int64).to_numpy())
    )
    ranked = frame[order]
    sets = drop_template_shingles(
        compute_shingle_sets(record_texts(ranked), config=config.minhash), config.template_max_df
    )
    plan = optimal_bands(
        config.threshold,
        config.minhash.num_perm,
        fp_weight=config.fp_weight,
        fn_weight=config.fn_weight,
    )
    nonempty = np.flatnonzero(sets.sizes > 0)
    signatures = compute_signatures(sets, config=config.minhash)[nonempty]
    local = find_candidate_pairs(compute_band_keys(signatures, plan), max_bucket=config.max_bucket)
    dup_of, score = _select_keepers(sets, nonempty[local], config.threshold)
    logger.info(
        "near dedup: %d candidate pairs, %d records tagged", len(local), int((dup_of >= 0).sum())
    )
    dropped = (dup_of >= 0)[back := np.argsort(order)]
    ids = ranked["record_id"].to_list()
    dup_ids = [ids[d] if d >= 0 else None for d in dup_of[back].tolist()]
    return frame.with_columns(
        pl.Series("near_drop_rule", [RULE_ID if d else None for d in dropped], dtype=pl.String),
        pl.Series("near_drop_reason", [REASON if d else None for d in dropped], dtype=pl.String),
        pl.Series("near_dup_of", dup_ids, dtype=pl.String),
        pl.Series("near_score", score[back], dtype=pl.Float64).fill_nan(None),
    )
