"""Indexed rule scoring: the same fired rules as `score_rules`, without a loop over every rule.

`score_rules` (pipeline/stages/tagging/tagger.py) is the readable definition: each segment's
word n-grams (up to 5 words, ~5 strings per word) meet the rule set's phrases, then every rule
looks at every segment. That is ~80 `Rule.hits` calls and ~400 joined strings per record. Here,
built once per rule set:

- `PhraseScanner` finds the phrases a token sequence holds by walking from the tokens that
  start a phrase (a set lookup per token), not by building every n-gram;
- `RuleIndex` maps each phrase to the rules that list it, so a keyword rule is only visited
  when one of its phrases was found; regex and prefix rules run as `Rule.hits` does, a regex
  with whole words (`pipeline.stages.tagging.wordfilter`) only on ASCII text holding one.

The fired list (rule order, contributions, rounding) is the reference's; tests prove it equal
on real prompts and generated text (tests/pipeline/stages/tagging/test_fast_path.py).

>>> scanner = PhraseScanner(["step by step", "step", "how many"])
>>> sorted(scanner.find(("do", "it", "step", "by", "step")))
['step', 'step by step']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pipeline.records.literals import Prefilter
from pipeline.stages.tagging.features import Segment
from pipeline.stages.tagging.rules import Rule, RuleSet
from pipeline.stages.tagging.wordfilter import quick_to_search, whole_words

Fired = list[tuple[str, str, float]]


class PhraseScanner:
    """Finds which of a fixed set of phrases (space-joined tokens) occur in a token sequence."""

    def __init__(self, phrases: Iterable[str]) -> None:
        phrases = set(phrases)
        self.singles = {p for p in phrases if " " not in p}  # a set: & gives a set to extend
        self.multi = frozenset(p for p in phrases if " " in p)
        # every proper word prefix of a multi-word phrase: a walk goes on while it is one
        prefixes: set[str] = set()
        for phrase in self.multi:
            words = phrase.split(" ")
            prefixes.update(" ".join(words[:i]) for i in range(1, len(words)))
        self.prefixes = frozenset(prefixes)
        self.longest = max((p.count(" ") + 1 for p in phrases), default=1)

    def find(self, tokens: Sequence[str]) -> set[str]:
        """Return the phrases that are a run of consecutive `tokens` (= n-grams & phrases)."""
        found = self.singles.intersection(tokens)
        prefixes = self.prefixes
        if prefixes.isdisjoint(tokens):
            return found
        multi, count = self.multi, len(tokens)
        for i, token in enumerate(tokens):
            if token not in prefixes:
                continue
            gram = token
            for j in range(i + 1, min(i + self.longest, count)):
                gram = f"{gram} {tokens[j]}"
                if gram in multi:
                    found.add(gram)
                if gram not in prefixes:
                    break
        return found


class RuleIndex:
    """One rule set, indexed for `score` (see the module docstring)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.weights: Mapping[str, float] = rules.segment_weights or {}
        self.ids = tuple(rules.rule_id(rule) for rule in rules.rules)
        by_phrase: dict[str, list[int]] = {}
        for i, rule in enumerate(rules.rules):
            for phrase in rule.phrases:
                by_phrase.setdefault(phrase, []).append(i)
        self.by_phrase = {p: tuple(ids) for p, ids in by_phrase.items()}
        self.scanned = tuple(  # regex and prefix-keyword rules: they look at the text itself
            (i, rule, *_filters(rule)) for i, rule in enumerate(rules.rules) if rule.scans_text
        )

    def score(
        self,
        segments: Sequence[Segment],
        found: Sequence[set[str]],
        features: Mapping[str, int],
    ) -> Fired:
        """Return what `score_rules` returns; `found[i]` = the phrases of `segments[i]`."""
        strength: dict[int, float] = {}
        hits: dict[int, set[str]] = {}
        rules = self.rules.rules
        for segment, phrases in zip(segments, found, strict=True):
            kind, weight = segment.kind, self.weights[segment.kind]
            if weight <= 0:
                continue
            for phrase in phrases:
                for i in self.by_phrase.get(phrase, ()):
                    if kind in rules[i].segments:
                        _add(strength, hits, i, weight, {phrase})
            self._scan(segment, weight, strength, hits)
        return self._fired(strength, hits, features)

    def _scan(
        self, segment: Segment, weight: float, strength: dict[int, float], hits: dict[int, set[str]]
    ) -> None:
        """Run the regex and prefix-keyword rules on one segment (as `Rule.hits` does)."""
        text, kind = segment.text, segment.kind
        lowered, words = segment.lowered, segment.runs
        for i, rule, pattern_filter, prefix_filter, needed in self.scanned:
            if kind not in rule.segments:
                continue
            if rule.pattern is not None:
                if needed is not None and words is not None:
                    if words.isdisjoint(needed):
                        continue
                elif pattern_filter is not None and not pattern_filter.may_match(text, lowered):
                    continue
                match = rule.pattern.search(text)
                if match:
                    _add(strength, hits, i, weight, {match.group(0).casefold()})
            elif prefix_filter.may_match(segment.words):  # type: ignore[union-attr]
                found = rule.prefix_pattern.findall(segment.words)  # type: ignore[union-attr]
                if found:
                    _add(strength, hits, i, weight, set(found))

    def _fired(
        self, strength: dict[int, float], hits: dict[int, set[str]], features: Mapping[str, int]
    ) -> Fired:
        """The contributions in rule order, computed as `score_rules` computes them."""
        fired: Fired = []
        rule_set = self.rules
        for i, rule in enumerate(rule_set.rules):
            if rule.feature is not None:  # Rule.matches_feature, inlined
                value = features[rule.feature] if rule.feature else 0
                low, high = rule.min_value, rule.max_value
                if (low is None or value >= low) and (high is None or value <= high):
                    fired.append((rule.label, self.ids[i], rule.weight))
            elif i in strength:
                bonus = 1 + rule_set.extra_hit_bonus * (min(len(hits[i]), rule_set.max_hits) - 1)
                score = round(rule.weight * strength[i] * bonus, 6)
                fired.append((rule.label, self.ids[i], score))
        return fired


def _filters(rule: Rule) -> tuple[Prefilter | None, Prefilter | None, frozenset[str] | None]:
    """(literal prefilter of the regex, of the prefix keywords, whole words of the regex).

    A regex `re` searches quickly by itself (`quick_to_search`) gets no literal prefilter.
    """
    pattern_filter, prefix_filter = rule._prefilters
    if rule.pattern is None:
        return None, prefix_filter, None
    quick = quick_to_search(rule.pattern)
    return None if quick else pattern_filter, prefix_filter, whole_words(rule.pattern)


def _add(
    strength: dict[int, float], hits: dict[int, set[str]], i: int, weight: float, found: set[str]
) -> None:
    if i in strength:
        strength[i] = max(strength[i], weight)
        hits[i] |= found
    else:
        strength[i], hits[i] = weight, found
