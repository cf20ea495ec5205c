"""Paths as written: a version built through a symlink rebuilds from a copy of the data elsewhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from pipeline.build.rebuild import rebuild_version
from pipeline.build.run import load, run_build
from pipeline.output.publish import read_manifest
from pipeline.output.report import find_record
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The demo spec in A/mixtures reads ../data, a symlink to the real files in store/."""
    tmp = tmp_path_factory.mktemp("portable")
    shutil.copytree(ROOT / "data_samples", tmp / "store" / "samples")
    (tmp / "A" / "mixtures").mkdir(parents=True)
    (tmp / "A" / "data").symlink_to(tmp / "store" / "samples", target_is_directory=True)
    spec = (ROOT / "mixtures" / "demo.yaml").read_text().replace("../data_samples/", "../data/")
    (tmp / "A" / "mixtures" / "demo.yaml").write_text(spec)
    result = run_build(load(tmp / "A" / "mixtures" / "demo.yaml"), out_dir=tmp / "out1")
    return tmp, result.version_dir


def test_paths_are_recorded_as_written_not_through_the_symlink(built):
    """The manifest, the ledger and provenance say ../data/…, never the symlink's target."""
    _, version = built
    manifest = read_manifest(version)
    assert {e["path"] for e in manifest["inputs"]} >= {
        "../data/sft_alpaca.jsonl",
        "../data/chat_messages.jsonl",
    }
    assert [h["path"] for h in manifest["holdouts"]] == ["../data/holdout_eval.jsonl"]
    assert "store" not in (version / "manifest.json").read_text()


def test_rebuild_with_data_root_from_another_directory_is_byte_identical(built, monkeypatch):
    """Copy the data to another root, delete the original, rebuild from a third directory."""
    tmp, version = built
    shutil.copytree(tmp / "store" / "samples", tmp / "B" / "elsewhere" / "data")
    shutil.rmtree(tmp / "store")
    (tmp / "C").mkdir()
    monkeypatch.chdir(tmp / "C")
    again = rebuild_version(version, out_dir=tmp / "out2", data_root=tmp / "B" / "elsewhere")
    assert _tree(again.version_dir) == _tree(version)


def test_why_accepts_any_spelling_of_the_path(built, capsys):
    """As written, normalized, through the copy (same sha256): all find the record; exit 0."""
    tmp, version = built
    copy = tmp / "B" / "elsewhere" / "data" / "sft_alpaca.jsonl"
    if not copy.exists():  # this test may run alone
        shutil.copytree(ROOT / "data_samples", copy.parent, dirs_exist_ok=True)
    for spelled in ("../data/sft_alpaca.jsonl", "../data/./sft_alpaca.jsonl", str(copy)):
        found = find_record(version, f"{spelled}:7")
        assert found.found, spelled
        assert found.text.startswith("dropped at ingest by read_v2: malformed_json"), spelled
    assert main(["why", str(version), f"{copy}:7"]) == 0


def test_why_exits_1_when_nothing_matches(built, capsys):
    """An id or FILE:ROW that names no record is exit 1, not a silent 0."""
    _, version = built
    assert main(["why", str(version), "ffffffffffffffff"]) == 1
    assert "no input record" in capsys.readouterr().out
    assert main(["why", str(version), "../data/nope.jsonl:3"]) == 1
