"""LSH band choice and sort-based band joins."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ConfigError
from pipeline.stages.dedup.lsh import (
    BandPlan,
    _pairs_in_runs,
    compute_band_keys,
    find_candidate_pairs,
    find_query_pairs,
    optimal_bands,
)
from pipeline.stages.dedup.minhash import compute_signatures
from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets
from tests.conftest import SHARED


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


def _band_keys_oracle(signatures: np.ndarray, plan: BandPlan) -> np.ndarray:
    """`compute_band_keys` before issue 15's near pass: one strided column at a time."""
    keys = np.zeros((signatures.shape[0], plan.bands), dtype=np.uint64)
    for band in range(plan.bands):
        key = np.full(signatures.shape[0], band + 1, dtype=np.uint64)
        for col in range(band * plan.rows, (band + 1) * plan.rows):
            key = (key ^ signatures[:, col].astype(np.uint64)) * np.uint64(0x9E3779B97F4A7C15)
        keys[:, band] = key ^ ((key >> np.uint64(29)) * np.uint64(0xFF51AFD7ED558CCD))
    return keys


def _pairs_oracle(keys: np.ndarray, max_bucket: int) -> np.ndarray:
    """`find_candidate_pairs` before issue 15's near pass: a stable argsort of every key."""
    pairs = []
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        pairs.append(np.sort(_pairs_in_runs(order, keys[order, band], max_bucket), axis=1))
    allp = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    return np.unique(allp, axis=0) if len(allp) else allp.reshape(0, 2)


def test_band_keys_and_pairs_equal_their_oracles_on_real_signatures():
    rows = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")]
    texts = [r["question"] for r in rows[:3000]]
    rng = random.Random(4)
    for i in range(0, 3000, 7):  # near copies (one word changed), exact copies, 30 empty texts
        words = texts[i].split()
        words[rng.randrange(len(words))] = "ünïcödé"
        texts += [" ".join(words), texts[i]]
    texts += [""] * 30
    config = MinHashConfig()
    sig = compute_signatures(compute_shingle_sets(texts, config=config), config=config)
    plan = optimal_bands(0.8, config.num_perm)
    keys = compute_band_keys(sig, plan)
    assert np.array_equal(keys, _band_keys_oracle(sig, plan))
    for max_bucket in (2, 3, 64):
        assert np.array_equal(
            find_candidate_pairs(keys, max_bucket=max_bucket), _pairs_oracle(keys, max_bucket)
        )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), max_size=60),
    st.integers(2, 5),
)
def test_candidate_pairs_equal_the_full_stable_sort(rows, max_bucket):
    keys = np.array(rows, dtype=np.uint64).reshape(-1, 3) * np.uint64(0x9E3779B97F4A7C15)
    assert np.array_equal(
        find_candidate_pairs(keys, max_bucket=max_bucket), _pairs_oracle(keys, max_bucket)
    )
