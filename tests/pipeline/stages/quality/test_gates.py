"""`tag_quality` (gates over flat text lists) gives the per-row definition's frame, byte for byte.

The oracle is c73e8a6's row-by-row `tag_quality` (tests/pipeline/stages/quality/reference.py),
run on real records of six shared datasets, on those records altered to fail every gate, and on
hypothesis frames with odd text (non-ASCII, null content, empty lists, fences, newlines).
"""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.canonical import Reject, apply_field_map, canonicalize
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.records.text import normalize_text
from pipeline.stages.quality import LengthBounds, QualityConfig, RepetitionLimits, tag_quality
from pipeline.stages.quality.checks import approx_tokens, iter_record_texts
from pipeline.stages.quality.gates import first_words_differ, length_window
from pipeline.stages.quality.texts import frame_texts
from tests.conftest import SHARED
from tests.pipeline.stages.quality import reference

CONFIGS = {
    "default": QualityConfig(),
    "strict": QualityConfig(
        tool_calls={},
        lengths={
            "reply": LengthBounds(min_chars=40, max_tokens=300),
            "prompt": LengthBounds(min_tokens=3, max_chars=2_000),
            "system": LengthBounds(max_chars=10),
        },
        repetition=RepetitionLimits.gopher(),
        drop_refusals=True,
    ),
    "loose_words": QualityConfig(
        tool_calls={"get_weather": {"city": "string", "days": "integer?"}},
        repetition=RepetitionLimits(min_words=3, skip_code=False),
        refusal_patterns=(r"\bsorry\b", r"(?:can|could)(?:not|n't) help", "o\u212a", "\u212aelvin"),
    ),
    "off": QualityConfig(
        empty_reply=False, same_pair=False, lengths={}, repetition=None, refusal_patterns=()
    ),
}


def _frame(records: list[dict]) -> pl.DataFrame:
    rows = [
        {
            "record_id": f"r{i}",
            "source": "test",
            "kind": "preference" if record.get("chosen") is not None else "sft",
            "messages": record.get("messages"),
            "chosen": record.get("chosen"),
            "rejected": record.get("rejected"),
            "license": "mit",
            "provenance": {"source": "t", "file": "f.jsonl", "file_sha256": "0", "row": i},
        }
        for i, record in enumerate(records)
    ]
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def _load(path: str) -> list[dict]:
    file = SHARED / path
    data = file.read_bytes()
    text = (gzip.decompress(data) if file.suffix == ".gz" else data).decode("utf-8")
    if ".jsonl" in file.name:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _canonical(path: str, kind: str, limit: int) -> list[dict]:
    out = []
    for raw in _load(path)[:limit]:
        if "instances" in raw:  # self-instruct: the instruction and its first instance's output
            raw = {"instruction": raw["instruction"], "output": raw["instances"][0]["output"]}
        if "output_1" in raw:  # AlpacaEval judged pairs
            raw = {
                "prompt": raw["instruction"],
                "chosen": raw["output_1"],
                "rejected": raw["output_2"],
            }
        canonical = canonicalize(apply_field_map(raw, {}, kind), kind=kind)
        if not isinstance(canonical, Reject):
            out.append(canonical._asdict())
    return out


def _altered(records: list[dict]) -> list[dict]:
    """Each record, then copies made to fail: looped, emptied, identical pair, refusal, tool call."""
    out = []
    for i, record in enumerate(records):
        out.append(record)
        copy = json.loads(json.dumps(record))
        reply = (
            copy["chosen"] if copy.get("chosen") is not None else copy["messages"][-1]["content"]
        )
        change = [
            (reply + "\n") * 3,
            " \n ",
            "I'm sorry, but I can't help with that. " + reply,
            reply + ' <tool_call>{"name": "get_weather", "arguments": {"city": 3}}</tool_call>',
            " ".join(reply.split()[:20] * 4),
            reply.upper() + "\n```\n" + reply + "\n```",
        ][i % 6]
        if copy.get("chosen") is not None:
            copy["chosen"] = change
            if i % 4 == 0:
                copy["rejected"] = change.upper() + "  "
        else:
            copy["messages"][-1]["content"] = change
        out.append(copy)
    return out


REAL = [
    ("lima/lima.json.gz", "sft"),
    ("hh_rlhf/harmless-base_test.jsonl.gz", "preference"),
    ("alpaca_eval/gpt4_model_outputs.json.gz", "sft"),
    ("alpaca_eval/alpaca-7b_vs_text-davinci-003_gpt4-judge.json.gz", "preference"),
    ("self_instruct/user_oriented_instructions.jsonl", "sft"),
    ("gsm8k/test.jsonl", "sft"),
    ("codealpaca/code_alpaca_2k.json", "sft"),
]


@pytest.mark.parametrize(("path", "kind"), REAL)
def test_real_records_get_the_per_row_definitions_columns(path, kind):
    frame = _frame(_altered(_canonical(path, kind, 300)))
    assert len(frame) > 200
    failing = 0
    for name, config in CONFIGS.items():
        expected = reference.tag_quality(frame, config=config)
        got = tag_quality(frame, config=config)
        assert got.equals(expected), (path, name)
        failing += expected["quality_drop_rule"].is_not_null().sum()
    assert failing > len(frame) // 4  # the altered copies fail, so the drop columns are compared


_TEXT = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(["a", "b", "cd", " ", "\n", "```", "İ", "é", "\u0301", "ß", "\u212a", "k"]),
        max_size=60,
    ).map("".join),
    st.lists(
        st.sampled_from(
            [
                "the",
                "cat",
                "OK",
                "Kelvin",
                "sorry",
                "İs",
                "ünï",
                "日本",
                "😀",
                "\u2028",
                "\u202e",
                "x\u0301",
            ]
        ),
        max_size=80,
    ).map(" ".join),
    st.text(max_size=200),
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool"]), "content": _TEXT}
)
_RECORD = st.fixed_dictionaries(
    {
        "messages": st.one_of(st.none(), st.lists(_MESSAGE, max_size=4)),
        "chosen": _TEXT,
        "rejected": _TEXT,
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_RECORD, max_size=8), st.sampled_from(sorted(CONFIGS)))
def test_odd_frames_get_the_per_row_definitions_columns(records, name):
    frame = _frame(records)
    expected = reference.tag_quality(frame, config=CONFIGS[name])
    assert tag_quality(frame, config=CONFIGS[name]).equals(expected)


def test_frames_without_pair_columns_or_rows():
    frame = _frame([{"messages": [{"role": "assistant", "content": ""}]}]).drop(
        "chosen", "rejected"
    )
    for config in CONFIGS.values():
        assert tag_quality(frame, config=config).equals(reference.tag_quality(frame, config=config))
        empty = frame.head(0)
        assert tag_quality(empty, config=config).equals(reference.tag_quality(empty, config=config))


@given(
    st.one_of(st.none(), st.integers(0, 50)),
    st.one_of(st.none(), st.integers(0, 50)),
    st.one_of(st.none(), st.integers(0, 12)),
    st.one_of(st.none(), st.integers(0, 12)),
)
def test_length_window_is_where_check_lengths_passes(min_chars, max_chars, min_tokens, max_tokens):
    if (min_chars or 0) > (max_chars if max_chars is not None else 99) or (min_tokens or 0) > (
        max_tokens if max_tokens is not None else 99
    ):
        return
    bounds = LengthBounds(min_chars, max_chars, min_tokens, max_tokens)
    low, high = length_window(bounds)
    for size in range(60):
        inside = all(
            (lo is None or value >= lo) and (hi is None or value <= hi)
            for value, lo, hi in (
                (size, min_chars, max_chars),
                (approx_tokens("x" * size), min_tokens, max_tokens),
            )
        )
        assert inside == (low <= size <= high), size


@settings(max_examples=500, deadline=None)
@given(
    *[
        st.lists(
            st.sampled_from(["a", "A", "b", " ", "\t", "\x1c", "\x0b", ".", "é"]), max_size=8
        ).map("".join)
    ]
    * 2
)
def test_first_words_differ_only_when_normalized_replies_differ(chosen, rejected):
    if first_words_differ(chosen, rejected):
        assert normalize_text(chosen) != normalize_text(rejected)
    if chosen.isascii() and rejected.isascii():
        assert (normalize_text(chosen) == normalize_text(rejected)) == (
            chosen.lower().split() == rejected.lower().split()
        )


@settings(max_examples=100, deadline=None)
@given(st.lists(_RECORD, max_size=6))
def test_frame_texts_are_iter_record_texts_row_by_row(records):
    frame = _frame(records)
    texts = frame_texts(frame)
    got = sorted(
        zip(texts.rows, range(len(texts.rows)), texts.fields, texts.roles, texts.texts, strict=True)
    )
    expected = [
        (row, *text)
        for row, record in enumerate(
            frame.select("messages", "chosen", "rejected").iter_rows(named=True)
        )
        for text in iter_record_texts(record)
    ]
    assert [(row, *rest) for row, _, *rest in got] == expected
