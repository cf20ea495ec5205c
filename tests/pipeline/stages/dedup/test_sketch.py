"""The count-min sketch's fast paths equal their plain definitions (kept here as oracles)."""

from __future__ import annotations

import gzip
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets
from pipeline.stages.dedup.sketch import (
    SketchConfig,
    _cells,
    count_hashes,
    estimate_counts,
    exceeds,
)
from tests.conftest import SHARED


def _cells_oracle(hashes: np.ndarray, config: SketchConfig, row: int) -> np.ndarray:
    """`_cells` before issue 15's near pass: multipliers drawn per call, converted copy."""
    a = np.asarray(np.random.PCG64(config.seed).random_raw(config.depth), dtype=np.uint64)
    a |= np.uint64(1)
    return ((hashes * a[row]) >> np.uint64(64 - config.width_bits)).astype(np.int64)


def _gsm8k_hashes() -> np.ndarray:
    rows = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")]
    texts = [r["question"] + "\n" + r["answer"] for r in rows[:1500]]
    return compute_shingle_sets(texts, config=MinHashConfig()).hashes


def test_cells_and_guard_equal_their_oracles_on_real_shingles():
    hashes = _gsm8k_hashes()
    widest = SketchConfig(width_bits=30)  # cells only: its sketch would be 16 GiB
    assert np.array_equal(_cells(hashes, widest, 3), _cells_oracle(hashes, widest, 3))
    for bits in (8, 12, 20):  # (a sketch has 4 * 2**bits uint32 counters)
        config = SketchConfig(width_bits=bits, seed=bits)
        for row in range(config.depth):
            assert np.array_equal(_cells(hashes, config, row), _cells_oracle(hashes, config, row))
        sketch = count_hashes(np.concatenate([hashes, hashes[:5000], hashes[:300]]), config=config)
        for limit in (0, 1, 2, 3, 50, 10**6):
            expected = estimate_counts(sketch, hashes, config=config) > limit
            assert np.array_equal(exceeds(sketch, hashes, limit, config=config), expected)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, (1 << 64) - 1), max_size=300),
    st.integers(8, 12),
    st.integers(1, 6),
    st.integers(0, 4),
)
def test_exceeds_equals_the_estimate_above_the_limit(values, bits, depth, limit):
    config = SketchConfig(depth=depth, width_bits=bits)
    hashes = np.array(values, dtype=np.uint64)
    sketch = count_hashes(np.concatenate([hashes, hashes[: len(hashes) // 2]]), config=config)
    expected = estimate_counts(sketch, hashes, config=config) > limit
    assert np.array_equal(exceeds(sketch, hashes, limit, config=config), expected)
