"""MinHash signatures: batch invariance, empty sets, accuracy vs exact Jaccard, streaming."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.stages.dedup.minhash import (
    EMPTY_SLOT,
    compute_signatures,
    estimate_jaccard,
    text_signatures,
)
from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets, exact_jaccard
from tests.conftest import SHARED


def test_signatures_do_not_depend_on_batch_composition():
    config = MinHashConfig(num_perm=32)
    rng = random.Random(0)
    texts = [
        " ".join(f"w{rng.randrange(300)}" for _ in range(rng.randrange(1, 12))) for _ in range(4200)
    ]
    batch = compute_signatures(compute_shingle_sets(texts, config=config), config=config)
    for i in (0, 511, 512, 4095, 4096, 4199):  # across batch boundaries
        alone = compute_signatures(compute_shingle_sets([texts[i]], config=config), config=config)
        assert np.array_equal(batch[i], alone[0])


def test_empty_set_signature_is_all_empty_slots():
    config = MinHashConfig(num_perm=16)
    sig = compute_signatures(
        compute_shingle_sets(["", "x y z w v u"], config=config), config=config
    )
    assert (sig[0] == EMPTY_SLOT).all()
    assert not (sig[1] == EMPTY_SLOT).all()


def _edited(words: list[str], rate: float, rng: random.Random) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), max(1, int(rate * len(out)))):
        out[i] = f"edit{rng.randrange(10**6)}"
    return out


def test_estimates_match_exact_jaccard_like_datasketch():
    """MAE <= 0.03 at 128 permutations on real GSM8K near-duplicate pairs, as datasketch gets.

    The expected MAE of any 128-permutation MinHash is sqrt(2/pi) * sqrt(J(1-J)/128) per pair.
    """
    rows = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")][:400]
    rng = random.Random(7)
    config = MinHashConfig()
    left, right = [], []
    for row in rows:
        words = (row["question"] + " " + row["answer"]).split()
        left.append(" ".join(words))
        right.append(" ".join(_edited(words, rng.uniform(0.005, 0.04), rng)))
    sets_l = compute_shingle_sets(left, config=config)
    sets_r = compute_shingle_sets(right, config=config)
    ours = estimate_jaccard(
        compute_signatures(sets_l, config=config), compute_signatures(sets_r, config=config)
    )
    exact = np.array([exact_jaccard(sets_l.doc(i), sets_r.doc(i)) for i in range(len(rows))])
    theirs = []
    for i in range(len(rows)):
        a, b = MinHash(num_perm=128, seed=1), MinHash(num_perm=128, seed=1)
        a.update_batch([int(h).to_bytes(8, "little") for h in sets_l.doc(i)])
        b.update_batch([int(h).to_bytes(8, "little") for h in sets_r.doc(i)])
        theirs.append(a.jaccard(b))
    assert exact.min() > 0.5  # near-duplicates ...
    assert exact.max() < 1.0  # ... but never identical
    theory = np.mean(np.sqrt(2 / np.pi) * np.sqrt(exact * (1 - exact) / 128))
    assert np.abs(ours - exact).mean() <= min(0.03, 1.15 * theory)
    assert np.abs(np.array(theirs) - exact).mean() <= 0.03
    assert abs(np.mean(ours - exact)) < 0.01  # unbiased


@pytest.mark.parametrize("unit", ["word", "char"])
def test_text_signatures_are_bit_identical_to_signatures_of_shingle_sets(unit):
    rows = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")]
    texts = [r["question"] + "\n" + r["answer"] for r in rows[:1500]]
    texts += ["", "a b", "Ünïcode wörds — ß here… ok", "x\x00y z", "   "]
    config = MinHashConfig(unit=unit, n=5 if unit == "word" else 3)
    reference = compute_signatures(compute_shingle_sets(texts, config=config), config=config)
    for workers in (1, 2, 3):
        sig = text_signatures(texts, config=config, workers=workers)
        assert sig.dtype == np.uint32
        assert np.array_equal(sig, reference), workers
