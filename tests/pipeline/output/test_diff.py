"""`mixgate diff`: two versions that differ by one source file."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from flows.cli import main
from pipeline.build.run import load, run_build
from pipeline.output.splits import read_mixture
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """v0001 from the demo inputs; v0002 after the first 30 lines of chat_messages.jsonl go."""
    tmp = tmp_path_factory.mktemp("diff")
    shutil.copytree(ROOT / "mixtures", tmp / "mixtures")
    shutil.copytree(ROOT / "data_samples", tmp / "data_samples")
    spec = load(tmp / "mixtures" / "demo.yaml")
    first = run_build(spec, out_dir=tmp / "out")
    chat = tmp / "data_samples" / "chat_messages.jsonl"
    chat.write_text("".join(chat.read_text().splitlines(keepends=True)[30:]))
    second = run_build(load(tmp / "mixtures" / "demo.yaml"), out_dir=tmp / "out")
    return first.version_dir, second.version_dir


def _slices(frame: pl.DataFrame) -> dict[str, int]:
    sliced = frame.select(pl.concat_str("intent", "difficulty", separator="/").alias("s"))
    return dict(sliced.group_by("s").len().iter_rows())


def test_diff_names_the_changed_file_and_the_records_per_slice(two_versions, capsys):
    """The JSON names exactly the one changed input file, and the distinct records added and
    removed per source and per slice, as set differences of the two versions' data."""
    v1, v2 = two_versions
    assert main(["diff", str(v1), str(v2), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert [(i["source"], i["path"], i["status"]) for i in result["inputs"]] == [
        ("tutor_chat", "../data_samples/chat_messages.jsonl", "changed")
    ]
    a = read_mixture(v1).unique("record_id")
    b = read_mixture(v2).unique("record_id")
    added = b.join(a.select("record_id"), on="record_id", how="anti")
    removed = a.join(b.select("record_id"), on="record_id", how="anti")
    assert removed.height > 0
    assert result["records"]["added"] == added.height
    assert result["records"]["removed"] == removed.height
    assert result["records"]["added_by_slice"] == _slices(added)
    assert result["records"]["removed_by_slice"] == _slices(removed)
    assert result["spec"] == [] and result["identical"] is False


def test_diff_text_and_identical_versions(two_versions, capsys):
    """The text form names the file and a per-slice line; a version against itself is exit 0."""
    v1, v2 = two_versions
    assert main(["diff", str(v1), str(v2)]) == 1
    text = capsys.readouterr().out
    assert "changed  tutor_chat: ../data_samples/chat_messages.jsonl" in text
    assert "  slice " in text and "records: +" in text
    assert main(["diff", str(v1), str(v1)]) == 0
    assert "no differences" in capsys.readouterr().out
