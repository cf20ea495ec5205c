"""Per-source PII overrides: validated like the top-level section, applied to that source only,
recorded in the manifest."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.build.pii_sources import merge_pii
from pipeline.build.run import load, run_build
from pipeline.errors import ConfigError
from pipeline.output.splits import read_mixture
from pipeline.stages.pii import PiiConfig


def test_override_merges_actions_by_entity_and_replaces_other_keys():
    merged = merge_pii(
        PiiConfig(score_threshold=0.5),
        {"actions": {"PHONE_NUMBER": "flag"}, "regions": ["DK"]},
        where="sources[1].pii",
    )
    assert merged.action_for("PHONE_NUMBER") == "flag"
    assert merged.action_for("CREDIT_CARD") == "drop"
    assert merged.regions == ("DK",)
    assert merged.score_threshold == 0.5


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        (
            {"actions": {"PHONE_NUMBER": "erase"}},
            r"`sources\[1\]\.pii\.actions\[PHONE_NUMBER\]`: .*drop, redact, flag.*'erase'",
        ),
        (
            {"treshold": 0.5},
            r"`sources\[1\]\.pii\.treshold`: unknown key; allowed: .*score_threshold",
        ),
        ({"regions": ["XX"]}, r"`sources\[1\]\.pii\.regions`: .*'XX'"),
        (["PHONE_NUMBER"], r"`sources\[1\]\.pii` must be a mapping"),
    ],
)
def test_override_is_validated_like_the_top_level_section(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        merge_pii(PiiConfig(), override, where="sources[1].pii")


def _chat(reply: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": "How do I reach you?"},
            {"role": "assistant", "content": reply},
        ]
    }


def test_a_source_can_flag_phone_numbers_instead_of_redacting_them(tmp_path):
    for name, reply in (
        ("maths", "Call the desk at (212) 555-0187."),
        ("chat", "Call the office at (646) 555-0143."),
    ):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(_chat(reply)) + "\n")
    spec = {
        "name": "override",
        "seed": 1,
        "total": 100,
        "sources": [
            {
                "name": name,
                "kind": "sft",
                "license": "MIT",
                "path": f"{name}.jsonl",
                "intent": "conversation",
                "difficulty": "straightforward",
            }
            for name in ("maths", "chat")
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
    }
    spec["sources"][0]["pii"] = {"actions": {"PHONE_NUMBER": "flag"}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_build(load(path), out_dir=tmp_path / "out")
    data = read_mixture(result.version_dir)
    replies = {r["source"]: r["messages"][-1]["content"] for r in data.to_dicts()}
    assert replies == {
        "maths": "Call the desk at (212) 555-0187.",
        "chat": "Call the office at <PHONE_NUMBER>.",
    }
    manifest = json.dumps(result.manifest)
    assert '"sources": {"maths": {' in manifest and '"PHONE_NUMBER": "flag"' in manifest
