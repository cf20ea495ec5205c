"""The stage configuration of one build, derived from a spec and validated up front.

`build_config(spec, base_dir=...)` turns the spec's sections into the library's config objects
and returns a picklable `BuildConfig` whose attributes are the stage functions to apply. Every
rule id and config slug in use is listed by `BuildConfig.evidence()` for the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.canonical import SCHEMA_RULE
from pipeline.dedup.exact import EXACT_RULE, tag_exact_duplicates
from pipeline.errors import ConfigError
from pipeline.ingest import READ_RULE
from pipeline.mixture.sampler import SAMPLER_RULE, SamplingConfig
from pipeline.mixture.spec import MixtureSpec
from pipeline.tagging import build_tagger, tag_slices
from pipeline.provenance import LicensePolicy, rank_keepers, tag_license

Stage = Callable[[pl.DataFrame], pl.DataFrame]
PREFIXES = {
    "license": "license",
    "quality": "quality",
    "pii": "pii",
    "exact_dedup": "exact",
    "near_dedup": "near",
    "decontam": "decontam",
}


def check_label_in(value: str, axis: str, source: str, field_name: str, *, allowed: dict[str, frozenset[str]]) -> str:
    """Return `value` if it is a known `axis` label, else raise a one-line `ConfigError`."""
    if value not in allowed[axis]:
        msg = (
            f"source `{source}`: {axis} {value!r} (from `{field_name}`) is not in the taxonomy; "
            f"allowed: {', '.join(sorted(allowed[axis]))}"
        )
        raise ConfigError(msg)
    return value


@dataclass(frozen=True)
class BuildConfig:
    """Stage functions and evidence for one build. Picklable (module-level callables only)."""

    check_label: Callable[[str, str, str, str], str]
    tag: Stage
    file_stages: dict[str, Stage]
    pool_stages: dict[str, Stage]
    rank: Stage
    sampling: SamplingConfig
    rules: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)

    def prefix(self, stage: str) -> str:
        """Return the column prefix a stage uses for its gate columns."""
        return PREFIXES[stage]

    def evidence(self) -> dict[str, Any]:
        """Return rule ids and config details for the manifest."""
        return {"rules": dict(sorted(self.rules.items())), **self.details}


def _sampling(spec: MixtureSpec) -> SamplingConfig:
    return SamplingConfig(
        seed=spec.seed,
        total=spec.total,
        slices=tuple((s.intent, s.difficulty, s.weight) for s in spec.slices),
        max_repeats=spec.sampling.max_repeats,
        shortfall=spec.sampling.shortfall,
        synthetic_max_share=spec.sampling.synthetic_max_share,
    )


def build_config(spec: MixtureSpec, *, base_dir: Path) -> BuildConfig:
    """Validate the spec's stage sections and assemble the build's stage functions."""
    policy = LicensePolicy(
        allow=tuple(spec.license_policy.allow),
        deny=tuple(spec.license_policy.deny),
        unknown=spec.license_policy.unknown,
    )
    tagger = build_tagger(
        spec.extensions.get("tagging"),
        base_dir=base_dir,
        extra_intents=[s.intent for s in spec.slices],
        extra_difficulties=[s.difficulty for s in spec.slices],
    )
    allowed = {
        "intent": frozenset(tagger.taxonomy.intents),
        "difficulty": frozenset(tagger.taxonomy.difficulties),
    }
    rules = {
        "read": READ_RULE,
        "schema": SCHEMA_RULE,
        "license": policy.rule_id,
        "exact_dedup": EXACT_RULE,
        "sampler": SAMPLER_RULE,
        "intent_tagger": tagger.intent_rules.id,
        "difficulty_tagger": tagger.difficulty_rules.id,
    }
    details: dict[str, Any] = {"tagging": tagger.manifest_entry()}
    return BuildConfig(
        check_label=partial(check_label_in, allowed=allowed),
        tag=partial(tag_slices, tagger=tagger),
        file_stages={"license": partial(tag_license, policy=policy)},
        pool_stages={"exact_dedup": tag_exact_duplicates},
        rank=partial(rank_keepers, priorities={s.name: s.priority for s in spec.sources}),
        sampling=_sampling(spec),
        rules=rules,
        details=details,
    )
