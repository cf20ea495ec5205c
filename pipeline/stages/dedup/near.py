r"""Within-pool near-duplicate tagging: MinHash + LSH candidates, verified on exact shingle sets.

A record has two sides: the prompt (system and user turns) and the replies (assistant turns,
``chosen``, ``rejected``). Each side is shingled separately and the reply shingles are marked
(`REPLY_BIT`), so one sorted set holds both sides, prompt first. With ``scope="conversation"``
(the default) two records are near-duplicates only when *both* sides reach the threshold: the
score is ``min(J(prompts), J(replies))``, so identical prompts with different replies (several
samples, preference data, two models' answers) are all kept. ``scope="prompt"`` compares the
prompt sides only (signatures too): one record per prompt, for prompt diversity.
Records are processed in keeper order (``dedup_keeper_rank``, then ``record_id``); a record is
dropped when its exact Jaccard similarity with an already *kept* record reaches the threshold.
There is no transitive chaining: if A ~ B and B ~ C but A !~ C, A is kept, B is dropped as a
copy of A, and C is kept, because its only similar record (B) was not kept.

Template guard: shingles found in more than ``template_max_df`` records of the pool (chat
templates, system prompts, boilerplate) are removed from both the signatures and the
verification sets, so shared boilerplate never makes different records similar. Document
frequencies come from a count-min sketch (`pipeline.stages.dedup.sketch`, sized by `sketch_for`), so
memory is fixed and shards can count separately; the estimate never under-counts. A record
left with no shingle is never tagged (identical copies are the exact-dedup stage's job).

The steps are public so that `pipeline.build.pool_dedup` can run them shard by shard on data that
does not fit in memory; `tag_near_duplicates` is their in-memory composition:
`compute_shingle_sets` -> `count_shingle_df` -> `drop_template_shingles` -> `compute_signatures`
-> `compute_band_keys` -> `find_pairs_by_band` -> `select_keepers`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipeline.errors import ConfigError, InternalError
from pipeline.stages.dedup.keeper import keeper_details
from pipeline.stages.dedup.lsh import (
    BandPlan,
    compute_band_keys,
    find_candidate_pairs,
    optimal_bands,
)
from pipeline.stages.dedup.minhash import compute_signatures
from pipeline.stages.dedup.shingles import (
    MinHashConfig,
    ShingleSets,
    batch_shingles,
    concat_shingle_sets,
    exact_jaccard,
    filter_shingle_sets,
    unique_per_doc,
)
from pipeline.stages.dedup.sketch import SketchConfig, count_hashes, exceeds

logger = logging.getLogger(__name__)

RULE_ID = "near_dedup_v2"
SCOPES = ("conversation", "prompt")
REPLY_BIT = np.uint64(1 << 51)  # set on reply-side shingle hashes (52-bit), clear on prompt ones
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
        LSH bucket size above which pairs are capped (see `pipeline.stages.dedup.lsh`).
    fp_weight, fn_weight
        Weights of the LSH band choice (`optimal_bands`); recall-oriented by default.
    scope
        ``conversation``: prompt and replies must both be similar; ``prompt``: prompts only.
    """

    threshold: float = 0.8
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    template_max_df: int | None = 100
    max_bucket: int = 64
    fp_weight: float = 0.05
    fn_weight: float = 0.95
    scope: str = "conversation"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            msg = f"`scope` must be one of {', '.join(SCOPES)}; got {self.scope!r}"
            raise ConfigError(msg)
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
        """Identify the configuration, e.g. ``near_j0.80_df100_conversation_word5_p128_s1_v1``."""
        df = "dfoff" if self.template_max_df is None else f"df{self.template_max_df}"
        return f"near_j{self.threshold:.2f}_{df}_{self.scope}_{self.minhash.slug}"


def sketch_for(occurrences: int) -> SketchConfig:
    """Return the sketch shape for `occurrences` shingle occurrences: <= 32 per counter on average.

    Depth 4, width between ``2**16`` and ``2**30``; a function of the count only, so every
    path that counts the same records uses the same sketch. With 32 occurrences per counter,
    all four counters of a rare shingle exceeding a ``template_max_df`` of 100 is negligible.
    """
    bits = math.ceil(math.log2(occurrences / 32)) if occurrences > 32 else 0
    return SketchConfig(width_bits=min(max(bits, 16), 30))


def count_shingle_df(
    sets: ShingleSets, *, sketch: SketchConfig, out: np.ndarray | None = None
) -> np.ndarray:
    """Return the count-min sketch of the document frequency of every shingle of `sets` (added
    to `out` in place when given, see `count_hashes`)."""
    return count_hashes(sets.hashes, config=sketch, out=out)


def drop_template_shingles(
    sets: ShingleSets, df: np.ndarray, max_df: int | None, *, sketch: SketchConfig
) -> ShingleSets:
    """Remove the shingles whose sketched document frequency `df` exceeds `max_df` (None: keep all)."""
    if max_df is None or len(sets.hashes) == 0:
        return sets
    common = exceeds(df, sets.hashes, max_df, config=sketch)
    if not common.any():
        return sets
    logger.info(
        "template guard: %d shingle occurrences in > %d documents ignored",
        int(common.sum()),
        max_df,
    )
    return filter_shingle_sets(sets, ~common)


def find_pairs_by_band(band_columns: Iterable[np.ndarray], *, max_bucket: int) -> np.ndarray:
    """Return unique candidate pairs ``(i, j)``, ``i < j``, from one band's keys at a time.

    Each item is the ``(n,)`` uint64 keys of one band, documents in keeper order; only one band
    (and its pairs) is in memory at a time, whatever the number of bands.
    """
    pairs = [
        find_candidate_pairs(column[:, None], max_bucket=max_bucket) for column in band_columns
    ]
    pairs = [p for p in pairs if len(p)]
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def record_sides(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Return each record's prompt side and reply side, each joined with newlines.

    The prompt side is the turns of any role but ``assistant`` (a null role included), the reply
    side the assistant turns, then ``chosen`` and ``rejected`` where not null; built by polars
    list expressions (the per-row definition is the oracle in tests/pipeline/stages/dedup).
    """
    empty = pl.lit([], dtype=pl.List(pl.String))
    prompt = reply = pl.repeat(empty, frame.height)
    if "messages" in frame.columns:
        is_reply = pl.element().struct.field("role").eq_missing("assistant")
        content = pl.element().struct.field("content")
        prompt = pl.col("messages").list.eval(content.filter(~is_reply)).fill_null(empty)
        reply = pl.col("messages").list.eval(content.filter(is_reply)).fill_null(empty)
    pairs = [
        pl.col(c) if c in frame.columns else pl.lit(None, dtype=pl.String)
        for c in ("chosen", "rejected")
    ]
    sides = frame.select(
        prompt.list.join("\n").alias("prompt"),
        pl.concat_list([reply, *pairs]).list.join("\n", ignore_nulls=True).alias("reply"),
    )
    return sides.get_column("prompt").to_list(), sides.get_column("reply").to_list()


# `unique_per_doc` sorts ``doc << 52 | hash`` keys: a document index must fit the 12 bits
# above the 52-bit hash, so sides are merged at most this many records at a time.
MERGE_DOCS = 1 << 12


def record_shingle_sets(frame: pl.DataFrame, *, config: MinHashConfig) -> ShingleSets:
    """Return each record's shingle set: prompt shingles, then reply shingles (`REPLY_BIT` set).

    `MERGE_DOCS` records at a time, both sides are shingled in one `batch_shingles` call and
    made unique in one sort: a side's shingles are never made unique on their own first (that
    sort was half of this function's CPU), and one larger batch costs less than eight of
    `BATCH_DOCS`. A document's hashes do not depend on its batch, so the sets are the per-side
    definition's (tests/pipeline/stages/dedup/test_near.py). The document index must fit the 12
    bits above the hash (a larger frame once wrapped it: record ``i + 4096`` lost its set to
    record ``i``).
    """
    prompts, replies = record_sides(frame)
    parts = []
    for lo in range(0, len(prompts), MERGE_DOCS):
        hi = min(lo + MERGE_DOCS, len(prompts))
        hashes, sizes = batch_shingles([*prompts[lo:hi], *replies[lo:hi]], config)
        cut = int(sizes[: hi - lo].sum())
        hashes[:cut] &= ~REPLY_BIT
        hashes[cut:] |= REPLY_BIT
        docs = np.tile(np.arange(hi - lo, dtype=np.int64), 2)
        parts.append(unique_per_doc(hashes, np.repeat(docs, sizes), hi - lo))
    if len(parts) == 1:
        return parts[0]
    return concat_shingle_sets(parts)


def side_similarity(a: np.ndarray, b: np.ndarray, scope: str) -> float:
    """Return the similarity `select_keepers` compares with the threshold (see the module doc).

    Without replies on either record (prompt-only records) the prompts decide alone.
    """
    a_cut = int(np.searchsorted(a, REPLY_BIT))
    b_cut = int(np.searchsorted(b, REPLY_BIT))
    prompt = exact_jaccard(a[:a_cut], b[:b_cut])
    if scope == "prompt" or (a_cut == len(a) and b_cut == len(b)):
        return prompt
    if a_cut == 0 and b_cut == 0:  # no prompt shingles left (all template): replies decide
        return exact_jaccard(a, b)
    return min(prompt, exact_jaccard(a[a_cut:], b[b_cut:]))


def scoped_sets(sets: ShingleSets, scope: str) -> ShingleSets:
    """Return the shingles the signatures are computed on: both sides, or the prompt side."""
    if scope == "prompt":
        return filter_shingle_sets(sets, sets.hashes < REPLY_BIT)
    return sets


def select_keepers(
    sets: ShingleSets, pairs: np.ndarray, threshold: float, scope: str = "conversation"
) -> tuple[np.ndarray, np.ndarray]:
    """Return (representative index or -1, verified score) per document, greedily in index order.

    Documents are in keeper order; `pairs` are ``(earlier, later)`` candidates. A document is a
    copy of the first earlier candidate that is itself kept and reaches `threshold`.
    """
    n = len(sets)
    dup_of = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan)
    if len(pairs) == 0:
        return dup_of, score
    order = np.lexsort((pairs[:, 0], pairs[:, 1]))  # by later doc, then earlier doc
    later, earlier = pairs[order, 1], pairs[order, 0]
    bounds = np.flatnonzero(np.concatenate(([True], later[1:] != later[:-1], [True])))
    for lo, hi in itertools.pairwise(bounds):
        doc = int(later[lo])
        mine = sets.doc(doc)
        for cand in earlier[lo:hi]:
            if dup_of[cand] != -1:
                continue
            similarity = side_similarity(sets.doc(int(cand)), mine, scope)
            if similarity >= threshold:
                dup_of[doc], score[doc] = cand, similarity
                break
    return dup_of, score


def band_plan(config: NearDedupConfig) -> BandPlan:
    """Return the LSH banding of `config` (`optimal_bands` with its weights)."""
    return optimal_bands(
        config.threshold,
        config.minhash.num_perm,
        fp_weight=config.fp_weight,
        fn_weight=config.fn_weight,
    )


def keeper_order(frame: pl.DataFrame) -> np.ndarray:
    """Return the row order by ``dedup_keeper_rank``, then ``record_id`` (the keeper order)."""
    return (
        frame.select("dedup_keeper_rank", "record_id")
        .with_row_index("_i")
        .sort(["dedup_keeper_rank", "record_id"])
        .get_column("_i")
        .to_numpy()
        .astype(np.int64)
    )


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
            raise InternalError(msg)
    order = keeper_order(frame)
    ranked = frame[order]
    sets = record_shingle_sets(ranked, config=config.minhash)
    sketch = sketch_for(len(sets.hashes))
    sets = drop_template_shingles(
        sets, count_shingle_df(sets, sketch=sketch), config.template_max_df, sketch=sketch
    )
    banded = scoped_sets(sets, config.scope)
    nonempty = np.flatnonzero(banded.sizes > 0)
    signatures = compute_signatures(banded, config=config.minhash)[nonempty]
    keys = compute_band_keys(signatures, band_plan(config))
    local = find_pairs_by_band(keys.T, max_bucket=config.max_bucket)
    dup_of, score = select_keepers(sets, nonempty[local], config.threshold, config.scope)
    logger.info(
        "near dedup: %d candidate pairs, %d records tagged", len(local), int((dup_of >= 0).sum())
    )
    return with_near_columns(frame, order, dup_of, score)


def with_near_columns(
    frame: pl.DataFrame, order: np.ndarray, dup_of: np.ndarray, score: np.ndarray
) -> pl.DataFrame:
    """Add the ``near_*`` gate columns to `frame`, given per-document results in `order`.

    ``dup_of[k]`` is the keeper-order position of document ``k``'s representative, or -1;
    ``near_detail`` names the representative's source, file, row and license.
    """
    rows = order[np.flatnonzero(dup_of >= 0)]
    keepers = order[dup_of[dup_of >= 0]]
    by_row = np.full(frame.height, -1, dtype=np.int64)
    by_row[rows] = keepers
    score_by_row = np.full(frame.height, np.nan)
    score_by_row[order] = score
    ids = frame.get_column("record_id")
    dup_ids = [ids[int(k)] if k >= 0 else None for k in by_row.tolist()]
    dropped = np.flatnonzero(by_row >= 0)
    return frame.with_columns(
        pl.Series(
            "near_drop_rule", [RULE_ID if d is not None else None for d in dup_ids], dtype=pl.String
        ),
        pl.Series(
            "near_drop_reason",
            [REASON if d is not None else None for d in dup_ids],
            dtype=pl.String,
        ),
        pl.Series("near_dup_of", dup_ids, dtype=pl.String),
        pl.Series("near_score", score_by_row, dtype=pl.Float64).fill_nan(None),
        keeper_details(frame, dropped.tolist(), by_row[dropped].tolist(), name="near_detail"),
    )
