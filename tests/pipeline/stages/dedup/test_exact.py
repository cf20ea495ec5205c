"""Exact dedup on content (prompts normalized, replies exact) keeps one record per group, by the keeper rule."""

from __future__ import annotations

import polars as pl

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
