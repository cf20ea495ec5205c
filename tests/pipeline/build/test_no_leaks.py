"""A whole build never writes a detected PII value: not in data, ledger, manifest, run.json or logs."""

from __future__ import annotations

import logging

import polars as pl
import yaml

from pipeline.build.run import load, run_build
from pipeline.output.report import summarize
from pipeline.output.splits import read_mixture
from tests.conftest import ROOT

# Planted in data_samples/chat_messages.jsonl by data_samples/generate.py
PLANTED = ["jordan.miles@fastmail.com", "415-555-0199", "4111 1111 1111 1111", "4111111111111111"]


def _all_text(version_dir) -> str:
    chunks = []
    for path in sorted(version_dir.rglob("*")):
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            chunks.append(frame.write_ndjson())
        elif path.is_file():
            chunks.append(path.read_text(encoding="utf-8"))
    return "\n".join(chunks)


def _every_record_sampled_spec(tmp_path):
    """The chat source alone, one slice, total above supply: every pool record is in the mixture."""
    spec = {
        "name": "leaks",
        "seed": 1,
        "total": 10_000,
        "sources": [
            {
                "name": "chat",
                "kind": "sft",
                "license": "MIT",
                "path": str(ROOT / "data_samples" / "chat_messages.jsonl"),
                "intent": "conversation",
                "difficulty": "straightforward",
            }
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
    }
    path = tmp_path / "leaks.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_planted_values_are_in_the_input_but_in_no_output(tmp_path, caplog):
    source = (ROOT / "data_samples" / "chat_messages.jsonl").read_text(encoding="utf-8")
    assert all(value in source for value in PLANTED[:3])
    caplog.set_level(logging.DEBUG)
    result = run_build(load(_every_record_sampled_spec(tmp_path)), out_dir=tmp_path / "out")
    data = read_mixture(result.version_dir)
    assert (
        data.get_column("pii_redactions").sum() >= 2
    )  # the e-mail and phone record is in the mixture
    assert "<EMAIL_ADDRESS>" in data.write_ndjson()
    outputs = _all_text(result.version_dir) + summarize(result.manifest) + caplog.text
    for value in PLANTED:
        assert value not in outputs, value
    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    pii = ledger.filter(pl.col("stage") == "pii")
    assert pii.height == 1 and "CREDIT_CARD" in pii.get_column("detail")[0]
    assert result.manifest["counts"]["pii_redactions"]["pool_records"] == 1
