"""Quality gates: configuration errors, real records passing, empty replies, identical pairs, the gate order."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.errors import ConfigError
from pipeline.stages.gate import apply_gate
from pipeline.stages.quality import (
    GATE_ORDER,
    LengthBounds,
    QualityConfig,
    RepetitionLimits,
    tag_quality,
)
from tests.pipeline.stages.quality.records import (
    PROSE,
    pair,
    real_frame,
    reasons,
    records_frame,
    sft,
)

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
    frame = real_frame(path, kind, 400)
    dropped = sum(r is not None for r in reasons(frame))
    assert len(frame) > 300
    assert dropped / len(frame) < 0.02


# --- empty_reply_v1 ----------------------------------------------------------------------------


def test_empty_or_whitespace_reply_is_dropped_by_empty_reply_v1():
    frame = records_frame([sft(" \n\t "), sft(""), sft(PROSE), pair("", "A full answer.")])
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
    tagged = tag_quality(records_frame([sft(" ")]), config=QualityConfig(empty_reply=False))
    assert tagged["quality_empty_reply"].to_list() == [None]
    assert tagged["quality_drop_rule"].to_list() == [None]


# --- same_pair_v1 ------------------------------------------------------------------------------


def test_pair_equal_after_normalization_is_dropped_by_same_pair_v1():
    frame = records_frame(
        [pair("Paris is the  capital.", "paris is the capital.\n"), pair("Paris.", "Lyon.")]
    )
    tagged = tag_quality(frame, config=QualityConfig())
    assert tagged["quality_same_pair"].to_list() == [True, False]
    assert tagged["quality_drop_reason"].to_list() == ["chosen_equals_rejected", None]


def test_real_hh_rlhf_pair_made_identical_is_dropped():
    frame = real_frame("hh_rlhf/harmless-base_test.jsonl.gz", "preference", 5)
    twin = frame.with_columns(pl.col("chosen").str.to_uppercase().alias("rejected"))
    assert set(reasons(twin)) == {"chosen_equals_rejected"}


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
    record = pair("ok", "OK")  # identical pair, and too short
    config = QualityConfig(lengths={"reply": LengthBounds(min_chars=10)})
    tagged = tag_quality(records_frame([record]), config=config)
    assert tagged["quality_drop_rule"].to_list() == ["same_pair_v1"]
    assert tagged["quality_length_error"].to_list() == ["too_short:reply_chars"]


def test_apply_gate_moves_failures_to_the_ledger_with_rule_and_reason():
    frame = records_frame([sft(" "), sft(PROSE)])
    kept, ledger = apply_gate(
        tag_quality(frame, config=QualityConfig()), stage="quality", prefix="quality"
    )
    assert kept["record_id"].to_list() == ["r1"]
    assert ledger.select("record_id", "stage", "rule_id", "reason").rows() == [
        ("r0", "quality", "empty_reply_v1", "empty_reply")
    ]
    assert json.loads(ledger["detail"][0])["field"] == "messages[1].content"
