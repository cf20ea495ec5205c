"""The stage configuration of one build, derived from a spec and validated up front.

`build_config(spec, base_dir=...)` turns the spec's sections into the library's config objects
and engines (tagger, PII scanner, holdout index) and returns a picklable `BuildConfig` whose
attributes are the stage functions to apply. `BuildConfig.evidence()` lists every rule id and
config slug in use, for the manifest.

Spec sections for stages (all optional; defaults documented in docs/spec.md):

- ``tagging``: see `pipeline.stages.tagging.build_tagger`;
- ``quality``: fields of `pipeline.stages.quality.QualityConfig`;
- ``pii``: fields of `pipeline.stages.pii.config.PiiConfig`;
- ``dedup``: ``near`` (fields of `NearDedupConfig`) and ``decontam`` (fields of
  `DecontamConfig`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.build.pii_sources import manifest_entry as pii_manifest_entry
from pipeline.build.pii_sources import pii_by_source
from pipeline.build.pool_dedup import tag_near_spilled
from pipeline.errors import ConfigError, InternalError
from pipeline.io.files import resolve_paths
from pipeline.io.limits import DEFAULT_LIMITS, ReadLimits
from pipeline.sections import DedupSection, config_from_mapping
from pipeline.spec import MixtureSpec
from pipeline.stages import STAGES
from pipeline.stages.decontam.holdouts import HoldoutFile, collect_items, read_holdout_file
from pipeline.stages.decontam.match import HoldoutIndex, tag_contamination
from pipeline.stages.dedup.exact import content_keys, tag_exact_duplicates
from pipeline.stages.dedup.lsh import BandPlan, optimal_bands
from pipeline.stages.dedup.near import NearDedupConfig
from pipeline.stages.ingest import relative_path
from pipeline.stages.license import LicensePolicy, rank_keepers, tag_license
from pipeline.stages.pii import PiiScanner, redact_pii, tag_pii
from pipeline.stages.pii.config import PiiConfig
from pipeline.stages.quality import GATE_ORDER, QualityConfig, tag_quality
from pipeline.stages.sample import SamplingConfig
from pipeline.stages.tagging import Tagger, build_tagger, tag_slices

Stage = Callable[..., pl.DataFrame]


def check_label_in(
    value: str, axis: str, source: str, field_name: str, *, allowed: dict[str, frozenset[str]]
) -> str:
    """Return `value` if it is a known `axis` label, else raise a one-line `ConfigError`."""
    if value not in allowed[axis]:
        msg = (
            f"source `{source}`: {axis} {value!r} (from `{field_name}`) is not in the taxonomy; "
            f"allowed: {', '.join(sorted(allowed[axis]))}"
        )
        raise ConfigError(msg)
    return value


def screen_pii(
    frame: pl.DataFrame,
    *,
    scanner: PiiScanner,
    by_source: Mapping[str, PiiScanner] | None = None,
) -> pl.DataFrame:
    """Tag PII findings, then redact the `redact` entities (records to be dropped included).

    A file belongs to one source; its scanner is the source's own (``sources[].pii``, in
    `by_source`) or `scanner`. The exact-dedup key (``dedup_content_key``) is taken from the text
    *before* redaction, so redaction never changes what counts as a duplicate: two records that
    differ only in a redacted phone number stay two records.
    """
    keyed = frame.with_columns(content_keys(frame))
    sources = keyed.get_column("source").unique().to_list() if by_source else []
    if len(sources) > 1:
        msg = f"screen_pii expects one source per frame; got {sorted(map(str, sources))}"
        raise InternalError(msg)
    if by_source and sources and str(sources[0]) in by_source:
        scanner = by_source[str(sources[0])]
    return redact_pii(tag_pii(keyed, scanner=scanner), scanner=scanner)


@dataclass(frozen=True)
class BuildConfig:
    """Stage functions and evidence for one build. Picklable (module-level callables only).

    `stages` maps the name of each declared gate stage (`pipeline.stages.STAGES`) to its bound
    function; a stage without one (decontamination without holdouts) is skipped. A pool stage
    tagged over the spills (``tagged_at="spill"``) is called with the spills, a work directory
    and the runner's `map` (`pipeline.build.pool_dedup.tag_near_spilled`)."""

    check_label: Callable[[str, str, str, str], str]
    tag: Stage
    stages: dict[str, Stage]
    rank: Stage
    sampling: SamplingConfig
    rules: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    near: NearDedupConfig = field(default_factory=NearDedupConfig)
    reading: ReadLimits = DEFAULT_LIMITS
    # What was read from each holdout file, kept so the manifest's holdout entries need no
    # second read (its items are the index's own objects: pickling shares them).
    holdout_files: tuple[HoldoutFile, ...] = ()

    def evidence(self) -> dict[str, Any]:
        """Return rule ids and config details for the manifest."""
        return {"rules": dict(sorted(self.rules.items())), "config": self.details}


def _sampling(spec: MixtureSpec) -> SamplingConfig:
    return SamplingConfig(
        seed=spec.seed,
        total=spec.total,
        slices=tuple((s.intent, s.difficulty, s.weight) for s in spec.slices),
        max_repeats=spec.sampling.max_repeats,
        shortfall=spec.sampling.shortfall,
        synthetic_max_share=spec.sampling.synthetic_max_share,
    )


def _section(cls: type, spec: MixtureSpec, name: str) -> Any:
    try:
        return config_from_mapping(cls, spec.extensions.get(name), where=name)
    except ConfigError as exc:
        text = str(exc)
        msg = text if text.startswith(f"`{name}") else f"spec section `{name}`: {text}"
        raise ConfigError(msg) from None


def read_spec_holdouts(spec: MixtureSpec, *, base_dir: Path) -> list[HoldoutFile]:
    """Read every holdout file of the spec (prompt side, or its `fields`), in spec and file order."""
    return [
        read_holdout_file(
            path, holdout=holdout.name, label=relative_path(path, base_dir), fields=holdout.fields
        )
        for holdout in spec.holdouts
        for path in resolve_paths(holdout.path, base_dir=base_dir)
    ]


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
    quality = _section(QualityConfig, spec, "quality")
    pii = _section(PiiConfig, spec, "pii")
    dedup = _section(DedupSection, spec, "dedup")
    reading = _section(ReadLimits, spec, "reading")
    scanner = PiiScanner(pii)
    pii_sources = pii_by_source(spec, pii)
    plan = optimal_bands(
        dedup.near.threshold,
        dedup.near.minhash.num_perm,
        fp_weight=dedup.near.fp_weight,
        fn_weight=dedup.near.fn_weight,
    )
    holdout_files = read_spec_holdouts(spec, base_dir=base_dir)
    items = collect_items(holdout_files)
    index = HoldoutIndex.build(items, config=dedup.decontam) if items else None
    stages = _stage_functions(policy, quality, scanner, pii_sources, dedup, index)
    configured = {
        "license": policy.rule_id,
        "quality": ",".join(rule for rule, _ in GATE_ORDER),
        "intent_tagger": tagger.intent_rules.id,
        "difficulty_tagger": tagger.difficulty_rules.id,
    }
    rules = {k: v or configured[k] for decl in STAGES for k, v in decl.rule_ids().items()}
    details = _details(
        tagger, pii, pii_sources, dedup, plan=plan, items=len(items), holdout_files=holdout_files
    )
    return BuildConfig(
        check_label=partial(check_label_in, allowed=allowed),
        tag=partial(tag_slices, tagger=tagger),
        stages={name: fn for name, fn in stages.items() if fn is not None},
        rank=partial(rank_keepers, priorities={s.name: s.priority for s in spec.sources}),
        sampling=_sampling(spec),
        rules=rules,
        details=details,
        near=dedup.near,
        reading=reading,
        holdout_files=tuple(holdout_files),
    )


def _stage_functions(
    policy: LicensePolicy,
    quality: QualityConfig,
    scanner: PiiScanner,
    pii_sources: dict[str, PiiConfig],
    dedup: DedupSection,
    index: HoldoutIndex | None,
) -> dict[str, Stage | None]:
    """The bound function of each declared gate stage (`pipeline.stages.STAGES`), by its name;
    None: the stage has nothing to do (no holdouts to decontaminate against)."""
    return {
        "license": partial(tag_license, policy=policy),
        "quality": partial(tag_quality, config=quality),
        "pii": partial(
            screen_pii,
            scanner=scanner,
            by_source={name: PiiScanner(c) for name, c in pii_sources.items()} or None,
        ),
        "exact_dedup": tag_exact_duplicates,
        "near_dedup": partial(tag_near_spilled, config=dedup.near),
        "decontam": (
            partial(tag_contamination, index=index, config=dedup.decontam)
            if index is not None
            else None
        ),
    }


def _details(
    tagger: Tagger,
    pii: PiiConfig,
    pii_sources: dict[str, PiiConfig],
    dedup: DedupSection,
    *,
    plan: BandPlan,
    items: int,
    holdout_files: list[HoldoutFile],
) -> dict[str, Any]:
    """The manifest's account of the configured stages: tagger, PII, near-dedup bands, holdouts."""
    return {
        "tagging": tagger.manifest_entry(),
        "pii": pii_manifest_entry(pii)
        | (
            {"sources": {n: pii_manifest_entry(c) for n, c in pii_sources.items()}}
            if pii_sources
            else {}
        ),
        "near_dedup": {
            "slug": dedup.near.slug,
            "threshold": dedup.near.threshold,
            "bands": plan.bands,
            "rows": plan.rows,
            "estimated_fp_rate": round(plan.fp_rate, 6),
            "estimated_fn_rate": round(plan.fn_rate, 6),
        },
        "decontam": {
            "slug": dedup.decontam.slug,
            "threshold": dedup.decontam.threshold,
            "holdout_items": items,
            "holdout_files": [f.summary() for f in holdout_files],
        },
    }
