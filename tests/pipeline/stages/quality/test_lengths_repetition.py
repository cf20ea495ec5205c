"""Quality gates: length bounds and repetition, on crafted and real replies."""

from __future__ import annotations

import json
import random

import polars as pl

from pipeline.stages.quality import (
    LengthBounds,
    QualityConfig,
    RepetitionLimits,
    approx_tokens,
    repetition_reason,
    tag_quality,
)
from tests.pipeline.stages.quality.records import PROSE, real_frame, reasons, records_frame, sft

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
    frame = records_frame(
        [
            sft("Too short."),
            sft("word " * 60),
            sft(PROSE[:150]),
            sft("A fine reply here.", prompt="p" * 31),
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
    assert reasons(records_frame([sft(PROSE, prompt="p" * 31)]), config) == [
        "too_long:prompt_chars"
    ]


def test_real_lima_answers_over_a_token_budget_are_dropped():
    frame = real_frame("lima/lima.json.gz", "sft", 200)
    config = QualityConfig(lengths={"reply": LengthBounds(max_tokens=1000)})
    replies = [m[-1]["content"] for m in frame["messages"].to_list()]
    expected = [("too_long:reply_tokens" if approx_tokens(r) > 1000 else None) for r in replies]
    assert reasons(frame, config) == expected
    assert 0 < expected.count("too_long:reply_tokens") < len(expected)


# --- repetition_v1 -----------------------------------------------------------------------------


def test_degenerate_looping_reply_is_dropped_by_repetition_v1():
    loop = "I think the answer is yes. " * 40
    lines = "\n".join(["Step one: open the file."] * 6 + ["Then close it."])
    frame = records_frame([sft(loop), sft(lines), sft(PROSE)])
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_drop_rule"].to_list() == ["repetition_v1", "repetition_v1", None]
    assert tagged["quality_repetition_error"][1] == "dup_line_frac"


def test_repeated_code_lines_inside_fences_are_not_counted():
    code = "Example:\n```\n" + "print('x')\n" * 6 + "```\nThat prints x six times."
    assert repetition_reason(code, RepetitionLimits()) is None
    assert repetition_reason(code, RepetitionLimits(skip_code=False)) is not None


def test_real_hh_rlhf_reply_looped_is_dropped_while_the_original_passes():
    frame = real_frame("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 40)
    frame = frame.filter(pl.col("chosen").str.len_chars() > 200).head(5)
    assert reasons(frame) == [None] * len(frame)
    looped = frame.with_columns(
        pl.concat_str([pl.col("chosen").str.slice(0, 120)] * 8, separator=" ").alias("chosen")
    )
    assert all(r is not None and r.startswith(("dup_", "top_")) for r in reasons(looped))


def test_gopher_limits_are_stricter_than_the_defaults():
    text = ("The cat sat on the mat and looked at the door. " * 2) + PROSE
    assert repetition_reason(text, RepetitionLimits()) is None
    assert repetition_reason(text, RepetitionLimits.gopher()) is not None


def test_repetition_reason_matches_the_plain_definition():
    """The fast paths give the plain definition's answer (tests/.../reference.py, c73e8a6)."""

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
