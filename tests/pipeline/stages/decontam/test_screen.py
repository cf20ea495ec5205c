"""The candidate screen: it skips only candidates the match rule rejects (same findings).

Oracles: `find_contamination(..., screen=False)`, which judges every candidate with
`MatchRule.judge` (unchanged), and `judge` itself for each candidate the screen drops.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.stages.decontam.evidence import _ngrams, tokens
from pipeline.stages.decontam.holdouts import read_holdout_file
from pipeline.stages.decontam.match import (
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    find_contamination,
)
from pipeline.stages.decontam.screen import item_table, worth_judging
from pipeline.stages.dedup.shingles import compute_shingle_sets
from tests.conftest import SHARED
from tests.pipeline.stages.decontam.test_labels import HOLDOUTS

CONFIG = DecontamConfig()
RULE = CONFIG.rule
# words with odd unicode: NFKC/casefold changes, combining marks, RTL, emoji, separators, NUL
WORDS = [
    "the", "The", "of", "answer", "ﬁle", "Straße", "STRASSE", "e\u0301te", "été", "שלום",
    "مرحبا", "😀", "x\u2028y", "a_b", "don't", "9,300", "①", "ǅ", "İstanbul", "\x00", "--",
    "plt.plot(x)", "", "Ⅻ", "ﬀ", "\u200b", "naïve",
]  # fmt: skip


def _mutate(rng: random.Random, words: list[str], rate: float) -> list[str]:
    out = list(words)
    for _ in range(max(1, round(rate * len(out)))):
        k = rng.randrange(len(out) + 1)
        op = rng.random()
        if op < 0.4 and k < len(out):
            out[k] = rng.choice(WORDS)
        elif op < 0.7 and k < len(out):
            del out[k]
        else:
            out.insert(k, rng.choice(WORDS))
    return out


def _shared(item: str, field: str) -> int:
    sets = compute_shingle_sets([item, field], config=CONFIG.shingles)
    return len(np.intersect1d(sets.doc(0), sets.doc(1)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(0, 60),
    rate=st.sampled_from([0.05, 0.1, 0.2, 0.5]),
)
def test_a_dropped_candidate_is_one_the_rule_rejects(seed, size, rate):
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(size)]
    item = rng.choice([" ", "  ", "\n"]).join(words)
    mutated = " ".join(_mutate(rng, words, rate)) if words else rng.choice(WORDS)
    field = rng.choice(["", "Intro: ", "THE ANSWER OF "]) + mutated + rng.choice(["", " end."])
    texts = [item, "another holdout item about nothing at all"]
    shared = np.array([_shared(item, field)])
    sizes = compute_shingle_sets(texts, config=CONFIG.shingles).sizes
    keep = worth_judging(item_table(texts, RULE), field, np.array([0]), shared, sizes)
    grams = set(_ngrams(tokens(item), RULE.n))
    if grams and sizes[0] == len(grams):  # the bound the screen's containment check rests on
        assert len(grams & set(_ngrams(tokens(field), RULE.n))) <= shared[0]
    if not keep[0]:
        assert RULE.judge(item, field) is None


def _items() -> list[HoldoutItem]:
    return [
        item
        for name in HOLDOUTS
        for item in read_holdout_file(SHARED / name, holdout=name, label=name).items
    ]


@pytest.mark.slow
def test_screened_findings_equal_judging_every_candidate_on_real_holdouts():
    """Real holdouts (MT-Bench, Vicuna, self-instruct, HumanEval, GSM8K test) against their own
    items copied with 10-50% of the words edited, GSM8K train questions (the same templates)
    and LIMA prompts: the findings are the same list with and without the screen."""
    rng = random.Random(11)
    items = _items()
    index = HoldoutIndex.build(items, config=CONFIG)
    lima = json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    train = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")]
    texts = [r["question"] for r in train[:1500]] + [r["instruction"] for r in lima[:500]]
    for item in rng.sample(items, 600):
        spans = re.findall(r"\S+", item.text)
        texts.append(" ".join(_mutate(rng, spans, rng.choice([0.1, 0.2, 0.3, 0.5]))))
        texts.append("Please solve this: " + item.text.upper())
    fields = [(k, "messages[0].content", t) for k, t in enumerate(texts)]
    screened = find_contamination(fields, index=index, config=CONFIG)
    assert len(screened) > 600
    assert screened == find_contamination(fields, index=index, config=CONFIG, screen=False)
