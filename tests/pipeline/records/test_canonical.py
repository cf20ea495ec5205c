"""Canonicalization of the real shapes: Alpaca, chat, LIMA, HH-RLHF, and schema failures."""

from __future__ import annotations

import gzip
import json

import pytest

from pipeline.records.canonical import Reject, apply_field_map, canonicalize, split_hh_transcript
from tests.conftest import SHARED


def _sft(raw, fields=None):
    return canonicalize(apply_field_map(raw, fields or {}, "sft"), kind="sft")


def _pref(raw, fields=None):
    return canonicalize(apply_field_map(raw, fields or {}, "preference"), kind="preference")


def test_alpaca_input_is_appended_to_the_instruction():
    out = _sft({"instruction": "Translate.", "input": "Bonjour", "output": "Hello"})
    assert out.messages == [
        {"role": "user", "content": "Translate.\n\nBonjour"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_field_map_renames_source_fields():
    out = _sft({"q": "Why?", "a": "Because."}, {"q": "prompt", "a": "response"})
    assert [m["content"] for m in out.messages] == ["Why?", "Because."]


def test_lima_history_and_conversations_become_alternating_turns():
    out = _sft({"instruction": "q2", "input": "", "output": "a2", "history": [["q1", "a1"]]})
    assert [m["role"] for m in out.messages] == ["user", "assistant", "user", "assistant"]
    out = _sft({"conversations": ["q1", "a1", "q2", "a2"]})
    assert [m["content"] for m in out.messages] == ["q1", "a1", "q2", "a2"]


def test_chat_messages_allow_one_leading_system_turn():
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert _sft({"messages": turns}).messages == turns


@pytest.mark.parametrize(
    ("turns", "reason"),
    [
        ([("user", "a"), ("user", "b"), ("assistant", "c")], "roles_not_alternating"),
        ([("assistant", "a"), ("user", "b")], "roles_not_alternating"),
        ([("user", "a"), ("assistant", "  ")], "empty_text"),
        ([("user", "a")], "no_reply"),
        ([("user", "a"), ("system", "b"), ("assistant", "c")], "roles_not_alternating"),
    ],
)
def test_chat_schema_failures_have_reasons(turns, reason):
    raw = {"messages": [{"role": r, "content": c} for r, c in turns]}
    assert _sft(raw) == Reject(reason)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"output": "x"}, "missing_field:prompt"),
        ({"instruction": "q"}, "missing_field:response"),
        ({"instruction": 3, "output": "x"}, "wrong_type:prompt"),
        ({"instruction": "q", "output": ["x"]}, "wrong_type:response"),
        ({"messages": "hello"}, "wrong_type:messages"),
    ],
)
def test_missing_and_wrong_typed_fields_name_the_field(raw, reason):
    assert _sft(raw) == Reject(reason)


def test_hh_transcript_splits_into_shared_prompt_and_two_replies():
    chosen = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell a joke\n\nAssistant: Knock knock."
    rejected = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell a joke\n\nAssistant: No."
    out = _pref({"chosen": chosen, "rejected": rejected})
    assert [m["content"] for m in out.messages] == ["Hi", "Hello!", "Tell a joke"]
    assert (out.chosen, out.rejected) == ("Knock knock.", "No.")


def test_preference_failures():
    assert _pref({"prompt": "p", "chosen": "same", "rejected": "same"}) == Reject(
        "chosen_equals_rejected"
    )
    assert _pref({"prompt": "p", "chosen": "a"}) == Reject("missing_field:rejected")
    a = "\n\nHuman: one\n\nAssistant: x"
    b = "\n\nHuman: two\n\nAssistant: y"
    assert _pref({"chosen": a, "rejected": b}) == Reject("preference_prompt_mismatch")


def test_split_hh_transcript_rejects_plain_text():
    assert split_hh_transcript("just a reply") is None


def test_real_hh_rlhf_records_mostly_canonicalize():
    path = SHARED / "hh_rlhf" / "harmless-base_test.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    outcomes = [_pref(r) for r in rows]
    ok = [o for o in outcomes if not isinstance(o, Reject)]
    assert len(ok) >= 0.99 * len(rows)
    assert all(o.messages[-1]["role"] == "user" and o.chosen != o.rejected for o in ok)
