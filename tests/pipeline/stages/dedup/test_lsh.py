"""LSH band choice and sort-based band joins."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from pipeline.errors import ConfigError
from pipeline.stages.dedup.lsh import (
    BandPlan,
    compute_band_keys,
    find_candidate_pairs,
    find_query_pairs,
    optimal_bands,
)


def test_equal_weights_reproduce_datasketch_choice():
    plan = optimal_bands(0.8, 128, fp_weight=0.5, fn_weight=0.5)
    assert (plan.bands, plan.rows) == _optimal_param(0.8, 128, 0.5, 0.5)


def test_default_weights_favour_recall_at_the_threshold():
    plan = optimal_bands(0.8, 128)
    equal = optimal_bands(0.8, 128, fp_weight=0.5, fn_weight=0.5)
    assert plan.candidate_probability(0.8) >= 0.9 > equal.candidate_probability(0.8)
    assert plan.fn_rate < equal.fn_rate
    assert plan.bands * plan.rows <= 128


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_optimal_bands_rejects_threshold_outside_open_unit_interval(threshold):
    with pytest.raises(ConfigError, match="`threshold`"):
        optimal_bands(threshold, 128)


def _signatures(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, size=(n, 32), dtype=np.uint32)


def test_documents_sharing_one_band_become_candidates_once():
    plan = BandPlan(bands=4, rows=8, threshold=0.5, fp_rate=0.0, fn_rate=0.0)
    sig = _signatures(6, 0)
    sig[4, :8] = sig[1, :8]  # one shared band
    sig[5] = sig[2]  # all bands shared
    pairs = find_candidate_pairs(compute_band_keys(sig, plan))
    assert pairs.tolist() == [[1, 4], [2, 5]]


def test_huge_bucket_pairs_each_member_with_the_first_members_only():
    plan = BandPlan(bands=1, rows=8, threshold=0.5, fp_rate=0.0, fn_rate=0.0)
    sig = np.zeros((200, 8), dtype=np.uint32)
    pairs = find_candidate_pairs(compute_band_keys(sig, plan), max_bucket=10)
    assert len(pairs) == 10 * 199 - 45  # not 200 * 199 / 2
    assert set(pairs[:, 0].tolist()) == set(range(10))
    assert set(pairs[:, 1].tolist()) == set(range(1, 200))


def test_query_pairs_join_queries_to_indexed_documents():
    plan = BandPlan(bands=4, rows=8, threshold=0.5, fp_rate=0.0, fn_rate=0.0)
    index, queries = _signatures(5, 1), _signatures(3, 2)
    queries[2, 8:16] = index[3, 8:16]
    queries[0] = index[0]
    pairs = find_query_pairs(compute_band_keys(queries, plan), compute_band_keys(index, plan))
    assert pairs.tolist() == [[0, 0], [2, 3]]
