"""Decontamination's faster pool preparation (issue 15) finds what the replaced code found.

Oracle (tests/pipeline/stages/dedup/reference.py, main at bacf9fe): the postings counted with
`np.unique`. Data: the real holdouts (MT-Bench, Vicuna, self-instruct, HumanEval, GSM8K test)
against their own items edited, LIMA prompts and replies and GSM8K train questions.
"""

from __future__ import annotations

import gzip
import json
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.decontam import match
from pipeline.stages.decontam.match import HoldoutIndex, find_contamination
from tests.conftest import SHARED
from tests.pipeline.stages.decontam.test_screen import CONFIG, _items, _mutate
from tests.pipeline.stages.dedup import reference


@pytest.fixture(scope="module")
def index() -> HoldoutIndex:
    return HoldoutIndex.build(_items(), config=CONFIG)


def _texts(index: HoldoutIndex) -> list[str]:
    rng = random.Random(5)
    lima = json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    train = [json.loads(line) for line in gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt")]
    texts = [r["question"] for r in train[:600]]
    texts += [r[k] for r in lima[:300] for k in ("instruction", "output")]
    for item in rng.sample(index.items, 300):
        spans = re.findall(r"\S+", item.text)
        texts.append(" ".join(_mutate(rng, spans, rng.choice([0.1, 0.3, 0.5]))))
        texts.append("Please solve this: " + item.text.upper())
    return texts


def test_findings_equal_the_replaced_definitions_on_real_holdouts(index, monkeypatch):
    texts = _texts(index)
    fields = [(k, "messages[0].content", t) for k, t in enumerate(texts)]
    new = find_contamination(fields, index=index, config=CONFIG)
    assert len(new) > 300
    monkeypatch.setattr(match, "_expand", reference.expand_postings)
    assert new == find_contamination(fields, index=index, config=CONFIG)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.floats(0, 1), st.integers(1, 3000)), min_size=1))
def test_expanded_postings_equal_np_unique_counts(index, runs):
    runs = sorted(runs)  # fields ascending, as `_count_pairs` passes them
    n = len(index.post_item)
    lo = np.array([int(at * (n - 1)) for _, at, _ in runs], dtype=np.int64)
    counts = np.minimum([c for _, _, c in runs], n - lo).astype(np.int64)
    fields = np.array([f for f, _, _ in runs], dtype=np.int64)
    got = match._expand(lo, counts, fields, index)
    want = reference.expand_postings(lo, counts, fields, index)
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a, b) and a.dtype == b.dtype


def test_item_table_excess_equals_the_per_item_definition(index):
    """Items described in several rounds (the flat arrays grow), candidates in any order."""
    from pipeline.stages.decontam.evidence import _excess, _field_view, _view
    from pipeline.stages.decontam.screen import ItemTable

    table = ItemTable(tuple(it.text for it in index.items), CONFIG.rule)
    rng = np.random.default_rng(3)
    for text in _texts(index)[::7]:
        items = rng.choice(len(index.items), size=int(rng.integers(1, 300)), replace=False)
        table.describe(items)
        for view in (0, 1):
            counts = _field_view(text)[view][1]
            want = [_excess(_view(index.items[i].text)[view][1], counts) for i in items.tolist()]
            assert table.excess(view, items, table.field_counts(counts)).tolist() == want
