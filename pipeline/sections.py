"""Stage sections of a spec (``quality``, ``pii``, ``dedup``, ``reading`` ...), validated by pydantic.

The stages' settings are frozen dataclasses (`QualityConfig`, `PiiConfig`, `NearDedupConfig` ...)
whose ``__post_init__`` checks values. `config_from_mapping` validates a YAML section into one of
them with pydantic's `TypeAdapter`: strictly (``"0.8"`` is not a number; JSON arrays become the
tuples the dataclasses declare), with unknown keys rejected (``extra="forbid"``) at every depth,
and with the dataclass's own ``__post_init__`` still run. Every error is one `ConfigError` line
naming the full key path and the value received, e.g.
``dedup.near.threshold: must be a number (got '0.8')``. `section_schema` is the JSON Schema of
a section, for `mixgate spec-schema`.

>>> from pipeline.stages.dedup.shingles import MinHashConfig
>>> config_from_mapping(MinHashConfig, {"n": 3}, where="dedup.near.minhash").n
3
>>> config_from_mapping(MinHashConfig, {"nn": 3}, where="dedup.near.minhash")
Traceback (most recent call last):
...
pipeline.errors.ConfigError: `dedup.near.minhash.nn`: unknown key; allowed: n, num_perm, seed, unit; did you mean `n`?
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from pipeline.errors import ConfigError
from pipeline.io.limits import ReadLimits
from pipeline.stages.decontam.match import DecontamConfig
from pipeline.stages.dedup.near import NearDedupConfig
from pipeline.stages.quality.config import QualityConfig
from pipeline.stages.tagging.rules import BUILTIN_DIFFICULTY_RULES, BUILTIN_INTENT_RULES
from pipeline.stages.tagging.tagger import TaggerConfig

T = TypeVar("T")
_MESSAGES = {  # pydantic error type -> our wording
    "dict_type": "must be a mapping",
    "dataclass_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "missing": "is required",
}


def _dataclasses_in(tp: Any) -> list[type]:
    """Return every dataclass reachable from type `tp` (fields, unions, containers)."""
    found: list[type] = []
    stack = [tp]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and dataclasses.is_dataclass(t) and t not in found:
            found.append(t)
            stack.extend(typing.get_type_hints(t).values())
        else:
            stack.extend(typing.get_args(t))
    return found


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    for each in _dataclasses_in(cls):  # unknown keys are errors at every depth
        if "__pydantic_config__" not in vars(each):
            each.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return TypeAdapter(cls)


def _path(cls: type, where: str, loc: tuple[Any, ...]) -> str:
    """Join `where` and an error location, without pydantic's union-branch tags."""
    tags = {c.__name__ for c in _dataclasses_in(cls)}
    out = where
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in tags or any(ch in str(part) for ch in "[]-,") or part in _TYPE_TAGS:
            continue
        else:
            out += f".{part}"
    return out


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "list", "tuple", "dict", "set"}


def _allowed(cls: type, where: str, path: str) -> list[str]:
    """Return the keys allowed at the mapping that holds `path` (for unknown-key messages)."""
    target: Any = cls
    for name in path.removeprefix(where).strip(".").split(".")[:-1]:
        hints = typing.get_type_hints(target) if dataclasses.is_dataclass(target) else {}
        nested = [c for c in _dataclasses_in(hints.get(name, type(None)))]
        if not nested:
            return []
        target = nested[0]
    return sorted(f.name for f in dataclasses.fields(target) if f.init)


def _message(cls: type, where: str, exc: ValidationError) -> str:
    errors = sorted(
        exc.errors(),
        key=lambda e: e["type"] not in ("unexpected_keyword_argument", "extra_forbidden"),
    )
    first = errors[0]
    path = _path(cls, where, tuple(first["loc"]))
    kind = first["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        key = path.rsplit(".", 1)[-1]
        allowed = _allowed(cls, where, path)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        return f"`{path}`: unknown key; allowed: {', '.join(allowed)}{hint}"
    got = "" if kind == "missing" else f" (got {first.get('input')!r})"
    text = _MESSAGES.get(kind) or first["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        text = f"must be one of {first.get('ctx', {}).get('expected', '')}"
    inner = first.get("ctx", {}).get("error") if kind == "value_error" else None
    if isinstance(inner, ConfigError):  # a dataclass's own check: it names its field and value
        text, got = str(inner), ""
        if text.startswith("`") and "`" in text[1:]:
            name, text = text[1 : text.index("`", 1)], text[text.index("`", 1) + 1 :]
            path, text = f"{path}.{name}", text.lstrip(" :")
    return f"`{path}`: {text}{got}"


def config_from_mapping(cls: type[T], data: Mapping[str, Any] | None, *, where: str) -> T:
    """Build config dataclass `cls` from the YAML section `data` (None: defaults), strictly.

    Raises `ConfigError` (one line: full key path, problem, value got) for an unknown key, a
    wrong type, a list where a mapping is expected, or a value the dataclass rejects.
    """
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        msg = f"`{where}`: must be a mapping (got {data!r})"
        raise ConfigError(msg)
    try:
        text = json.dumps(data, default=str)
    except (TypeError, ValueError) as exc:
        msg = f"`{where}`: cannot be read as settings: {exc}"
        raise ConfigError(msg) from None
    try:
        return typing.cast(T, _adapter(typing.cast(type, cls)).validate_json(text, strict=True))
    except ValidationError as exc:
        raise ConfigError(_message(cls, where, exc)) from None


def section_schema(cls: type, *, description: str) -> dict[str, Any]:
    """Return the JSON Schema of the section validated into `cls` (refs under ``$defs``)."""
    schema = _adapter(cls).json_schema(mode="validation")
    schema["description"] = description
    return schema


# --- the spec's stage sections -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DedupSection:
    """The spec's ``dedup`` section: within-pool near-dedup and holdout decontamination."""

    near: NearDedupConfig = dataclasses.field(default_factory=NearDedupConfig)
    decontam: DecontamConfig = dataclasses.field(default_factory=DecontamConfig)


@dataclasses.dataclass(frozen=True)
class TaggingSection:
    """The spec's ``tagging`` section (the tagger itself is built by `build_tagger`).

    Rule sets are built-in ids or YAML paths relative to the spec; ``extra_*`` labels extend
    the taxonomy; the floors are the confidences under which the default labels apply.
    """

    intent_rules: str = BUILTIN_INTENT_RULES
    difficulty_rules: str = BUILTIN_DIFFICULTY_RULES
    extra_intents: tuple[str, ...] = ()
    extra_difficulties: tuple[str, ...] = ()
    intent_floor: float = TaggerConfig.intent_floor
    difficulty_floor: float = TaggerConfig.difficulty_floor

    def __post_init__(self) -> None:
        TaggerConfig(intent_floor=self.intent_floor, difficulty_floor=self.difficulty_floor)


def _pii_config() -> type:
    from pipeline.stages.pii.config import PiiConfig  # presidio's import costs seconds

    return PiiConfig


# Section name -> (its config class, or a function returning it when importing it is costly).
SECTIONS: dict[str, Any] = {
    "dedup": DedupSection,
    "pii": _pii_config,
    "quality": QualityConfig,
    "reading": ReadLimits,
    "tagging": TaggingSection,
}


def section_class(name: str) -> type:
    """Return the config class of spec section `name`."""
    entry = SECTIONS[name]
    return entry if isinstance(entry, type) else entry()


def validate_sections(sections: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every stage section present in `sections`; return name -> config object."""
    return {
        name: config_from_mapping(section_class(name), value, where=name)
        for name, value in sections.items()
    }
