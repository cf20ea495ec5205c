"""The mixture spec (`mixtures/<name>.yaml`): pydantic at the YAML edge, nothing else.

Unknown keys are rejected. Every error names the field path and the value received, in one
line (`SpecError`). The parsed `MixtureSpec` is frozen; stages receive plain config objects
derived from it.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError, SpecError, short
from pipeline.sections import SECTIONS, section_class, section_schema, validate_sections

Kind = Literal["sft", "preference", "synthetic"]
CANONICAL_FIELDS = (
    "prompt",
    "input",
    "response",
    "system",
    "messages",
    "conversations",
    "history",
    "chosen",
    "rejected",
    "generator",
)


EXTENSION_SECTIONS = tuple(SECTIONS)  # stage sections: validated by `pipeline.sections`


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"  # no `.`/`..`, no separators: safe as a dir
MAX_WEIGHT = 1e9
MAX_YAML_NODES = 100_000  # a spec expands to far fewer; an alias bomb to billions


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Model):
    """A slice label taken from a record field, optionally through a value map."""

    field: str = Field(description="record field holding the label")
    map: dict[str, str] | None = Field(
        default=None, description="source value -> taxonomy label; unmapped values are an error"
    )


class GeneratorSpec(_Model):
    """The generator model of a synthetic source, read from a record field."""

    field: str = Field(description="record field holding the generator model name")


class SourceSpec(_Model):
    """One input source: a file or glob of one kind."""

    name: str = Field(pattern=NAME_PATTERN, description="unique source name")
    kind: Kind
    path: str = Field(description="file or glob, relative to the spec file")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description=f"file field -> canonical field, one of {', '.join(CANONICAL_FIELDS)}",
    )
    license: str = Field(description="SPDX license id, or `unknown`")
    priority: int = Field(default=0, description="higher wins among duplicates")
    generator: str | GeneratorSpec | None = Field(
        default=None, description="synthetic only: the model name, or {field: name}"
    )
    intent: str | LabelSpec | None = Field(default=None, description="a constant or {field, map}")
    difficulty: str | LabelSpec | None = Field(
        default=None, description="a constant or {field, map}"
    )
    pii: dict[str, Any] | None = Field(
        default=None,
        description="overrides of the top-level `pii` section for this source (same keys; "
        "`actions` and `thresholds` merge by entity type), e.g. {actions: {PHONE_NUMBER: flag}}",
    )

    @field_validator("fields")
    @classmethod
    def _canonical_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for src, dst in value.items():
            if dst not in CANONICAL_FIELDS:
                msg = f"`{src}` maps to {dst!r}; allowed: {', '.join(CANONICAL_FIELDS)}"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _generator_only_for_synthetic(self) -> SourceSpec:
        if self.kind == "synthetic" and self.generator is None:
            msg = "synthetic sources need `generator` (a model name or {field: name})"
            raise ValueError(msg)
        if self.kind != "synthetic" and self.generator is not None:
            msg = f"`generator` is only for synthetic sources; this source is {self.kind!r}"
            raise ValueError(msg)
        return self


class HoldoutSpec(_Model):
    """An evaluation holdout: training records that contain its items are contamination."""

    name: str = Field(pattern=NAME_PATTERN)
    path: str = Field(description="file or glob, relative to the spec file")
    fields: list[str] | None = Field(
        default=None,
        description="field paths forming the items (`question`, `turns[0]`, `turns[]`, "
        "`instances[].input`, `messages[role=user]`); default: the prompt fields, by name",
    )


class LicensePolicySpec(_Model):
    """Which licenses may enter the mixture. Patterns are SPDX ids or globs such as `*-NC-*`."""

    allow: list[str] = Field(default_factory=list, description="empty = every non-denied license")
    deny: list[str] = Field(default_factory=list)
    unknown: Literal["allow", "deny"] = "deny"


class SliceSpec(_Model):
    """One intent x difficulty slice and its relative weight."""

    intent: str
    difficulty: str
    weight: float = Field(gt=0, le=MAX_WEIGHT, description="positive; weights are normalized")

    @field_validator("weight")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            msg = "weight must be a finite number"
            raise ValueError(msg)
        return value


class SamplingSpec(_Model):
    """How quotas are filled."""

    max_repeats: int = Field(default=1, ge=1, description="upsampling cap per record; 1 = none")
    shortfall: Literal["error", "redistribute", "allow_short"] = "error"
    synthetic_max_share: float | None = Field(default=None, ge=0, le=1)


class MixtureSpec(_Model):
    """A declared training mixture."""

    name: str = Field(pattern=NAME_PATTERN, description="the output directory's name")
    seed: int
    total: int = Field(gt=0, description="records in the mixture")
    sources: list[SourceSpec] = Field(min_length=1)
    holdouts: list[HoldoutSpec] = Field(default_factory=list)
    license_policy: LicensePolicySpec = Field(default_factory=LicensePolicySpec)
    slices: list[SliceSpec] = Field(min_length=1)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="stage sections (dedup, pii, quality, tagging) validated by their stages",
        exclude=True,
    )

    @model_validator(mode="after")
    def _unique_names(self) -> MixtureSpec:
        for label, items in (("sources", self.sources), ("holdouts", self.holdouts)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    msg = f"duplicate {label} name {item.name!r}"
                    raise ValueError(msg)
                seen.add(item.name)
        if not math.isfinite(math.fsum(s.weight for s in self.slices)):
            msg = "the slice weights' sum must be a finite number"
            raise ValueError(msg)
        keys = [(s.intent, s.difficulty) for s in self.slices]
        if len(set(keys)) != len(keys):
            msg = "each (intent, difficulty) slice may appear once"
            raise ValueError(msg)
        return self

    def slice_weights(self) -> dict[tuple[str, str], float]:
        """Return each slice's normalized weight (they sum to 1 within float rounding)."""
        total = math.fsum(s.weight for s in self.slices)
        return {(s.intent, s.difficulty): s.weight / total for s in self.slices}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("str", "LabelSpec", "GeneratorSpec", "literal['allow','deny']"):
            continue  # union branch names add noise
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, *, origin: str) -> str:
    """Turn a pydantic error into one line: origin, field path, problem, value got."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")  # typos first
    first = errors[0]
    loc = _format_loc(tuple(first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    got = first.get("input")
    got_text = "" if first["type"] == "missing" else f" (got {short(got)})"
    more = f" [+{len(errors) - 1} more]" if len(errors) > 1 else ""
    return f"{origin}: `{loc}`: {message}{got_text}{more}"


def parse_spec(data: Any, *, origin: str = "<spec>") -> MixtureSpec:
    """Validate a parsed YAML document into a `MixtureSpec`, or raise a one-line `SpecError`."""
    if not isinstance(data, dict):
        msg = f"{origin}: a spec must be a mapping of keys; got {type(data).__name__}"
        raise SpecError(msg)
    data = dict(data)
    extensions = {k: data.pop(k) for k in EXTENSION_SECTIONS if k in data}
    try:
        spec = MixtureSpec.model_validate({**data, "extensions": extensions})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, origin=origin)) from None
    try:
        validate_sections(extensions)  # the stage sections, by the stages' own config classes
    except ConfigError as exc:
        raise SpecError(f"{origin}: {exc}") from None
    return spec


def load_spec(path: Path) -> tuple[MixtureSpec, bytes]:
    """Read and validate a spec file; return the spec and the file's raw bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        msg = f"spec file not found: {path}"
        raise SpecError(msg) from None
    except OSError as exc:
        msg = f"cannot read spec file {path}: {exc.strerror or exc}"
        raise SpecError(msg) from None
    try:
        data = load_yaml(raw.decode("utf-8"), origin=str(path))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{path}: not valid YAML: {first[:200]}"
        raise SpecError(msg) from None
    return parse_spec(data, origin=str(path)), raw


def expanded_nodes(root: yaml.Node, limit: int) -> int:
    """Count the nodes `root` stands for once aliases are expanded, stopping past `limit`."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes and not done:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            sizes[id(node)] = 1  # provisional: a recursive alias counts once
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
    return sizes[id(root)]


def load_yaml(text: str, *, origin: str) -> Any:
    """Parse one YAML document safely, refusing alias bombs before they expand.

    Aliases are allowed (reusing a map is handy), but a document that expands to more than
    `MAX_YAML_NODES` nodes is a one-line `SpecError`, never minutes of CPU and gigabytes.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_nodes(node, MAX_YAML_NODES) > MAX_YAML_NODES:
            msg = f"{origin}: YAML expands to more than {MAX_YAML_NODES} values (an alias bomb?)"
            raise SpecError(msg)
        return loader.construct_document(node)
    except RecursionError:
        msg = f"{origin}: YAML is nested too deeply"
        raise SpecError(msg) from None
    finally:
        loader.dispose()


def spec_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a spec file, for editors' autocompletion."""
    schema = MixtureSpec.model_json_schema()
    schema.get("properties", {}).pop("extensions", None)
    defs = schema.setdefault("$defs", {})
    for key in EXTENSION_SECTIONS:
        section = section_schema(section_class(key), description=f"`{key}` stage settings")
        defs.update(section.pop("$defs", {}))
        schema.setdefault("properties", {})[key] = section
    return schema


def spec_section(spec: MixtureSpec, name: str) -> Any:
    """Return the JSON value of spec section `name` (dotted for nested: ``dedup.near``), or None.

    A stage section the spec leaves out is None (its defaults apply).
    """
    head, *rest = name.split(".")
    value: Any = spec.extensions.get(head) if head in spec.extensions else None
    if head in MixtureSpec.model_fields and head != "extensions":
        value = spec.model_dump(mode="json", include={head})[head]
    for key in rest:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def spec_sha256(raw: bytes) -> str:
    """Return the sha256 of the spec file's bytes."""
    return hashlib.sha256(raw).hexdigest()


def spec_canonical_json(spec: MixtureSpec) -> str:
    """Return the parsed spec as canonical JSON (sorted keys), for the manifest and fingerprint."""
    payload = spec.model_dump(mode="json")
    payload.update(spec.extensions)
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
