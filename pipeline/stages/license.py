"""Provenance and license: tag each record's license decision, and rank keepers among duplicates.

License policy (``license_policy_v1``): a license matching any ``deny`` pattern is denied
(``license_denied``); with a non-empty ``allow`` list, a license matching none of it is denied
(``license_not_allowed``); ``unknown`` follows the policy's ``unknown`` setting
(``license_unknown``). Patterns are SPDX ids or case-insensitive globs (``*-NC-*``, ``GPL-*``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import polars as pl

from pipeline.errors import ConfigError

LICENSE_RULE = "license_policy_v1"
UNKNOWN = "unknown"

# Lower is more permissive. Used to pick a keeper among duplicates (most permissive wins).
_PERMISSIVENESS: tuple[tuple[str, int], ...] = (
    ("CC0-*", 0),
    ("Unlicense", 0),
    ("0BSD", 0),
    ("MIT*", 1),
    ("BSD-*", 1),
    ("ISC", 1),
    ("Apache-*", 1),
    ("Zlib", 1),
    ("CC-BY-[0-9]*", 2),
    ("MPL-*", 3),
    ("CC-BY-SA-*", 4),
    ("LGPL-*", 4),
    ("GPL-*", 5),
    ("AGPL-*", 5),
    ("*-NC-*", 6),
    ("*-NC", 6),
    ("*-ND-*", 6),
    ("CC-BY-NC*", 6),
)
_OTHER_RANK = 7
_UNKNOWN_RANK = 8


def license_rank(spdx: str) -> int:
    """Return how restrictive a license is: 0 (public domain) … 8 (unknown).

    >>> license_rank("MIT") < license_rank("CC-BY-SA-4.0") < license_rank("CC-BY-NC-4.0")
    True
    """
    if spdx.lower() == UNKNOWN:
        return _UNKNOWN_RANK
    for pattern, rank in _PERMISSIVENESS:
        if fnmatch.fnmatchcase(spdx.upper(), pattern.upper()):
            return rank
    return _OTHER_RANK


@dataclass(frozen=True)
class LicensePolicy:
    """Allow and deny patterns, and what `unknown` gets."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    unknown: str = "deny"
    rule_id: str = field(default=LICENSE_RULE)

    def __post_init__(self) -> None:
        if self.unknown not in ("allow", "deny"):
            msg = f"`license_policy.unknown` must be 'allow' or 'deny'; got {self.unknown!r}"
            raise ConfigError(msg)

    def decide(self, spdx: str) -> str | None:
        """Return the drop reason for `spdx`, or None when it is allowed."""
        if spdx.lower() == UNKNOWN:
            return None if self.unknown == "allow" else "license_unknown"
        upper = spdx.upper()
        if any(fnmatch.fnmatchcase(upper, p.upper()) for p in self.deny):
            return "license_denied"
        if self.allow and not any(fnmatch.fnmatchcase(upper, p.upper()) for p in self.allow):
            return "license_not_allowed"
        return None


def tag_license(frame: pl.DataFrame, *, policy: LicensePolicy) -> pl.DataFrame:
    """Add ``license_rank``, ``license_allowed`` and the ``license_drop_*`` gate columns."""
    licenses = frame.get_column("license").unique().to_list()
    reasons = {lic: policy.decide(lic) for lic in licenses}
    ranks = {lic: license_rank(lic) for lic in licenses}
    reason = pl.col("license").replace_strict(reasons, default=None, return_dtype=pl.String)
    return frame.with_columns(
        pl.col("license")
        .replace_strict(ranks, default=_OTHER_RANK, return_dtype=pl.UInt8)
        .alias("license_rank"),
        reason.is_null().alias("license_allowed"),
        pl.when(reason.is_not_null())
        .then(pl.lit(policy.rule_id))
        .otherwise(None)
        .alias("license_drop_rule"),
        reason.alias("license_drop_reason"),
        pl.when(reason.is_not_null())
        .then(pl.format('{{"license":"{}"}}', pl.col("license")))
        .otherwise(None)
        .alias("license_detail"),
    )


def rank_keepers(frame: pl.DataFrame, *, priorities: dict[str, int]) -> pl.DataFrame:
    """Add ``dedup_keeper_rank`` (UInt32, 0 = best): priority desc, license rank asc, record_id.

    Exact and near dedup keep the lowest-ranked record of each duplicate group.
    """
    priority = (
        pl.col("source")
        .cast(pl.String)
        .replace_strict(priorities, default=0, return_dtype=pl.Int64)
    )
    ranks = {lic: license_rank(lic) for lic in frame.get_column("license").unique().to_list()}
    order = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_i"),
        (-priority).alias("_p"),
        pl.col("license").cast(pl.String).replace_strict(ranks, return_dtype=pl.Int64).alias("_l"),
        pl.col("record_id"),
        pl.col("provenance").struct.field("source").cast(pl.String).alias("_s"),
        pl.col("provenance").struct.field("file").cast(pl.String).alias("_f"),
        pl.col("provenance").struct.field("row").alias("_r"),
    ).sort(["_p", "_l", "record_id", "_s", "_f", "_r"])
    rank = order.select(
        pl.col("_i"), pl.int_range(pl.len(), dtype=pl.UInt32).alias("dedup_keeper_rank")
    ).sort("_i")
    return frame.with_columns(rank.get_column("dedup_keeper_rank"))
