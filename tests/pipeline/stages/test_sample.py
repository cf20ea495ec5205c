"""Slice sampling: exact quotas, shortfall policies, repeat caps, synthetic share, determinism."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.errors import ShortfallError
from pipeline.stages.sample import SamplingConfig, largest_remainder, sample_mixture


def _pool(spec: dict[tuple[str, str], tuple[int, int]]) -> pl.DataFrame:
    """spec: (intent, difficulty) -> (human records, synthetic records)."""
    rows = []
    for (intent, difficulty), (human, synth) in spec.items():
        for i in range(human + synth):
            kind = "sft" if i < human else "synthetic"
            rows.append(
                {
                    "record_id": f"{intent}-{difficulty}-{i:04d}",
                    "kind": kind,
                    "intent": intent,
                    "difficulty": difficulty,
                }
            )
    return pl.DataFrame(rows)


SLICES = (
    ("math", "multi_step", 2.0),
    ("coding", "straightforward", 1.0),
    ("conversation", "ambiguous", 1.0),
)


def _config(**kw):
    base = {"seed": 7, "total": 100, "slices": SLICES}
    base.update(kw)
    return SamplingConfig(**base)


def test_largest_remainder_sums_exactly():
    assert sum(largest_remainder([0.1, 0.2, 0.7], 7)) == 7
    assert largest_remainder([1, 1, 1], 100) == [34, 33, 33]


def test_ample_supply_fills_every_quota_exactly():
    pool = _pool(
        {
            ("math", "multi_step"): (200, 0),
            ("coding", "straightforward"): (200, 0),
            ("conversation", "ambiguous"): (200, 0),
        }
    )
    sampled, slices = sample_mixture(pool, config=_config())
    assert [(s.quota, s.actual) for s in slices] == [(50, 50), (25, 25), (25, 25)]
    assert sampled.height == 100
    assert sampled.get_column("record_id").n_unique() == 100


def test_same_seed_same_sample_other_seed_differs():
    pool = _pool(
        {
            ("math", "multi_step"): (300, 0),
            ("coding", "straightforward"): (300, 0),
            ("conversation", "ambiguous"): (300, 0),
        }
    )
    a, _ = sample_mixture(pool, config=_config())
    b, _ = sample_mixture(pool.reverse(), config=_config())
    c, _ = sample_mixture(pool, config=_config(seed=8))
    assert a.equals(b)
    assert not a.equals(c)


SHORT = {
    ("math", "multi_step"): (10, 0),
    ("coding", "straightforward"): (200, 0),
    ("conversation", "ambiguous"): (200, 0),
}


def test_shortfall_error_names_the_short_slice():
    with pytest.raises(ShortfallError, match="math/multi_step needs 50 has 10"):
        sample_mixture(_pool(SHORT), config=_config(shortfall="error"))


def test_shortfall_allow_short_keeps_the_smaller_slice():
    sampled, slices = sample_mixture(_pool(SHORT), config=_config(shortfall="allow_short"))
    assert [s.actual for s in slices] == [10, 25, 25]
    assert sampled.height == 60


def test_shortfall_redistribute_moves_the_gap_by_weight():
    sampled, slices = sample_mixture(_pool(SHORT), config=_config(shortfall="redistribute"))
    assert sampled.height == 100
    assert [s.actual for s in slices] == [10, 45, 45]


def test_max_repeats_is_never_exceeded():
    sampled, slices = sample_mixture(
        _pool(SHORT), config=_config(shortfall="allow_short", max_repeats=3)
    )
    counts = sampled.group_by("record_id").len().get_column("len")
    assert counts.max() <= 3
    assert slices[0].actual == 30  # 10 records x 3 copies, short of 50
    assert sampled.filter(pl.col("intent") == "math").get_column("sample_repeat").max() == 2


def test_synthetic_share_is_capped():
    pool = _pool(
        {
            ("math", "multi_step"): (100, 100),
            ("coding", "straightforward"): (10, 100),
            ("conversation", "ambiguous"): (100, 100),
        }
    )
    sampled, _ = sample_mixture(
        pool, config=_config(synthetic_max_share=0.2, shortfall="redistribute")
    )
    assert sampled.height == 100
    assert sampled.filter(pl.col("kind") == "synthetic").height <= 20


def test_shortfall_caused_by_the_synthetic_cap_names_the_cap():
    """Enough records, but most synthetic: the error says the cap, not the supply, is short."""
    from pipeline.errors import ShortfallError
    from pipeline.stages.sample import SamplingConfig, sample_mixture

    pool = pl.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(10)],
            "intent": ["math"] * 10,
            "difficulty": ["multi_step"] * 10,
            "kind": ["synthetic"] * 8 + ["sft"] * 2,
        }
    )
    config = SamplingConfig(
        seed=1, total=10, slices=(("math", "multi_step", 1.0),), synthetic_max_share=0.2
    )
    with pytest.raises(
        ShortfallError,
        match=r"because of the synthetic cap.*allows 2 synthetic records in this slice, it has 8",
    ):
        sample_mixture(pool, config=config)
