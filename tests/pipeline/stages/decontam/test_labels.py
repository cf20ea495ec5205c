"""Precision and recall at the defaults on hand-labelled real pairs (tests/data/decontam_labels).

The oracle is the labels file: every pair that the old or the new code (or a threshold-0.30
exploration) reported was read and labelled true or false; see its README.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.stages.decontam.match import DecontamConfig
from pipeline.tools.audit import audit_files
from tests.conftest import ROOT, SHARED

LABELS = ROOT / "tests" / "data" / "decontam_labels" / "labels.jsonl"
HOLDOUTS = (
    "fastchat_bench/mt_bench_question.jsonl",
    "fastchat_bench/vicuna_bench_question.jsonl",
    "self_instruct/user_oriented_instructions.jsonl",
    "humaneval/HumanEval.jsonl.gz",
    "gsm8k/test.jsonl",
)
DATA = (
    "lima/lima.json.gz",
    "codealpaca/code_alpaca_2k.json",
    "hh_rlhf/harmless-base_test.jsonl.gz",
    "alpaca_eval/gpt4_model_outputs.json.gz",
    "gsm8k/train.jsonl.gz",
)

Pair = tuple[str, int, int | None, str, int]


def _rel(path: str) -> str:
    return Path(path).relative_to(SHARED).as_posix()


@pytest.fixture(scope="module")
def labels() -> dict[Pair, bool]:
    rows = [json.loads(line) for line in LABELS.open(encoding="utf-8")]
    return {
        (r["holdout"], r["holdout_row"], r["turn"], r["data"], r["data_row"]): r["label"]
        for r in rows
    }


@pytest.fixture(scope="module")
def found() -> set[Pair]:
    report = audit_files(
        [SHARED / d for d in DATA], [SHARED / h for h in HOLDOUTS], config=DecontamConfig()
    )
    return {
        (
            _rel(f["holdout_file"]),
            f["holdout_row"],
            f["holdout_turn"],
            _rel(f["data_file"]),
            f["data_row"],
        )
        for f in report.findings
    }


def test_every_finding_at_the_defaults_is_labelled(labels, found):
    assert found - labels.keys() == set()


def test_precision_and_recall_at_the_defaults_are_at_least_098(labels, found):
    positives = {pair for pair, label in labels.items() if label}
    true_found = found & positives
    precision = len(true_found) / len(found)
    recall = len(true_found) / len(positives)
    assert precision >= 0.98, (precision, sorted(found - positives))
    assert recall >= 0.98, (recall, sorted(positives - found))


def test_known_overlaps_are_all_found_with_no_field_named(found):
    def items(holdout: str) -> set[tuple[int, int | None]]:
        return {(p[1], p[2]) for p in found if p[0] == holdout and p[3].startswith("alpaca_eval")}

    assert len(items("self_instruct/user_oriented_instructions.jsonl")) == 252
    assert len(items("fastchat_bench/vicuna_bench_question.jsonl")) == 80
    # MT-Bench first turns that are also Vicuna questions (AlpacaEval rows 801 and 791)
    assert items("fastchat_bench/mt_bench_question.jsonl") == {(0, 0), (49, 0)}
