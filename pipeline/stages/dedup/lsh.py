"""LSH banding on MinHash signatures: choosing bands, and sort-based band joins in numpy.

A band of ``r`` signature slots is hashed to one uint64 key; two documents are candidates when
any of their ``b`` band keys are equal. Joins sort the keys of one band at a time and read runs
of equal keys, so memory stays ``O(n)`` per band and there is no index object.

Huge buckets (many documents with one band key, e.g. mass near-copies) would produce
``k * (k - 1) / 2`` pairs. Within a bucket of more than ``max_bucket`` documents, each document
is paired only with the first ``max_bucket`` documents of the bucket in input order (callers
pass documents in keeper-rank order, so these are the likely representatives):
``O(k * max_bucket)`` pairs instead of ``O(k**2)``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError, InternalError

logger = logging.getLogger(__name__)

_KEY_MUL = np.uint64(0x9E3779B97F4A7C15)
_KEY_MIX = np.uint64(0xFF51AFD7ED558CCD)
_GRID = 2001


@dataclass(frozen=True)
class BandPlan:
    """A banding of ``bands * rows`` signature slots, with its estimated error integrals.

    ``fp_rate`` is the integral of the candidate probability over similarities below the
    threshold, ``fn_rate`` the integral of the miss probability above it (datasketch's measure).
    """

    bands: int
    rows: int
    threshold: float
    fp_rate: float
    fn_rate: float

    def __post_init__(self) -> None:
        if self.bands < 1 or self.rows < 1:
            msg = f"`bands` and `rows` must be >= 1; got bands={self.bands!r}, rows={self.rows!r}"
            raise InternalError(msg)

    def candidate_probability(self, similarity: float) -> float:
        """Return the probability that a pair with this Jaccard similarity becomes a candidate."""
        return float(1.0 - (1.0 - similarity**self.rows) ** self.bands)


def _integral(values: np.ndarray, grid: np.ndarray) -> float:
    return float(np.trapezoid(values, grid)) if len(grid) > 1 else 0.0


@functools.lru_cache(maxsize=32)
def optimal_bands(
    threshold: float, num_perm: int, *, fp_weight: float = 0.05, fn_weight: float = 0.95
) -> BandPlan:
    """Choose ``(bands, rows)`` minimizing ``fp_weight * FP + fn_weight * FN``.

    FP and FN are the integrals of the candidate probability below `threshold` and of the
    miss probability above it, as in datasketch's ``_optimal_param``. The default weights are
    recall-oriented: every candidate is verified on exact shingle sets, so a false positive
    costs one cheap check while a false negative is a silent miss. At 0.8 and 128 permutations
    they give 16 x 8 (candidate probability 0.95 at J = 0.8) instead of the 9 x 13 of equal
    weights (0.40 at J = 0.8).

    Cached: the search takes ~50 ms, and near dedup over spilled shards asks once per shard.
    """
    if not 0.0 < threshold < 1.0:
        msg = f"`threshold` must be in (0, 1); got {threshold!r}"
        raise ConfigError(msg)
    if num_perm < 2:
        msg = f"`num_perm` must be >= 2; got {num_perm!r}"
        raise ConfigError(msg)
    if fp_weight < 0 or fn_weight < 0 or fp_weight + fn_weight <= 0:
        msg = (
            "`fp_weight` and `fn_weight` must be >= 0 and not both 0; "
            f"got {fp_weight!r} and {fn_weight!r}"
        )
        raise ConfigError(msg)
    low = np.linspace(0.0, threshold, _GRID)
    high = np.linspace(threshold, 1.0, _GRID)
    best: tuple[float, int, int, float, float] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _integral(1.0 - (1.0 - low**rows) ** bands, low)
            fn = _integral((1.0 - high**rows) ** bands, high)
            error = fp_weight * fp + fn_weight * fn
            if best is None or error < best[0] - 1e-12:
                best = (error, bands, rows, fp, fn)
    _, bands, rows, fp, fn = best  # type: ignore[misc]
    plan = BandPlan(bands=bands, rows=rows, threshold=threshold, fp_rate=fp, fn_rate=fn)
    logger.info(
        "lsh plan: %d bands x %d rows at threshold %.2f (est. fp %.4f, fn %.4f)",
        bands,
        rows,
        threshold,
        fp,
        fn,
    )
    return plan


def compute_band_keys(signatures: np.ndarray, plan: BandPlan) -> np.ndarray:
    """Return the ``(n, bands)`` uint64 band keys of ``(n, num_perm)`` uint32 signatures."""
    needed = plan.bands * plan.rows
    if signatures.ndim != 2 or signatures.shape[1] < needed:
        msg = (
            f"`signatures` must have >= {needed} columns for {plan.bands}x{plan.rows} bands; "
            f"got shape {signatures.shape}"
        )
        raise InternalError(msg)
    keys = np.zeros((signatures.shape[0], plan.bands), dtype=np.uint64)
    for band in range(plan.bands):
        # the band's slots as contiguous uint64 rows: one conversion, no strided column reads
        slots = signatures[:, band * plan.rows : (band + 1) * plan.rows].T.astype(np.uint64)
        key = np.full(signatures.shape[0], band + 1, dtype=np.uint64)
        for slot in slots:
            key ^= slot
            key *= _KEY_MUL
        keys[:, band] = key ^ ((key >> np.uint64(29)) * _KEY_MIX)
    return keys


def _pairs_in_runs(order: np.ndarray, sorted_keys: np.ndarray, max_bucket: int) -> np.ndarray:
    """Return (earlier, later) document pairs sharing a key, as an ``(m, 2)`` int64 array."""
    same = sorted_keys[1:] == sorted_keys[:-1]
    if not same.any():
        return np.zeros((0, 2), dtype=np.int64)
    boundaries = np.flatnonzero(np.concatenate(([True], ~same, [True])))
    starts, ends = boundaries[:-1], boundaries[1:]
    sizes = ends - starts
    out = []
    small = (sizes >= 2) & (sizes <= max_bucket)
    if small.any():
        member = np.repeat(small, sizes)
        run_id = np.repeat(np.arange(len(sizes)), sizes)[member]
        docs = order[member]
        for gap in range(1, int(sizes[small].max())):
            hit = run_id[gap:] == run_id[:-gap]
            out.append(np.stack([docs[:-gap][hit], docs[gap:][hit]], axis=1))
    for start, end in zip(starts[sizes > max_bucket], ends[sizes > max_bucket], strict=True):
        docs = order[start:end]
        heads = np.arange(max_bucket)
        later = np.arange(len(docs))
        first, second = np.meshgrid(heads, later, indexing="ij")
        keep = second > first
        out.append(np.stack([docs[first[keep]], docs[second[keep]]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def _unique_pairs(pairs: list[np.ndarray]) -> np.ndarray:
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    allp = np.concatenate(pairs)
    return np.unique(allp, axis=0) if len(allp) else allp.reshape(0, 2)


def find_candidate_pairs(keys: np.ndarray, *, max_bucket: int = 64) -> np.ndarray:
    """Return unique candidate pairs ``(i, j)``, ``i < j``, sharing any band key.

    Parameters
    ----------
    keys
        ``(n, bands)`` band keys; document order matters only for buckets over `max_bucket`.
    max_bucket
        Bucket size above which only the first `max_bucket` members are paired with the rest.
    """
    pairs = []
    for band in range(keys.shape[1]):
        found = _band_pairs(np.ascontiguousarray(keys[:, band]), max_bucket)
        pairs.append(np.sort(found, axis=1))
    return _unique_pairs(pairs)


def _band_pairs(column: np.ndarray, max_bucket: int) -> np.ndarray:
    """Return the pairs of documents sharing a key of one band (`_pairs_in_runs` of its stable
    sort), sorting only the documents whose key repeats.

    Most keys are unique: a plain sort (no indexes, half an argsort's time) finds the repeated
    ones, and only their documents, in input order, get the stable argsort.
    """
    ranked = np.sort(column)
    repeated = np.unique(ranked[1:][ranked[1:] == ranked[:-1]])
    if len(repeated) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    at = np.searchsorted(repeated, column).clip(max=len(repeated) - 1)
    members = np.flatnonzero(repeated[at] == column)
    keys = column[members]
    order = np.argsort(keys, kind="stable")
    return _pairs_in_runs(members[order], keys[order], max_bucket)


def find_query_pairs(
    query_keys: np.ndarray, index_keys: np.ndarray, *, max_bucket: int = 64
) -> np.ndarray:
    """Return unique pairs ``(query, indexed)`` sharing any band key.

    A query key matching more than `max_bucket` indexed documents yields only the first
    `max_bucket` of them (in index order).
    """
    pairs = []
    for band in range(query_keys.shape[1]):
        order = np.argsort(index_keys[:, band], kind="stable")
        sorted_keys = index_keys[order, band]
        lo = np.searchsorted(sorted_keys, query_keys[:, band], side="left")
        hi = np.minimum(
            np.searchsorted(sorted_keys, query_keys[:, band], side="right"), lo + max_bucket
        )
        counts = hi - lo
        if not counts.any():
            continue
        query = np.repeat(np.arange(len(counts)), counts)
        first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        pairs.append(np.stack([query, order[first + np.arange(counts.sum())]], axis=1))
    return _unique_pairs(pairs)
