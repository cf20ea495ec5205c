"""The record id is the xxh3-128 of json.dumps' bytes: `compute_record_id` writes that JSON itself,
so json.dumps (the definition it replaced) is the oracle here, on generated and real records."""

from __future__ import annotations

import gzip
import json

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.canonical import apply_field_map, canonicalize
from pipeline.records.schemas import compute_record_id
from tests.conftest import SHARED


def oracle(messages, chosen=None, rejected=None):
    """The id as first defined: key-sorted compact JSON of the content, ensure_ascii off."""
    payload = json.dumps(
        {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "chosen": chosen,
            "rejected": rejected,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


ODD = [
    "",
    " ",
    'quote " and \\ backslash \\u0041 \\"',
    "controls \x01\x1f\x7f \b\f\n\r\t",
    "e\u0301 \u00e9 \ufb01 \u212a",  # combining mark, NFC form, NFKC ligature, Kelvin sign
    "\u05e9\u05dc\u05d5\u05dd \u202e rtl \u200f",
    "emoji \U0001f600 \U0001f468\u200d\U0001f469\u200d\U0001f467 \ufe0f",
    "separators \u2028 \u2029 \x85 \u00a0",
    "x" * 100_000 + '"\n' + "\u00e9" * 50_000,
]
TEXT = st.one_of(st.sampled_from(ODD), st.text(), st.text(alphabet=st.characters(codec="utf-8")))
MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": st.one_of(st.sampled_from(["system", "user", "assistant"]), TEXT), "content": TEXT}
    ),
    max_size=5,
)


@settings(max_examples=400, deadline=None)
@given(MESSAGES, st.none() | TEXT, st.none() | TEXT)
def test_record_id_is_the_xxh3_of_json_dumps(messages, chosen, rejected):
    assert compute_record_id(messages, chosen, rejected) == oracle(messages, chosen, rejected)


@pytest.mark.parametrize("text", ODD)
def test_record_id_on_odd_text(text):
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": text[::-1]}]
    assert compute_record_id(messages) == oracle(messages)
    assert compute_record_id(messages[:1], text, "") == oracle(messages[:1], text, "")


def test_a_lone_surrogate_fails_as_before():
    """The reader rejects surrogates, but if one came through, both definitions raise alike."""
    messages = [{"role": "user", "content": "bad \ud800"}]
    with pytest.raises(UnicodeEncodeError):
        oracle(messages)
    with pytest.raises(UnicodeEncodeError):
        compute_record_id(messages)


def _real(name):
    path = SHARED / name
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        if ".jsonl" in name:
            return [json.loads(line) for line in fh]
        return json.load(fh)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("lima/lima.json.gz", "sft"),
        ("hh_rlhf/harmless-base_test.jsonl.gz", "preference"),
        ("codealpaca/new_codealpaca.json.gz", "sft"),
    ],
)
def test_record_id_on_real_records(name, kind):
    checked = 0
    for raw in _real(name)[:4000]:
        content = canonicalize(apply_field_map(raw, {}, kind), kind=kind)
        if hasattr(content, "messages"):
            args = (content.messages, content.chosen, content.rejected)
            assert compute_record_id(*args) == oracle(*args)
            checked += 1
    assert checked > 1000
