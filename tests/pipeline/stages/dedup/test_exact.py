"""Exact dedup on content (prompts normalized, replies exact) keeps one record per group, by the keeper rule."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.dedup.exact import content_key, tag_exact_duplicates
from pipeline.stages.gate import apply_gate


def _frame(rows):
    return pl.DataFrame(
        [
            {
                "record_id": rid,
                "source": src,
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                "chosen": None,
                "rejected": None,
                "dedup_keeper_rank": rank,
                "provenance": {"source": src, "file": "f.jsonl", "file_sha256": "0", "row": rank},
            }
            for rid, src, q, a, rank in rows
        ]
    )


def test_replies_differing_in_case_or_indentation_are_different_content():
    def key(reply):
        return content_key(
            [{"role": "user", "content": "Fix the case."}, {"role": "assistant", "content": reply}],
            None,
            None,
        )

    assert key("Yes") != key("yes")
    assert key("if x:\n    return 1") != key("if x:\n  return 1")
    assert key("Yes  it is") == key("Yes it is\n")  # spacing inside a line and at the ends
    assert content_key([], "A", "b") != content_key([], "a", "b")


def test_prompt_content_key_ignores_case_width_and_whitespace():
    a = content_key([{"role": "user", "content": "Hello  World"}], None, None)
    b = content_key([{"role": "user", "content": " hello world\n"}], None, None)
    c = content_key(
        [{"role": "user", "content": "Ｈｅｌｌｏ world"}], None, None
    )  # full-width (NFKC)
    assert a == b == c
    assert a != content_key([{"role": "assistant", "content": "hello world"}], None, None)


def test_lowest_keeper_rank_is_kept_and_others_point_to_it():
    frame = _frame(
        [
            ("r1", "s1", "Q", "A", 2),
            ("r2", "s2", "q ", "A ", 0),
            ("r3", "s1", "other", "A", 1),
        ]
    )
    kept, ledger = apply_gate(tag_exact_duplicates(frame), stage="exact_dedup", prefix="exact")
    assert sorted(kept.get_column("record_id").to_list()) == ["r2", "r3"]
    assert ledger.select("record_id", "dup_of", "reason").rows() == [
        ("r1", "r2", "exact_duplicate")
    ]


def test_shared_first_prompt_is_not_a_duplicate():
    frame = _frame(
        [("r1", "s", "same prompt", "reply one", 0), ("r2", "s", "same prompt", "reply two", 1)]
    )
    assert tag_exact_duplicates(frame).get_column("exact_drop_rule").null_count() == 2


def _reply_text_line_by_line(text: str) -> str:
    """The definition `reply_text` is checked against: every line, as the docstring says."""
    import re
    import unicodedata

    lines = []
    for line in unicodedata.normalize("NFC", text).split("\n"):
        indent, rest = re.match(r"^([ \t]*)(.*)$", line).groups()
        lines.append(indent + re.sub(r"[ \t]+", " ", rest).rstrip())
    return "\n".join(lines).strip("\n")


def test_reply_text_fast_paths_equal_the_line_by_line_definition():
    import random

    from pipeline.stages.dedup.exact import reply_text

    alphabet = [
        " ",
        "\t",
        "\n",
        "\r",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x1d",
        "\x1e",
        "\x1f",
        "\x85",
        "\u00a0",
        "\u2003",
        "\u2028",
        "a",
        "B",
        "é",
        "e\u0301",
        "1",
        "-",
        "İ",
    ]
    rng = random.Random(7)
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert reply_text(text) == _reply_text_line_by_line(text), repr(text)
    for text in ("  if x:\n      return  1  \n", "a \nb", "a\n \n", " ", "x\u00a0", "\n\na b\n"):
        assert reply_text(text) == _reply_text_line_by_line(text), repr(text)


def _content_key_with_dumps(messages, chosen, rejected):
    """The definition before issue 15: one `json.dumps` of the payload per record."""
    import json

    import xxhash

    from pipeline.records.text import normalize_text
    from pipeline.stages.dedup.exact import reply_text

    turns = [
        (
            m["role"],
            reply_text(m["content"]) if m["role"] == "assistant" else normalize_text(m["content"]),
        )
        for m in messages
    ]
    payload = json.dumps(
        [
            turns,
            reply_text(chosen) if chosen is not None else None,
            reply_text(rejected) if rejected is not None else None,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


ODD = [
    "",
    " ",
    "\u2028",
    "e\u0301",
    "ﬁ",
    "İ",
    "שלום",
    "😀",
    '"\\',
    "\x00\x1f",
    "A  b\n\tc ",
    "x" * 5000,
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from(["user", "assistant", "system"]),
                    st.one_of(st.text(max_size=30), st.sampled_from(ODD)),
                ),
                max_size=4,
            ),
            st.one_of(st.none(), st.text(max_size=20), st.sampled_from(ODD)),
            st.one_of(st.none(), st.text(max_size=20)),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_content_keys_equal_the_per_record_dumps_definition(rows):
    from pipeline.stages.dedup.exact import content_keys

    records = [
        ([{"role": r, "content": c} for r, c in turns], chosen, rejected)
        for turns, chosen, rejected in rows
    ]
    frame = pl.DataFrame(
        {
            "messages": [m for m, _, _ in records],
            "chosen": [c for _, c, _ in records],
            "rejected": [r for _, _, r in records],
        },
        schema={
            "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
            "chosen": pl.String,
            "rejected": pl.String,
        },
    )
    expected = [_content_key_with_dumps(*record) for record in records]
    assert content_keys(frame).to_list() == expected
    assert content_keys(frame.slice(1)).to_list() == expected[1:]  # a sliced frame's offsets
    assert [content_key(*record) for record in records] == expected
