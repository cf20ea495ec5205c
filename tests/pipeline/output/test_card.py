"""Outputs trainers load directly: the card's configs load with HF `datasets`, in TRL's format."""

from __future__ import annotations

import os

import pytest
import yaml

from pipeline.output.splits import read_mixture
from tests.conftest import ROOT

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets", reason="`datasets` is a dev dependency: make venv")

ROLES = {"system", "user", "assistant"}


@pytest.fixture(scope="module")
def demo(demo_build):
    """The session's demo build (tests/conftest.py), read only."""
    return demo_build


def _load(version_dir, config, cache):
    return datasets.load_dataset(str(version_dir), config, split="train", cache_dir=str(cache))


def _is_message_list(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in ROLES
            and isinstance(m["content"], str)
            for m in value
        )
    )


def check_trl_conversational_preference(example: dict) -> None:
    """TRL's documented conversational preference type (dataset_formats: "Preference",
    conversational column): ``prompt`` is a list of messages (the conversation so far, ending
    with the user's turn); ``chosen`` and ``rejected`` are lists of assistant messages."""
    assert _is_message_list(example["prompt"]), example["prompt"]
    assert example["prompt"][-1]["role"] == "user"
    for column in ("chosen", "rejected"):
        assert _is_message_list(example[column]), example[column]
        assert [m["role"] for m in example[column]] == ["assistant"]
    assert example["chosen"] != example["rejected"]


def test_both_configs_load_with_the_right_row_counts(demo, tmp_path):
    """`load_dataset(version_dir, "sft" | "preference")` gives the mixture's rows by kind, and the
    ledger beside the data does not get in the way."""
    mixture = read_mixture(demo.version_dir)
    kinds = dict(mixture.group_by("kind").len().iter_rows())
    sft = _load(demo.version_dir, "sft", tmp_path)
    preference = _load(demo.version_dir, "preference", tmp_path)
    assert len(sft) == kinds.get("sft", 0) + kinds.get("synthetic", 0)
    assert len(preference) == kinds["preference"] > 0
    assert len(sft) + len(preference) == demo.manifest["slices"]["total"]["actual"]
    assert set(sft["kind"]) == {"sft", "synthetic"}  # synthetic is marked per row
    default = datasets.load_dataset(str(demo.version_dir), split="train", cache_dir=str(tmp_path))
    assert len(default) == len(sft)


def test_preference_rows_follow_trls_conversational_format_with_canonical_columns(demo, tmp_path):
    """Every preference row passes the schema check written from TRL's documented format, and
    keeps the canonical columns (id, source, labels, license, provenance)."""
    preference = _load(demo.version_dir, "preference", tmp_path)
    for example in preference:
        check_trl_conversational_preference(example)
    assert {
        "record_id",
        "source",
        "kind",
        "messages",
        "intent",
        "difficulty",
        "license",
        "provenance",
    } <= set(preference.column_names)
    first = preference[0]
    assert first["prompt"] == first["messages"]


def test_sft_rows_are_trl_conversational_language_modeling(demo, tmp_path):
    """SFT rows carry `messages` (TRL's conversational language-modeling column), ending with
    the assistant's reply."""
    sft = _load(demo.version_dir, "sft", tmp_path)
    for example in sft:
        assert (
            _is_message_list(example["messages"]) and example["messages"][-1]["role"] == "assistant"
        )


def test_card_header_declares_licenses_and_configs(demo):
    """DATACARD.md (and README.md, the same bytes) carry the Hub's YAML header."""
    card = (demo.version_dir / "DATACARD.md").read_text()
    assert (demo.version_dir / "README.md").read_text() == card
    header = yaml.safe_load(card.split("---")[1])
    assert {c["config_name"] for c in header["configs"]} == {"sft", "preference"}
    assert set(header["license"]) == {"apache-2.0", "cc-by-4.0", "mit"}
    for section in ("## Sources", "## Filters", "## Contamination", "## Reproduce", "demo_eval"):
        assert section in card
    assert f"Seed {demo.manifest['spec']['parsed']['seed']}" in card


def test_the_loading_example_in_docs_training_runs(demo, tmp_path, monkeypatch, capsys):
    """docs/training.md's `datasets` block runs as written, on a real version."""
    text = (ROOT / "docs" / "training.md").read_text()
    block = text.split("```python")[1].split("```")[0]
    block = block.replace('"out/demo/v0001"', repr(str(demo.version_dir)))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path))
    exec(compile(block, "docs/training.md", "exec"), {})
    assert capsys.readouterr().out.splitlines()[-1] == "user assistant"
