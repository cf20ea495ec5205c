"""Reports read only the manifest and ledger, and `explain` answers where a record went."""

from __future__ import annotations

import pytest
from tests.conftest import ROOT

from pipeline.output.splits import read_mixture
from pipeline.build.run import load, run_build
from pipeline.output.report import explain, summarize


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_build(load(ROOT / "mixtures" / "demo.yaml"), out_dir=tmp_path_factory.mktemp("rep"))


def test_summary_lists_drops_shift_and_sampling(demo):
    text = summarize(demo.manifest)
    assert "license_unknown=25" in text
    assert "Slice supply after each stage:" in text
    assert f"total: {demo.manifest['slices']['total']['actual']} of" in text


def test_explain_by_file_row_names_stage_and_reason(demo):
    text = explain(demo.version_dir, "../data_samples/sft_alpaca.jsonl:7")
    assert text.startswith("dropped at ingest by read_v2: malformed_json")


def test_explain_exact_duplicate_names_the_keeper(demo):
    text = explain(demo.version_dir, "../data_samples/chat_messages.jsonl:121")
    assert "exact_dedup" in text and "dup_of=" in text


def test_explain_a_sampled_record(demo):
    import polars as pl

    rid = read_mixture(demo.version_dir).get_column("record_id")[0]
    assert "in the mixture" in explain(demo.version_dir, rid)
