"""Pool preparation's faster definitions (issue 15) equal the ones they replaced.

Oracles: tests/pipeline/stages/dedup/reference.py (main at bacf9fe). Data: every record of five
shared datasets in one frame (multi-turn HH-RLHF dialogues, preference pairs, code, maths; more
than the 4,096 records of one merge), and hypothesis frames with odd unicode.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.dedup.near import record_shingle_sets
from pipeline.stages.dedup.shingles import MinHashConfig
from tests.pipeline.stages.dedup import reference
from tests.pipeline.stages.quality.test_gates import _canonical, _frame  # real records

REAL = [
    ("lima/lima.json.gz", "sft"),
    ("hh_rlhf/harmless-base_test.jsonl.gz", "preference"),
    ("alpaca_eval/alpaca-7b_vs_text-davinci-003_gpt4-judge.json.gz", "preference"),
    ("gsm8k/test.jsonl", "sft"),
    ("codealpaca/code_alpaca_2k.json", "sft"),
]
CONFIGS = [MinHashConfig(), MinHashConfig(n=1), MinHashConfig(n=3), MinHashConfig(unit="char")]


@pytest.fixture(scope="module")
def real_frame() -> pl.DataFrame:
    return _frame([r for path, kind in REAL for r in _canonical(path, kind, 10**6)])


def _same_sets(a, b) -> None:
    assert np.array_equal(a.offsets, b.offsets)
    assert np.array_equal(a.hashes, b.hashes)
    assert a.hashes.dtype == b.hashes.dtype and a.offsets.dtype == b.offsets.dtype


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.slug)
def test_record_shingle_sets_equal_the_per_side_definition_on_real_records(real_frame, config):
    assert real_frame.height > 4096  # two merges, the last one partial
    _same_sets(
        record_shingle_sets(real_frame, config=config),
        reference.record_shingle_sets(real_frame, config=config),
    )
    part = real_frame.slice(4000, 200)  # a sliced frame, across a merge boundary of the whole
    _same_sets(
        record_shingle_sets(part, config=config), reference.record_shingle_sets(part, config=config)
    )


_TEXT = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.lists(
        st.sampled_from(
            [
                "the",
                "Cat",
                "İs",
                "ﬁne",
                "ünï",
                "日本",
                "😀",
                "\u2028",
                "x\u0301",
                "\x00",
                "_",
                "a-b",
            ]
        ),
        max_size=30,
    ).map(" ".join),
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system"]), "content": _TEXT.filter(bool)}
)
_RECORD = st.fixed_dictionaries(
    {
        "messages": st.one_of(st.none(), st.lists(_MESSAGE, max_size=4)),
        "chosen": _TEXT,
        "rejected": _TEXT,
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_RECORD, max_size=10), st.sampled_from(CONFIGS))
def test_record_shingle_sets_equal_the_per_side_definition_on_odd_text(records, config):
    frame = _frame(records)
    _same_sets(
        record_shingle_sets(frame, config=config),
        reference.record_shingle_sets(frame, config=config),
    )


def test_content_keys_equal_the_per_row_definition_on_real_records(real_frame):
    from pipeline.stages.dedup.exact import content_keys

    expected = reference.content_keys(real_frame)
    assert content_keys(real_frame).equals(expected)
    assert content_keys(real_frame.slice(3000, 500)).equals(expected.slice(3000, 500))
    assert content_keys(real_frame.head(0)).equals(expected.head(0))


# every character the columnar paths treat specially: ASCII whitespace (str.split's, \x1c-\x1f
# included), JSON escapes, characters NFKC / casefold / NFC change, capitals
_TRICKY = st.lists(
    st.sampled_from(
        [" ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x00", "\x08", '"', "\\"]
        + ["\x7f", "\x85", "\u00a0", "\u2028", "A", "b", "Z9", "İ", "ß", "ﬁ", "e\u0301", "😀"]
    ),
    max_size=25,
).map("".join)
_TURN = st.tuples(st.sampled_from(["user", "assistant", "system", None]), _TRICKY)


def _rows_frame(rows) -> pl.DataFrame:
    """A frame of ``(turns or None, chosen, rejected)`` rows."""
    return pl.DataFrame(
        {
            "messages": [
                None if turns is None else [{"role": r, "content": c} for r, c in turns]
                for turns, _, _ in rows
            ],
            "chosen": [c for _, c, _ in rows],
            "rejected": [r for _, _, r in rows],
        },
        schema={c: RECORD_SCHEMA[c] for c in ("messages", "chosen", "rejected")},
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.lists(_TURN, max_size=4)),
            st.one_of(_TEXT, _TRICKY),
            st.one_of(_TEXT, _TRICKY),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_content_keys_and_sides_equal_the_per_row_definitions_on_odd_text(rows):
    from pipeline.stages.dedup.exact import content_keys
    from pipeline.stages.dedup.near import record_sides

    frame = _rows_frame(rows)
    assert content_keys(frame).equals(reference.content_keys(frame))
    assert record_sides(frame) == reference.record_sides(frame)


def test_record_sides_equal_the_per_row_definition(real_frame):
    from pipeline.stages.dedup.near import record_sides

    assert record_sides(real_frame) == reference.record_sides(real_frame)
    part = real_frame.slice(4000, 300)
    assert record_sides(part) == reference.record_sides(part)
    bare = part.drop("chosen", "rejected")
    assert record_sides(bare) == reference.record_sides(bare)
    assert record_sides(part.drop("messages")) == reference.record_sides(part.drop("messages"))
