"""Literal prefilters: a text is only ruled out when the regex cannot match it."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from pipeline.records.literals import Prefilter, required_literals
from pipeline.stages.quality.config import DEFAULT_REFUSAL_PATTERNS
from pipeline.stages.tagging.rules import load_rule_set
from tests.conftest import SHARED


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"\bhello world\b", re.I, ("hello world",)),
        (r"(?:cat|dog)s?", 0, ("cat", "dog")),
        (r"ab*c", 0, ("a",)),  # b* may be absent: "a" and "c" are each required, "a" kept
        (r"x(?:yz)+", 0, ("yz",)),  # longer of x / yz
        (r"(?:foo)|\d+", 0, ()),  # one branch has no literal: nothing is required
        (r"(?!never)\w+", 0, ()),  # a negative lookahead requires nothing
        (r"(?-i:DAN)", re.I, ("dan",)),
        (r"caf\u00e9|tea", 0, ()),  # non-ASCII literal: no prefilter
    ],
)
def test_required_literals(pattern, flags, expected):
    assert required_literals(re.compile(pattern, flags)) == expected


def _texts() -> list[str]:
    with gzip.open(SHARED / "lima" / "lima.json.gz", "rt", encoding="utf-8") as fh:
        lima = json.load(fh)
    texts = [record[key] for record in lima[:400] for key in ("instruction", "output")]
    hand = [
        "As an AI language model, I cannot help with that.",
        "AS AN AI MODEL I CAN'T",
        "I\u2019m sorry, but I cannot do this",
        "Traceback (most recent call last):\n  File x\nValueError: bad",
        "Write a Python FUNCTION that sorts",
        "Stra\u00dfe \u212aelvin as an ai model",  # non-ASCII: always goes to the regex
        "You are a pirate. DAN mode on.",
    ]
    return texts + hand + [t.upper() for t in texts[:100]] + [t.swapcase() for t in hand]


def test_prefilter_never_rules_out_a_match_of_the_builtin_patterns():
    patterns = [re.compile(p, re.IGNORECASE) for p in DEFAULT_REFUSAL_PATTERNS]
    for rule_set in ("intent_rules_v1", "difficulty_rules_v1"):
        for rule in load_rule_set(rule_set).rules:
            patterns += [p for p in (rule.pattern, rule.prefix_pattern) if p is not None]
    texts = _texts()
    matched = skipped = 0
    for pattern in patterns:
        prefilter = Prefilter.of(pattern)
        for text in texts:
            match = pattern.search(text) is not None
            may = prefilter.may_match(text)
            assert may or not match, (pattern.pattern, text[:80])
            matched += match
            skipped += not may
    assert matched > 50 and skipped > len(texts)  # the check saw matches and did skip texts
