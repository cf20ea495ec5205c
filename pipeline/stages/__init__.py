"""The stage list: every stage of a build, in order, declared once.

A record's path through a build is `STAGES`, top to bottom. Each `StageDecl` says where the
stage runs (``file``: once per input file or shard, row-local; ``pool``: on the pool of every
source), which gate columns it writes (``<prefix>_drop_rule`` ...), which versioned rule ids it
records in the manifest, which spec sections it reads (so the per-file cache key is built from
what the file-scope stages read, and nothing else) and which function implements it. The build
(`pipeline.build`) iterates over this list; the ledger's stage order, the manifest's per-stage
counts and the stage table of docs/architecture.md are generated from it.

The functions are named as ``"module:function"`` and imported only when asked for
(`StageDecl.function`), so reading the list never imports presidio or polars.

>>> [s.name for s in STAGES if s.ledger]
['ingest', 'license', 'quality', 'pii', 'exact_dedup', 'near_dedup', 'decontam']
>>> stage("near_dedup").prefix, stage("near_dedup").scope
('near', 'pool')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.errors import InternalError

Scope = Literal["file", "pool"]
# Where a pool stage's tags are computed: in each shard task (row-local, e.g. the holdout
# index lookup), on the narrow pool in the flow process, or over the spilled shard files.
TaggedAt = Literal["file", "shard", "pool", "spill"]


@dataclass(frozen=True)
class StageDecl:
    """One stage of the build.

    Parameters
    ----------
    name
        The stage's name: the ledger's ``stage`` value and the manifest's key.
    scope
        ``file`` (row-local, cached per input file) or ``pool`` (across sources).
    doc
        What the stage does, in one line (the docs table).
    function
        ``"module:function"`` of the stage function (the frame-in, frame-out reference
        implementation; the build may run an equivalent that reads spills, see `tagged_at`).
    prefix
        Column prefix of its gate columns; None for a stage that never drops through the gate.
    rules
        Manifest ``rules`` entries it owns: evidence key -> ``"module:CONSTANT"`` of the
        versioned rule id (the stage module keeps its own id), or None when the id comes from
        the configuration (a license policy, a tagging rule set). See `rule_ids`.
    sections
        Spec sections the stage reads (dotted for nested sections, e.g. ``dedup.near``).
    details
        Manifest ``config`` entries (slugs and settings) it owns.
    tagged_at
        Where its tags are computed (``file`` for file-scope stages).
    spent
        Columns, besides its ``<prefix>_*`` ones, that the pool no longer needs after its gate.
    own_ledger
        The stage writes ledger rows itself, without the gate (ingest: unreadable rows).
    carried
        Columns of its own that the narrow pool keeps for the manifest's counts.
    rewrites_text
        The stage changes record texts (PII redaction): inputs of later stages that must see
        the original text (dedup keys, shingles) are taken before it.
    """

    name: str
    scope: Scope
    doc: str
    function: str
    prefix: str | None = None
    rules: Mapping[str, str | None] = field(default_factory=dict)
    sections: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    tagged_at: TaggedAt = "file"
    spent: tuple[str, ...] = ()
    own_ledger: bool = False
    carried: tuple[str, ...] = ()
    rewrites_text: bool = False

    def __post_init__(self) -> None:
        if (self.scope == "file") != (self.tagged_at == "file"):
            msg = (
                f"stage `{self.name}`: scope {self.scope!r} cannot be tagged at {self.tagged_at!r}"
            )
            raise InternalError(msg)

    @property
    def ledger(self) -> bool:
        """Whether rows leave the pool at this stage (it has ledger rows and manifest counts)."""
        return self.prefix is not None or self.own_ledger

    @property
    def gate_prefix(self) -> str:
        """The prefix of a gate stage's columns (`InternalError` for a stage without a gate)."""
        if self.prefix is None:
            msg = f"stage `{self.name}` has no gate"
            raise InternalError(msg)
        return self.prefix

    def function_object(self) -> Callable[..., Any]:
        """Import and return the stage function."""
        return _resolve(self.function)

    def rule_ids(self) -> dict[str, str | None]:
        """Return the stage's manifest rule entries with their versioned ids (None: from config)."""
        return {key: _resolve(ref) if ref else None for key, ref in self.rules.items()}


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


STAGES: tuple[StageDecl, ...] = (
    StageDecl(
        "ingest",
        "file",
        "read each row, map it to a canonical record, validate it",
        "pipeline.stages.ingest:ingest_file",
        rules={
            "read": "pipeline.stages.ingest:READ_RULE",
            "schema": "pipeline.records.canonical:SCHEMA_RULE",
        },
        sections=("sources", "slices"),
        own_ledger=True,
    ),
    StageDecl(
        "tagging",
        "file",
        "fill missing intent and difficulty labels from versioned rule sets",
        "pipeline.stages.tagging:tag_slices",
        rules={"intent_tagger": None, "difficulty_tagger": None},
        sections=("tagging",),
        details=("tagging",),
    ),
    StageDecl(
        "license",
        "file",
        "tag records whose license the policy does not allow",
        "pipeline.stages.license:tag_license",
        prefix="license",
        rules={"license": None},
        sections=("license_policy",),
    ),
    StageDecl(
        "quality",
        "file",
        "tag empty, too short/long, repetitive, broken or refusal records",
        "pipeline.stages.quality:tag_quality",
        prefix="quality",
        rules={"quality": None},
        sections=("quality",),
        carried=("quality_refusal",),
    ),
    StageDecl(
        "pii",
        "file",
        "find PII with presidio; tag records to drop, then redact the rest",
        "pipeline.stages.pii:tag_pii",
        prefix="pii",
        rules={"pii": "pipeline.stages.pii.config:PII_RULE"},
        sections=("pii",),
        details=("pii",),
        carried=("pii_redactions",),
        rewrites_text=True,
    ),
    StageDecl(
        "exact_dedup",
        "pool",
        "keep one record of each normalized-content group",
        "pipeline.stages.dedup.exact:tag_exact_duplicates",
        prefix="exact",
        rules={"exact_dedup": "pipeline.stages.dedup.exact:EXACT_RULE"},
        tagged_at="pool",
        spent=("dedup_content_key",),
    ),
    StageDecl(
        "near_dedup",
        "pool",
        "drop records whose shingle Jaccard with a keeper is >= threshold",
        "pipeline.stages.dedup.near:tag_near_duplicates",
        prefix="near",
        rules={"near_dedup": "pipeline.stages.dedup.near:RULE_ID"},
        sections=("dedup.near",),
        details=("near_dedup",),
        tagged_at="spill",
    ),
    StageDecl(
        "decontam",
        "pool",
        "drop records that contain an item of an evaluation holdout",
        "pipeline.stages.decontam.match:tag_contamination",
        prefix="decontam",
        rules={"decontam": "pipeline.stages.decontam.match:RULE_ID"},
        sections=("holdouts", "dedup.decontam"),
        details=("decontam",),
        tagged_at="shard",
    ),
    StageDecl(
        "sample",
        "pool",
        "fill each slice's quota with a seeded, weighted sample",
        "pipeline.stages.sample:sample_mixture",
        rules={"sampler": "pipeline.stages.sample:SAMPLER_RULE"},
        sections=("seed", "total", "slices", "sampling"),
        tagged_at="pool",
    ),
)


def stage(name: str) -> StageDecl:
    """Return the declaration of stage `name`."""
    for decl in STAGES:
        if decl.name == name:
            return decl
    msg = f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}"
    raise InternalError(msg)


def gate_stages(scope: Scope) -> tuple[StageDecl, ...]:
    """Return the stages of `scope` that drop rows through the gate, in build order."""
    return tuple(s for s in STAGES if s.scope == scope and s.prefix is not None)


def ledger_order() -> tuple[str, ...]:
    """Return the names of the stages that drop rows, in build order (ledger and manifest order)."""
    return tuple(s.name for s in STAGES if s.ledger)


def stage_table() -> str:
    """Return the stage list as a Markdown table (docs/architecture.md embeds it)."""
    lines = [
        "| # | stage | scope | prefix | rule ids | spec sections | what it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(STAGES, 1):
        ids = s.rule_ids()
        rules = ", ".join(f"`{v}`" if v else f"({k}: from config)" for k, v in ids.items())
        sections = ", ".join(f"`{x}`" for x in s.sections) or "-"
        prefix = f"`{s.prefix}_`" if s.prefix else "-"
        lines.append(
            f"| {i} | `{s.name}` | {s.scope} | {prefix} | {rules} | {sections} | {s.doc} |"
        )
    return "\n".join(lines)
