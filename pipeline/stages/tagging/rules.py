"""Rule sets as data: load a versioned YAML rule file into frozen, pre-compiled rules.

A rule file (``pipeline/stages/tagging/rulesets/<id>.yaml``) holds only data::

    id: intent_rules_v1            # versioned; bump it whenever a rule changes
    kind: intent                   # intent | difficulty
    scoring:
      smoothing: 1.0               # confidence = top / (top + runner_up + smoothing)
      segment_weights: {first_user: 1.0, later_user: 0.6, system: 0.3, reply: 0.5}
    labels:
      coding:
        - {name: code_block, feature: code_blocks, min: 1, weight: 3.0}
        - {name: language, keywords: [python, "c++"], weight: 1.5}
        - {name: syntax, regex: ['^\\s*def \\w+\\('], weight: 2.0, segments: [reply]}

Each rule has exactly one of ``keywords`` (whole words or phrases, compared as word n-grams of
the normalized text; a trailing ``*`` matches any word ending), ``regex`` (matched on the raw
text, case-insensitive, multi-line) or ``feature`` (a name from `FEATURE_NAMES` with ``min``
and/or ``max``). A feature rule scores ``weight``. A lexical rule scores ``weight`` times the
largest weight of the segments it matched, times ``1 + extra_hit_bonus * (hits - 1)`` where
``hits`` is the number of distinct keywords matched, capped at ``max_hits``. The rule's id is
``<rule set id>:<label>.<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError
from pipeline.records.literals import Prefilter
from pipeline.stages.tagging.features import FEATURE_NAMES, SEGMENT_KINDS, Segment, tokenize

RULE_KINDS = ("intent", "difficulty")
BUILTIN_INTENT_RULES = "intent_rules_v1"
BUILTIN_DIFFICULTY_RULES = "difficulty_rules_v1"

_RULE_SET_ID = re.compile(r"^[a-z][a-z0-9_]*_v\d+$")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_KEYS = {"name", "weight", "keywords", "regex", "feature", "min", "max", "segments"}


@dataclass(frozen=True)
class Rule:
    """One compiled rule: evidence of weight `weight` for `label` (see the module docstring)."""

    label: str
    name: str
    weight: float
    phrases: frozenset[str] = frozenset()
    prefix_pattern: re.Pattern[str] | None = None
    pattern: re.Pattern[str] | None = None
    feature: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    segments: tuple[str, ...] = SEGMENT_KINDS

    def matches_feature(self, features: Mapping[str, int]) -> bool:
        """Return whether a feature rule's thresholds hold for `features`."""
        value = features[self.feature] if self.feature else 0
        low_ok = self.min_value is None or value >= self.min_value
        high_ok = self.max_value is None or value <= self.max_value
        return low_ok and high_ok

    @property
    def scans_text(self) -> bool:
        """Whether the rule reads the text itself (a regex or a prefix keyword such as ``summar*``)."""
        return self.pattern is not None or self.prefix_pattern is not None

    @cached_property
    def _prefilters(self) -> tuple[Prefilter | None, Prefilter | None]:
        return tuple(  # type: ignore[return-value]
            Prefilter.of(p) if p is not None else None for p in (self.pattern, self.prefix_pattern)
        )

    def hits(
        self, segment: Segment, matched: frozenset[str] | None = None, lowered: str | None = None
    ) -> set[str]:
        """Return the distinct keywords of this rule found in `segment` (a regex hits once).

        `matched` (optional) is the segment's n-grams that are a phrase of the rule set
        (`RuleSet.phrases`): a smaller set holding the same answer. `lowered` is
        ``segment.text.lower()`` if the caller has it. A regex runs only on a segment holding
        one of its required literals (`pipeline.records.literals`; same answer).
        """
        pattern_filter, prefix_filter = self._prefilters
        if self.pattern is not None:
            if not pattern_filter.may_match(segment.text, lowered):  # type: ignore[union-attr]
                return set()
            match = self.pattern.search(segment.text)
            return {match.group(0).casefold()} if match else set()
        found = set(self.phrases & (segment.ngrams if matched is None else matched))
        if self.prefix_pattern is not None and prefix_filter.may_match(segment.words):  # type: ignore[union-attr]
            found.update(self.prefix_pattern.findall(segment.words))
        return found


@dataclass(frozen=True)
class RuleSet:
    """A versioned, compiled rule set for one kind of label (intent or difficulty)."""

    id: str
    kind: str
    rules: tuple[Rule, ...]
    smoothing: float = 1.0
    segment_weights: Mapping[str, float] | None = None
    extra_hit_bonus: float = 0.0
    max_hits: int = 1

    def __post_init__(self) -> None:
        if not _RULE_SET_ID.match(self.id):
            msg = f"rule set `id` must look like `name_v1`; got {self.id!r}"
            raise ConfigError(msg)
        if self.kind not in RULE_KINDS:
            msg = f"rule set `kind` must be one of {list(RULE_KINDS)}; got {self.kind!r}"
            raise ConfigError(msg)
        if not self.smoothing > 0:
            msg = f"rule set {self.id}: `scoring.smoothing` must be > 0; got {self.smoothing!r}"
            raise ConfigError(msg)
        hits_ok = isinstance(self.max_hits, int) and self.max_hits >= 1
        if not 0 <= self.extra_hit_bonus <= 1 or not hits_ok:
            msg = (
                f"rule set {self.id}: `scoring.extra_hit_bonus` must be in [0, 1] and "
                f"`scoring.max_hits` an integer >= 1; "
                f"got {self.extra_hit_bonus!r}, {self.max_hits!r}"
            )
            raise ConfigError(msg)
        weights = dict.fromkeys(SEGMENT_KINDS, 1.0) | dict(self.segment_weights or {})
        for kind, weight in weights.items():
            if kind not in SEGMENT_KINDS or not 0 <= weight <= 1:
                msg = (
                    f"rule set {self.id}: `scoring.segment_weights` keys must be in "
                    f"{list(SEGMENT_KINDS)} with values in [0, 1]; got {kind!r}: {weight!r}"
                )
                raise ConfigError(msg)
        object.__setattr__(self, "segment_weights", weights)

    @cached_property
    def phrases(self) -> frozenset[str]:
        """Every keyword phrase of every rule (a segment is intersected with it once)."""
        return frozenset().union(*(r.phrases for r in self.rules))

    @property
    def max_ngram(self) -> int:
        """The longest keyword phrase, in words (segments are indexed up to this length)."""
        lengths = [len(p.split()) for r in self.rules for p in r.phrases]
        return max(lengths, default=1)

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels this rule set can produce, in file order."""
        return tuple(dict.fromkeys(rule.label for rule in self.rules))

    def rule_id(self, rule: Rule) -> str:
        """Return the versioned id of `rule`, e.g. ``intent_rules_v1:coding.code_block``."""
        return f"{self.id}:{rule.label}.{rule.name}"

    def without(self, rule_id: str, *, new_id: str) -> RuleSet:
        """Return a copy without the rule `rule_id`, under the (bumped) id `new_id`."""
        kept = tuple(r for r in self.rules if self.rule_id(r) != rule_id)
        if len(kept) == len(self.rules):
            msg = f"rule set {self.id} has no rule {rule_id!r}"
            raise ConfigError(msg)
        return RuleSet(
            new_id,
            self.kind,
            kept,
            self.smoothing,
            self.segment_weights,
            self.extra_hit_bonus,
            self.max_hits,
        )


def _compile_keywords(
    keywords: list[Any], where: str
) -> tuple[frozenset[str], re.Pattern[str] | None]:
    phrases, prefixes = set(), []
    for keyword in keywords:
        if not isinstance(keyword, str) or not tokenize(keyword.rstrip("*")):
            msg = f"{where}: `keywords` must be non-empty strings; got {keyword!r}"
            raise ConfigError(msg)
        phrase = " ".join(tokenize(keyword.rstrip("*")))
        if keyword.endswith("*"):
            prefixes.append(re.escape(phrase))
        else:
            phrases.add(phrase)
    if not prefixes:
        return frozenset(phrases), None
    return frozenset(phrases), re.compile(r"(?<!\S)(?:" + "|".join(prefixes) + r")\S*")


def _compile_regex(patterns: list[Any], where: str) -> re.Pattern[str]:
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            msg = f"{where}: `regex` must be non-empty strings; got {pattern!r}"
            raise ConfigError(msg)
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        msg = f"{where}: invalid `regex` ({exc}); got {patterns!r}"
        raise ConfigError(msg) from exc


def _threshold(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        msg = f"{where}: `{key}` must be a number; got {value!r}"
        raise ConfigError(msg)
    return value


def _parse_rule(label: str, raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        msg = f"{where}: a rule must be a mapping; got {raw!r}"
        raise ConfigError(msg)
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        msg = f"{where}: unknown rule keys {unknown}; allowed keys are {sorted(_RULE_KEYS)}"
        raise ConfigError(msg)
    name, weight = raw.get("name"), raw.get("weight")
    if not isinstance(name, str) or not _SLUG.match(name):
        msg = f"{where}: rule `name` must be a lowercase slug; got {name!r}"
        raise ConfigError(msg)
    where = f"{where} rule {name!r}"
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        msg = f"{where}: `weight` must be a number > 0; got {weight!r}"
        raise ConfigError(msg)
    kinds = [k for k in ("keywords", "regex", "feature") if k in raw]
    if len(kinds) != 1:
        msg = f"{where}: needs exactly one of `keywords`, `regex`, `feature`; got {kinds}"
        raise ConfigError(msg)
    segments = tuple(raw.get("segments") or SEGMENT_KINDS)
    if not set(segments) <= set(SEGMENT_KINDS):
        msg = f"{where}: `segments` must be in {list(SEGMENT_KINDS)}; got {list(segments)}"
        raise ConfigError(msg)
    if kinds[0] == "feature":
        feature = raw["feature"]
        low, high = _threshold(raw, "min", where), _threshold(raw, "max", where)
        if feature not in FEATURE_NAMES or (low is None and high is None):
            msg = (
                f"{where}: `feature` must be one of {list(FEATURE_NAMES)} with `min` and/or "
                f"`max`; got {feature!r} (min={low!r}, max={high!r})"
            )
            raise ConfigError(msg)
        return Rule(label, name, float(weight), feature=feature, min_value=low, max_value=high)
    values = raw[kinds[0]]
    if isinstance(values, str) or not isinstance(values, list) or not values:
        msg = f"{where}: `{kinds[0]}` must be a non-empty list; got {values!r}"
        raise ConfigError(msg)
    if kinds[0] == "keywords":
        phrases, prefix_pattern = _compile_keywords(values, where)
        return Rule(label, name, float(weight), phrases, prefix_pattern, segments=segments)
    pattern = _compile_regex(values, where)
    return Rule(label, name, float(weight), pattern=pattern, segments=segments)


def parse_rule_set(data: Any, *, origin: str) -> RuleSet:
    """Build a `RuleSet` from parsed YAML `data`; `origin` names the file in error messages."""
    if not isinstance(data, Mapping):
        msg = f"rule file {origin}: top level must be a mapping; got {type(data).__name__}"
        raise ConfigError(msg)
    labels = data.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        msg = f"rule file {origin}: `labels` must be a non-empty mapping; got {labels!r}"
        raise ConfigError(msg)
    rules: list[Rule] = []
    for label, raw_rules in labels.items():
        if not isinstance(raw_rules, list):
            msg = f"rule file {origin}: `labels.{label}` must be a list; got {raw_rules!r}"
            raise ConfigError(msg)
        names = [r.get("name") for r in raw_rules if isinstance(r, Mapping)]
        if len(set(names)) != len(names):
            msg = f"rule file {origin}: rule names under `labels.{label}` repeat; got {names}"
            raise ConfigError(msg)
        rules.extend(
            _parse_rule(str(label), raw, f"rule file {origin}: `labels.{label}`")
            for raw in raw_rules
        )
    scoring = data.get("scoring") or {}
    return RuleSet(
        id=str(data.get("id")),
        kind=str(data.get("kind")),
        rules=tuple(rules),
        smoothing=scoring.get("smoothing", 1.0),
        segment_weights=scoring.get("segment_weights"),
        extra_hit_bonus=scoring.get("extra_hit_bonus", 0.0),
        max_hits=scoring.get("max_hits", 1),
    )


def load_rule_set(path: Path | str) -> RuleSet:
    """Load a rule file; a bare id such as ``intent_rules_v1`` names a built-in file."""
    if isinstance(path, str) and _RULE_SET_ID.match(path):
        resource = resources.files("pipeline.stages.tagging") / "rulesets" / f"{path}.yaml"
        if not resource.is_file():
            msg = f"no built-in rule set {path!r} (looked for {resource})"
            raise ConfigError(msg)
        text, origin = resource.read_text(encoding="utf-8"), str(resource)
    else:
        try:
            text, origin = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            msg = f"cannot read rule file `{path}`: {exc.strerror}"
            raise ConfigError(msg) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"rule file {origin}: invalid YAML ({str(exc).splitlines()[0]})"
        raise ConfigError(msg) from exc
    return parse_rule_set(data, origin=origin)
