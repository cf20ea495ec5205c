"""Reports read only the manifest and ledger, and `explain` answers where a record went."""

from __future__ import annotations

import pytest

from pipeline.output.report import explain, summarize
from pipeline.output.splits import read_mixture


@pytest.fixture(scope="module")
def demo(demo_build):
    """The session's demo build (tests/conftest.py), read only."""
    return demo_build


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

    rid = read_mixture(demo.version_dir).get_column("record_id")[0]
    assert "in the mixture" in explain(demo.version_dir, rid)


def test_mixing_warnings_flag_a_share_that_moved_more_than_5_points():
    """Redistribution moved math from 25 % to 64 % of a mixture: a warning names the slice."""
    from pipeline.output.report import mixing_warnings

    manifest = {
        "slices": {
            "total": {"target": 100, "actual": 100},
            "sampling": [
                {"intent": "math", "difficulty": "multi_step", "quota": 25, "actual": 64},
                {"intent": "coding", "difficulty": "straightforward", "quota": 25, "actual": 22},
                {
                    "intent": "conversation",
                    "difficulty": "straightforward",
                    "quota": 50,
                    "actual": 14,
                },
            ],
        },
        "spec": {"parsed": {"sampling": {}}},
    }
    warnings = mixing_warnings(manifest)
    assert len(warnings) == 2
    assert warnings[0].startswith("slice math/multi_step is 64.0% of the mixture, declared 25.0%")
    assert "conversation/straightforward" in warnings[1]


def test_demo_report_says_the_synthetic_cap_binds(demo):
    """The demo's 0.3 cap is split by quota: slices reach their part, and the report says so."""
    text = summarize(demo.manifest, demo.version_dir)
    assert "warning: synthetic cap reached in" in text and "synthetic_max_share` 0.3" in text
