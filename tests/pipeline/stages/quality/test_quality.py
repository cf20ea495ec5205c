"""Quality gates: each gate on crafted bad records and on real records from the shared datasets."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

from pipeline.errors import ConfigError
from pipeline.records.canonical import Reject, apply_field_map, canonicalize
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.gate import apply_gate
from pipeline.stages.quality import (
    GATE_ORDER,
    LengthBounds,
    QualityConfig,
    RepetitionLimits,
    approx_tokens,
    repetition_reason,
    tag_quality,
    tool_call_problem,
)
from tests.conftest import SHARED

WEATHER = {"get_weather": {"city": "string", "days": "integer?"}}
PROSE = (
    "Rivers shape valleys over long periods. Water carries sediment downstream, cutting into rock "
    "and depositing silt where the current slows. Floods widen the plain, while meanders migrate "
    "across it, leaving oxbow lakes behind. Vegetation stabilises the banks and slows erosion."
)


def _frame(records: list[dict]) -> pl.DataFrame:
    rows = []
    for i, record in enumerate(records):
        rows.append(
            {
                "record_id": f"r{i}",
                "source": "test",
                "kind": "preference" if record.get("chosen") is not None else "sft",
                "messages": record["messages"],
                "chosen": record.get("chosen"),
                "rejected": record.get("rejected"),
                "license": "mit",
                "provenance": {"source": "test", "file": "f.jsonl", "file_sha256": "0", "row": i},
            }
        )
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def _sft(reply: str, prompt: str = "Explain rivers.") -> dict:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
    }


def _pair(chosen: str, rejected: str) -> dict:
    return {
        "messages": [{"role": "user", "content": "Which is better?"}],
        "chosen": chosen,
        "rejected": rejected,
    }


def _real(path: str, kind: str, limit: int) -> pl.DataFrame:
    file = SHARED / path
    data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    text = data.decode("utf-8")
    raws = (
        [json.loads(line) for line in text.splitlines()]
        if ".jsonl" in file.name
        else json.loads(text)
    )
    records = []
    for raw in raws[:limit]:
        canonical = canonicalize(apply_field_map(raw, {}, kind), kind=kind)
        if not isinstance(canonical, Reject):
            records.append(canonical._asdict())
    return _frame(records)


def _reasons(frame: pl.DataFrame, config: QualityConfig | None = None) -> list[str | None]:
    return tag_quality(frame, config=config or QualityConfig())["quality_drop_reason"].to_list()


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: QualityConfig(lengths={"answer": LengthBounds()}), "lengths"),
        (lambda: LengthBounds(min_chars=10, max_chars=5), "min_chars"),
        (lambda: LengthBounds(max_tokens=-1), "max_tokens"),
        (lambda: RepetitionLimits(max_dup_line_frac=1.5), "max_dup_line_frac"),
        (lambda: QualityConfig(tool_calls={"f": {"x": "str"}}), r"tool_calls\[f\]\[x\]"),
        (lambda: QualityConfig(refusal_patterns=("(",)), "refusal_patterns"),
        (lambda: QualityConfig(empty_reply="yes"), "empty_reply"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(build, field):
    with pytest.raises(ConfigError, match=f"`{field}"):
        build()


# --- real records pass -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("lima/lima.json.gz", "sft"),
        ("codealpaca/code_alpaca_2k.json", "sft"),
        ("hh_rlhf/harmless-base_test.jsonl.gz", "preference"),
    ],
)
def test_real_records_mostly_pass_the_default_gates(path, kind):
    frame = _real(path, kind, 400)
    dropped = sum(r is not None for r in _reasons(frame))
    assert len(frame) > 300
    assert dropped / len(frame) < 0.02


# --- empty_reply_v1 ----------------------------------------------------------------------------


def test_empty_or_whitespace_reply_is_dropped_by_empty_reply_v1():
    frame = _frame([_sft(" \n\t "), _sft(""), _sft(PROSE), _pair("", "A full answer.")])
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_empty_reply"].to_list() == [True, True, False, True]
    assert tagged["quality_drop_rule"].to_list() == [
        "empty_reply_v1",
        "empty_reply_v1",
        None,
        "empty_reply_v1",
    ]
    assert json.loads(tagged["quality_detail"][3])["field"] == "chosen"


def test_empty_reply_gate_can_be_switched_off():
    tagged = tag_quality(_frame([_sft(" ")]), config=QualityConfig(empty_reply=False))
    assert tagged["quality_empty_reply"].to_list() == [None]
    assert tagged["quality_drop_rule"].to_list() == [None]


# --- same_pair_v1 ------------------------------------------------------------------------------


def test_pair_equal_after_normalization_is_dropped_by_same_pair_v1():
    frame = _frame(
        [_pair("Paris is the  capital.", "paris is the capital.\n"), _pair("Paris.", "Lyon.")]
    )
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_same_pair"].to_list() == [True, False]
    assert tagged["quality_drop_reason"].to_list() == ["chosen_equals_rejected", None]


def test_real_hh_rlhf_pair_made_identical_is_dropped():
    frame = _real("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 5)
    twin = frame.with_columns(pl.col("chosen").str.to_uppercase().alias("rejected"))
    assert set(_reasons(twin)) == {"chosen_equals_rejected"}


# --- length_bounds_v1 --------------------------------------------------------------------------


def test_length_bounds_in_chars_and_approximate_tokens():
    assert approx_tokens("") == 0
    assert approx_tokens("a" * 401) == 101
    config = QualityConfig(
        lengths={
            "reply": LengthBounds(min_chars=20, max_tokens=50),
            "prompt": LengthBounds(max_chars=30),
        }
    )
    frame = _frame(
        [
            _sft("Too short."),
            _sft("word " * 60),
            _sft(PROSE[:150]),
            _sft("A fine reply here.", prompt="p" * 31),
        ]
    )
    tagged = tag_quality(frame, config=config)
    assert tagged["quality_length_error"].to_list() == [
        "too_short:reply_chars",
        "too_long:reply_tokens",
        None,
        "too_long:prompt_chars",  # texts are checked in record order: the prompt comes first
    ]
    detail = json.loads(tagged["quality_detail"][1])
    assert (detail["rule"], detail["value"], detail["limit"]) == ("length_bounds_v1", 75, 50)


def test_prompt_length_bound_applies_to_user_turns():
    config = QualityConfig(lengths={"prompt": LengthBounds(max_chars=30)})
    assert _reasons(_frame([_sft(PROSE, prompt="p" * 31)]), config) == ["too_long:prompt_chars"]


def test_real_lima_answers_over_a_token_budget_are_dropped():
    frame = _real("lima/lima.json.gz", "sft", 200)
    config = QualityConfig(lengths={"reply": LengthBounds(max_tokens=1000)})
    replies = [m[-1]["content"] for m in frame["messages"].to_list()]
    expected = [("too_long:reply_tokens" if approx_tokens(r) > 1000 else None) for r in replies]
    assert _reasons(frame, config) == expected
    assert 0 < expected.count("too_long:reply_tokens") < len(expected)


# --- repetition_v1 -----------------------------------------------------------------------------


def test_degenerate_looping_reply_is_dropped_by_repetition_v1():
    loop = "I think the answer is yes. " * 40
    lines = "\n".join(["Step one: open the file."] * 6 + ["Then close it."])
    frame = _frame([_sft(loop), _sft(lines), _sft(PROSE)])
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_drop_rule"].to_list() == ["repetition_v1", "repetition_v1", None]
    assert tagged["quality_repetition_error"][1] == "dup_line_frac"


def test_repeated_code_lines_inside_fences_are_not_counted():
    code = "Example:\n```\n" + "print('x')\n" * 6 + "```\nThat prints x six times."
    assert repetition_reason(code, RepetitionLimits()) is None
    assert repetition_reason(code, RepetitionLimits(skip_code=False)) is not None


def test_real_hh_rlhf_reply_looped_is_dropped_while_the_original_passes():
    frame = _real("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 40)
    frame = frame.filter(pl.col("chosen").str.len_chars() > 200).head(5)
    assert _reasons(frame) == [None] * len(frame)
    looped = frame.with_columns(
        pl.concat_str([pl.col("chosen").str.slice(0, 120)] * 8, separator=" ").alias("chosen")
    )
    assert all(r is not None and r.startswith(("dup_", "top_")) for r in _reasons(looped))


def test_gopher_limits_are_stricter_than_the_defaults():
    text = ("The cat sat on the mat and looked at the door. " * 2) + PROSE
    assert repetition_reason(text, RepetitionLimits()) is None
    assert repetition_reason(text, RepetitionLimits.gopher()) is not None


# --- tool_call_v1 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', None),
        (
            '```tool_call\n{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}\n```',
            None,
        ),
        (
            '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}</tool_call>',
            None,
        ),
        (
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}</tool_call>',
            "tool_call_invalid_json",
        ),
        ('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}', "tool_call_unclosed"),
        ('<tool_call>{"tool": "get_weather"}</tool_call>', "tool_call_bad_shape"),
        ('<tool_call>{"name": "send_mail", "arguments": {}}</tool_call>', "tool_call_unknown_tool"),
        (
            '<tool_call>{"name": "get_weather", "arguments": {"days": 2}}</tool_call>',
            "tool_call_missing_argument",
        ),
        (
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": "2"}}</tool_call>',
            "tool_call_wrong_type",
        ),
        (
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "C"}}</tool_call>',
            "tool_call_unexpected_argument",
        ),
    ],
)
def test_tool_call_validation(reply, reason):
    assert tool_call_problem(reply, WEATHER) == reason


def test_tool_call_gate_drops_records_and_only_checks_shape_without_schemas():
    bad_json = _sft(
        'Calling: <tool_call>{"name": "get_weather", "arguments": {city: Oslo}}</tool_call>'
    )
    unknown = _sft('<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>')
    frame = _frame([bad_json, unknown, _sft(PROSE)])
    assert _reasons(frame, QualityConfig(tool_calls=WEATHER)) == [
        "tool_call_invalid_json",
        "tool_call_unknown_tool",
        None,
    ]
    assert _reasons(frame, QualityConfig(tool_calls={})) == ["tool_call_invalid_json", None, None]
    assert _reasons(frame, QualityConfig()) == [None, None, None]  # gate off by default


def test_real_codealpaca_json_answers_are_not_mistaken_for_tool_calls():
    frame = _real("codealpaca/code_alpaca_2k.json", "sft", 400)
    tagged = tag_quality(frame, config=QualityConfig(tool_calls=WEATHER))
    assert tagged["quality_tool_call_error"].null_count() == len(frame)


# --- refusal_v1 (a tag unless configured to drop) ----------------------------------------------


def test_refusal_is_tagged_not_dropped_by_default():
    frame = _frame(
        [
            _sft("As an AI language model, I do not have opinions."),
            _sft("I’m sorry, but I can’t help with that request."),
            _sft(PROSE),
        ]
    )
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_refusal"].to_list() == [True, True, False]
    assert tagged["quality_drop_rule"].to_list() == [None, None, None]
    dropping = tag_quality(frame, config=QualityConfig(drop_refusals=True))
    assert dropping["quality_drop_rule"].to_list() == ["refusal_v1", "refusal_v1", None]


def test_real_hh_rlhf_refusals_are_tagged():
    frame = _real("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 2400)
    tagged = tag_quality(frame, config=QualityConfig())
    refusing = tagged.filter(pl.col("quality_refusal"))
    assert 0 < len(refusing) < len(frame) * 0.05
    known = tagged.filter(pl.col("chosen").str.contains("(?i)I cannot help you with that"))
    assert len(known) > 0
    assert known["quality_refusal"].all()


# --- order and gate ----------------------------------------------------------------------------


def test_first_failing_gate_in_the_documented_order_names_the_drop():
    assert [rule for rule, _ in GATE_ORDER] == [
        "empty_reply_v1",
        "same_pair_v1",
        "tool_call_v1",
        "length_bounds_v1",
        "repetition_v1",
        "refusal_v1",
    ]
    record = _pair("ok", "OK")  # identical pair, and too short
    config = QualityConfig(lengths={"reply": LengthBounds(min_chars=10)})
    tagged = tag_quality(_frame([record]), config=config)
    assert tagged["quality_drop_rule"].to_list() == ["same_pair_v1"]
    assert tagged["quality_length_error"].to_list() == ["too_short:reply_chars"]


def test_apply_gate_moves_failures_to_the_ledger_with_rule_and_reason():
    frame = _frame([_sft(" "), _sft(PROSE)])
    kept, ledger = apply_gate(
        tag_quality(frame, config=QualityConfig()), stage="quality", prefix="quality"
    )
    assert kept["record_id"].to_list() == ["r1"]
    assert ledger.select("record_id", "stage", "rule_id", "reason").rows() == [
        ("r0", "quality", "empty_reply_v1", "empty_reply")
    ]
    assert json.loads(ledger["detail"][0])["field"] == "messages[1].content"


def test_refusal_prefilter_names_the_same_first_pattern():
    import re

    from pipeline.stages.quality.checks import any_of, find_refusal
    from pipeline.stages.quality.config import DEFAULT_REFUSAL_PATTERNS

    patterns = [re.compile(p, re.IGNORECASE) for p in DEFAULT_REFUSAL_PATTERNS]
    combined = any_of(patterns)
    assert combined is not None
    replies = [
        "Sure: 4.",
        "I'm sorry, but I cannot do that. As an AI language model I won't.",
        "I am just an AI and I can't help with that.",
        "",
    ]
    for reply in replies:
        texts = [("messages[1].content", "assistant", reply)]
        assert find_refusal(texts, patterns, combined) == find_refusal(texts, patterns)
    # a numbered back-reference would point at another alternative's group: no prefilter
    assert any_of([re.compile(r"(a)\1"), re.compile("b")]) is None
    assert any_of([re.compile("x", re.I), re.compile("y")]) is None  # flags differ


def test_repetition_reason_matches_the_plain_definition():
    """The fast paths give the plain definition's answer (tests/.../reference.py, c73e8a6)."""
    import random

    from pipeline.stages.quality.checks import repetition_reason
    from pipeline.stages.quality.config import RepetitionLimits
    from tests.pipeline.stages.quality.reference import repetition_reason as reference

    rng = random.Random(5)
    vocab = [
        "the",
        "a",
        "cat",
        "dog",
        "sat",
        "on",
        "mat",
        "hello",
        "world",
        "quick",
        "brown",
        "fox",
        "jumps",
    ]
    limits = RepetitionLimits(max_dup_line_frac=1.0, max_dup_line_char_frac=1.0, min_words=5)
    found = 0
    for _ in range(2000):
        size = rng.randint(2, len(vocab))
        text = " ".join(rng.choice(vocab[:size]) for _ in range(rng.randint(0, 80)))
        expected = reference(text, limits)
        assert repetition_reason(text, limits) == expected
        found += expected is not None
    assert 0 < found < 2000
