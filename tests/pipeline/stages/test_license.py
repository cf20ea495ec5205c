"""License policy by SPDX id or family, and the keeper rule shared by the dedup stages."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.errors import ConfigError
from pipeline.stages.license import LicensePolicy, license_rank, rank_keepers, tag_license


def test_deny_family_glob_catches_every_non_commercial_license():
    policy = LicensePolicy(deny=("*-NC-*",))
    assert policy.decide("CC-BY-NC-4.0") == "license_denied"
    assert policy.decide("CC-BY-NC-SA-4.0") == "license_denied"
    assert policy.decide("cc-by-nc-nd-4.0") == "license_denied"
    assert policy.decide("MIT") is None


def test_allow_list_and_unknown_policy():
    policy = LicensePolicy(allow=("MIT", "Apache-*"), unknown="deny")
    assert policy.decide("Apache-2.0") is None
    assert policy.decide("GPL-3.0-only") == "license_not_allowed"
    assert policy.decide("unknown") == "license_unknown"
    assert LicensePolicy(unknown="allow").decide("unknown") is None
    with pytest.raises(ConfigError, match="got 'maybe'"):
        LicensePolicy(unknown="maybe")


def test_license_rank_orders_permissive_before_restrictive():
    ranks = [
        license_rank(x)
        for x in ("CC0-1.0", "MIT", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "unknown")
    ]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)


def test_tag_license_adds_gate_columns():
    frame = pl.DataFrame({"license": ["MIT", "CC-BY-NC-4.0", "unknown"]})
    tagged = tag_license(frame, policy=LicensePolicy(deny=("*-NC-*",)))
    assert tagged.get_column("license_drop_reason").to_list() == [
        None,
        "license_denied",
        "license_unknown",
    ]
    assert tagged.get_column("license_allowed").to_list() == [True, False, False]


def test_keeper_rank_prefers_priority_then_license_then_record_id():
    frame = pl.DataFrame(
        {
            "record_id": ["b", "a", "c", "d"],
            "source": ["low", "low", "high", "low"],
            "license": ["MIT", "MIT", "CC-BY-NC-4.0", "CC0-1.0"],
            "provenance": [
                {"source": s, "file": "f", "row": i}
                for i, s in enumerate(["low", "low", "high", "low"])
            ],
        }
    )
    ranked = rank_keepers(frame, priorities={"high": 5, "low": 0})
    order = ranked.sort("dedup_keeper_rank").get_column("record_id").to_list()
    assert order == ["c", "d", "a", "b"]
