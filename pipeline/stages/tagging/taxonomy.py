"""The slice taxonomy (intent x difficulty) and the mapping of source-provided labels onto it."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from pipeline.errors import ConfigError

INTENTS = (
    "factual_lookup",
    "reasoning_planning",
    "math",
    "coding",
    "summarization_rewriting",
    "extraction_classification",
    "creative_writing",
    "tool_use",
    "troubleshooting",
    "educational_explanation",
    "safety_sensitive",
    "conversation",
)
DIFFICULTIES = ("straightforward", "ambiguous", "multi_step", "long_context", "adversarial")
FALLBACK_INTENT = "conversation"
FALLBACK_DIFFICULTY = "straightforward"


def _check_labels(field: str, labels: tuple[str, ...]) -> None:
    for label in labels:
        if not isinstance(label, str) or not label or label != label.strip().lower():
            msg = f"`{field}` labels must be non-empty lowercase strings; got {label!r}"
            raise ConfigError(msg)
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        msg = f"`{field}` labels must be unique; got duplicates {dupes}"
        raise ConfigError(msg)


@dataclass(frozen=True)
class Taxonomy:
    """The allowed slice labels; the built-in lists, optionally extended by a spec.

    Extended labels are only ever produced from source-provided labels, unless a rule set with
    rules for them is also given to the `Tagger`.

    Examples
    --------
    >>> Taxonomy().extend(intents=["translation"]).intents[-1]
    'translation'
    """

    intents: tuple[str, ...] = INTENTS
    difficulties: tuple[str, ...] = DIFFICULTIES

    def __post_init__(self) -> None:
        object.__setattr__(self, "intents", tuple(self.intents))
        object.__setattr__(self, "difficulties", tuple(self.difficulties))
        _check_labels("intents", self.intents)
        _check_labels("difficulties", self.difficulties)
        for field, labels, fallback in (
            ("intents", self.intents, FALLBACK_INTENT),
            ("difficulties", self.difficulties, FALLBACK_DIFFICULTY),
        ):
            if fallback not in labels:
                msg = f"`{field}` must contain the fallback label {fallback!r}; got {list(labels)}"
                raise ConfigError(msg)

    def extend(self, *, intents: Iterable[str] = (), difficulties: Iterable[str] = ()) -> Taxonomy:
        """Return a taxonomy with extra labels appended (labels already present are kept once)."""
        extra_intents = tuple(x for x in dict.fromkeys(intents) if x not in self.intents)
        extra_difficulties = tuple(
            x for x in dict.fromkeys(difficulties) if x not in self.difficulties
        )
        return Taxonomy(self.intents + extra_intents, self.difficulties + extra_difficulties)


def map_label(
    value: str,
    *,
    value_map: Mapping[str, str] | None,
    allowed: Collection[str],
    source: str,
    field: str,
) -> str:
    """Map a source-provided label onto the taxonomy, or raise `ConfigError`.

    With a `value_map`, `value` must be one of its keys and the mapped label must be in
    `allowed`; without one, `value` itself must be in `allowed`.

    Examples
    --------
    >>> map_label("stem", value_map={"stem": "educational_explanation"}, allowed=INTENTS,
    ...           source="mt_bench", field="intent")
    'educational_explanation'
    """
    allowed_list = sorted(allowed)
    if value_map is not None:
        if value not in value_map:
            msg = (
                f"source `{source}`: `{field}` value {value!r} has no entry in the label map; "
                f"mapped values are {sorted(value_map)}"
            )
            raise ConfigError(msg)
        mapped = value_map[value]
        if mapped not in allowed:
            msg = (
                f"source `{source}`: `{field}` value {value!r} maps to {mapped!r}, which is not "
                f"in the taxonomy; allowed values are {allowed_list}"
            )
            raise ConfigError(msg)
        return mapped
    if value not in allowed:
        msg = (
            f"source `{source}`: `{field}` value {value!r} is not in the taxonomy; "
            f"allowed values are {allowed_list}"
        )
        raise ConfigError(msg)
    return value
