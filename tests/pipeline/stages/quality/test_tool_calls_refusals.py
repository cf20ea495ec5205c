"""Quality gates: tool-call validation and refusal tags, on crafted and real replies."""

from __future__ import annotations

import re

import polars as pl
import pytest

from pipeline.stages.quality import QualityConfig, tag_quality, tool_call_problem
from tests.pipeline.stages.quality.records import (
    PROSE,
    WEATHER,
    real_frame,
    reasons,
    records_frame,
    sft,
)

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
    bad_json = sft(
        'Calling: <tool_call>{"name": "get_weather", "arguments": {city: Oslo}}</tool_call>'
    )
    unknown = sft('<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>')
    frame = records_frame([bad_json, unknown, sft(PROSE)])
    assert reasons(frame, QualityConfig(tool_calls=WEATHER)) == [
        "tool_call_invalid_json",
        "tool_call_unknown_tool",
        None,
    ]
    assert reasons(frame, QualityConfig(tool_calls={})) == ["tool_call_invalid_json", None, None]
    assert reasons(frame, QualityConfig()) == [None, None, None]  # gate off by default


def test_real_codealpaca_json_answers_are_not_mistaken_for_tool_calls():
    frame = real_frame("codealpaca/code_alpaca_2k.json", "sft", 400)
    tagged = tag_quality(frame, config=QualityConfig(tool_calls=WEATHER))
    assert tagged["quality_tool_call_error"].null_count() == len(frame)


# --- refusal_v1 (a tag unless configured to drop) ----------------------------------------------


def test_refusal_is_tagged_not_dropped_by_default():
    frame = records_frame(
        [
            sft("As an AI language model, I do not have opinions."),
            sft("I’m sorry, but I can’t help with that request."),
            sft(PROSE),
        ]
    )
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_refusal"].to_list() == [True, True, False]
    assert tagged["quality_drop_rule"].to_list() == [None, None, None]
    dropping = tag_quality(frame, config=QualityConfig(drop_refusals=True))
    assert dropping["quality_drop_rule"].to_list() == ["refusal_v1", "refusal_v1", None]


def test_real_hh_rlhf_refusals_are_tagged():
    frame = real_frame("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 2400)
    tagged = tag_quality(frame, config=QualityConfig())
    refusing = tagged.filter(pl.col("quality_refusal"))
    assert 0 < len(refusing) < len(frame) * 0.05
    known = tagged.filter(pl.col("chosen").str.contains("(?i)I cannot help you with that"))
    assert len(known) > 0
    assert known["quality_refusal"].all()


def test_refusal_prefilter_names_the_same_first_pattern():

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
