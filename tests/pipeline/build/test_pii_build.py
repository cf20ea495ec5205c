"""Whole builds with the default PII screen: planted secrets are dropped and never written, and
redaction does not make distinct records duplicates."""

from __future__ import annotations

import json
import logging

import polars as pl
import yaml

from pipeline.build.run import load, run_build
from pipeline.output.report import summarize
from pipeline.output.splits import read_mixture
from tests.pipeline.build.test_no_leaks import _all_text
from tests.pipeline.stages.pii.secret_cases import planted_cases

FILLER = [
    "Explain how a hash map handles collisions.",
    "Write a haiku about autumn rain.",
    "What is the capital of Portugal?",
    "Summarise the plot of Hamlet in two sentences.",
]


def _spec(tmp_path, rows: list[dict]) -> object:
    data = tmp_path / "src.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {
        "name": "pii",
        "seed": 1,
        "total": 10_000,
        "sources": [
            {
                "name": "src",
                "kind": "sft",
                "license": "MIT",
                "path": str(data),
                "intent": "conversation",
                "difficulty": "straightforward",
            }
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load(path)


def _chat(user: str, reply: str) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    }


def test_default_build_drops_every_planted_secret_and_writes_none(tmp_path, caplog):
    cases = planted_cases()
    rows = [
        _chat(f"Why does this fail? (case {i})\n\n{text}", "Check the configuration.")
        for i, (_, text, _) in enumerate(cases)
    ]
    rows += [_chat(q, "Here is an answer.") for q in FILLER]
    caplog.set_level(logging.DEBUG)
    result = run_build(_spec(tmp_path, rows), out_dir=tmp_path / "out")
    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    pii = ledger.filter(pl.col("stage") == "pii")
    assert sorted(pii.get_column("row").to_list()) == list(range(len(cases)))
    assert all(r.startswith("pii:") for r in pii.get_column("reason").to_list())
    data = read_mixture(result.version_dir)
    assert data.height == len(FILLER)
    outputs = _all_text(result.version_dir) + summarize(result.manifest) + caplog.text
    for kind, _, secret in cases:
        for piece in {secret, *secret.splitlines()[1:2]}:  # a PEM key: also its first body line
            assert piece not in outputs, kind


def test_records_differing_only_in_a_redacted_number_both_survive(tmp_path):
    """Before redaction the two replies share no word 5-gram (not near duplicates); after
    it they are identical. Both exact and near dedup look at the text before redaction."""
    template = "Call {} for the desk or {} for the spa."
    rows = [
        _chat("Numbers?", template.format("(212) 555-0187", "(212) 555-0199")),
        _chat("Numbers?", template.format("(646) 555-0143", "(718) 555-0121")),
        _chat("What is 2 + 2?", "4"),
        _chat("What is 2 + 2?", "4"),  # a true duplicate: still dropped
    ]
    result = run_build(_spec(tmp_path, rows), out_dir=tmp_path / "out")
    data = read_mixture(result.version_dir)
    replies = sorted(m[-1]["content"] for m in data.get_column("messages").to_list())
    assert replies.count(template.format("<PHONE_NUMBER>", "<PHONE_NUMBER>")) == 2
    assert replies.count("4") == 1
    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    assert ledger.filter(pl.col("stage") == "exact_dedup").height == 1
