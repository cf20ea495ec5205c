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

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
        scanned = tuple(  # regex and prefix-keyword rules: they look at the text itself
            (i, rule, *_filters(rule)) for i, rule in enumerate(rules.rules) if rule.scans_text
        )
        self.scanned = scanned
        # per segment kind, only the rules that look at that kind (phrase owners, scanned rules)
        self.kind_phrases = {
            kind: {
                p: owners
                for p, ids in self.by_phrase.items()
                if (owners := tuple(i for i in ids if kind in rules.rules[i].segments))
            }
            for kind in self.weights
        }
        self.kind_scan = {kind: _ScanPlan(scanned, kind) for kind in self.weights}
        self.feature_rules = tuple(
            (i, rule.label, self.ids[i], rule.weight, rule.feature, rule.min_value, rule.max_value)
            for i, rule in enumerate(rules.rules)
            if rule.feature is not None
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
        for segment, phrases in zip(segments, found, strict=True):
            kind = segment.kind
            weight = self.weights[kind]
            if weight <= 0:
                continue
            if phrases:
                owners = self.kind_phrases[kind]
                for phrase in phrases:
                    for i in owners.get(phrase, ()):
                        _add(strength, hits, i, weight, {phrase})
            self._scan(segment, weight, strength, hits)
        return self._fired(strength, hits, features)

    def _scan(
        self, segment: Segment, weight: float, strength: dict[int, float], hits: dict[int, set[str]]
    ) -> None:
        """Run the regex and prefix-keyword rules on one segment (as `Rule.hits` does)."""
        plan, text = self.kind_scan[segment.kind], segment.text
        runs = segment.runs
        if runs is None:  # not ASCII: no literal or whole-word filter applies
            searched: Iterable[tuple[int, re.Pattern[str]]] = plan.patterns
        else:
            searched = [*plan.quick]
            if plan.literal:
                lowered = segment.lowered
                searched += [(i, p) for i, p, f in plan.literal if f.may_match(text, lowered)]
            present = plan.words.keys() & runs
            if present:  # the rules holding one of their whole words, in rule order
                searched += sorted({entry for word in present for entry in plan.words[word]})
        for i, pattern in searched:
            match = pattern.search(text)
            if match:
                _add(strength, hits, i, weight, {match.group(0).casefold()})
        if plan.prefixed:
            words = segment.words
            lowered_words = words.lower()
            for i, pattern, prefix_filter in plan.prefixed:
                if prefix_filter.may_match(words, lowered_words):
                    found = pattern.findall(words)
                    if found:
                        _add(strength, hits, i, weight, set(found))

    def _fired(
        self, strength: dict[int, float], hits: dict[int, set[str]], features: Mapping[str, int]
    ) -> Fired:
        """The contributions in rule order, computed as `score_rules` computes them."""
        fired: list[tuple[int, str, str, float]] = []
        for i, label, rule_id, weight, name, low, high in self.feature_rules:
            value = features[name] if name else 0  # Rule.matches_feature, inlined
            if (low is None or value >= low) and (high is None or value <= high):
                fired.append((i, label, rule_id, weight))
        if strength:
            rule_set, rules, ids = self.rules, self.rules.rules, self.ids
            bonus_each, max_hits = rule_set.extra_hit_bonus, rule_set.max_hits
            for i, best in strength.items():
                rule = rules[i]
                bonus = 1 + bonus_each * (min(len(hits[i]), max_hits) - 1)
                fired.append((i, rule.label, ids[i], round(rule.weight * best * bonus, 6)))
            fired.sort()  # rule order (`i` is unique)
        return [(label, rule_id, score) for _, label, rule_id, score in fired]


class _ScanPlan:
    """The scanned rules of one segment kind, grouped by the filter that rules a text out.

    On ASCII text: `quick` regexes always run (`quick_to_search`), `literal` ones when
    `Prefilter.may_match`, `words` ones (whole word -> rules) when the text's ``\\w+`` runs
    hold one of their whole words. On other text every regex runs (`patterns`). `prefixed`:
    the prefix-keyword rules (``summar*``), filtered by their literals on the segment's words.
    """

    def __init__(self, scanned: Sequence[tuple[Any, ...]], kind: str) -> None:
        entries = [entry for entry in scanned if kind in entry[1].segments]
        with_pattern = [e for e in entries if e[1].pattern is not None]
        self.patterns = tuple((i, rule.pattern) for i, rule, *_ in with_pattern)
        self.quick = tuple(
            (e[0], e[1].pattern) for e in with_pattern if e[2] is None and e[4] is None
        )
        self.literal = tuple(
            (e[0], e[1].pattern, e[2]) for e in with_pattern if e[2] is not None and e[4] is None
        )
        words: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        for i, rule, _, _, needed in with_pattern:
            for word in needed or ():
                words.setdefault(word, []).append((i, rule.pattern))
        self.words = {word: tuple(found) for word, found in words.items()}
        self.prefixed = tuple(
            (e[0], e[1].prefix_pattern, e[3]) for e in entries if e[1].pattern is None
        )


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
