"""Flat turn columns: the same fields and sides as the per-row definitions (oracles below)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.columns import text_fields
from pipeline.records.schemas import iter_text_fields
from pipeline.stages.dedup.near import record_sides

ODD = ["", " ", "\u2028", "e\u0301", "ﬁ", "שלום", "😀", "\x00", "x" * 3000]
TURN = st.fixed_dictionaries(
    {
        "role": st.one_of(st.sampled_from(["user", "assistant", "system"]), st.none()),
        "content": st.one_of(st.text(max_size=15), st.sampled_from(ODD)),
    }
)
ROW = st.tuples(
    st.one_of(st.none(), st.lists(TURN, max_size=4)),
    st.one_of(st.none(), st.text(max_size=10)),
    st.one_of(st.none(), st.sampled_from(ODD)),
)
SCHEMA = {
    "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
    "chosen": pl.String,
    "rejected": pl.String,
}


def _sides_by_row(frame):
    """`record_sides` before issue 15: one dict per row (``iter_rows(named=True)``)."""
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    prompts, replies = [], []
    for record in frame.select(columns).iter_rows(named=True):
        turns = record.get("messages") or ()
        prompts.append("\n".join(m["content"] for m in turns if m["role"] != "assistant"))
        reply = [m["content"] for m in turns if m["role"] == "assistant"]
        reply += [record[c] for c in ("chosen", "rejected") if record.get(c) is not None]
        replies.append("\n".join(reply))
    return prompts, replies


def _fields_by_row(frame):
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    return [
        (i, name, text)
        for i, record in enumerate(frame.select(columns).iter_rows(named=True))
        for name, text in iter_text_fields(record)
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, max_size=10), st.integers(0, 3), st.sampled_from(["all", "no_pair", "only"]))
def test_flat_columns_give_the_per_row_fields_and_sides(rows, cut, columns):
    frame = pl.DataFrame(
        {name: [row[k] for row in rows] for k, name in enumerate(SCHEMA)}, schema=SCHEMA
    ).slice(min(cut, len(rows)))  # a sliced frame: Arrow offsets that do not start at 0
    if columns == "no_pair":
        frame = frame.drop("chosen", "rejected")
    elif columns == "only":
        frame = frame.drop("messages")
    assert text_fields(frame) == _fields_by_row(frame)
    assert record_sides(frame) == _sides_by_row(frame)
