"""Issue 11: rebuild refuses an input set that differs from the recorded one, naming the file."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline.build.rebuild import rebuild_version
from pipeline.build.run import load, run_build
from pipeline.errors import InputChangedError


def _records(n: int, tag: str) -> str:
    return "".join(
        json.dumps(
            {
                "prompt": f"{tag} question {i} about rivers",
                "response": f"{tag} answer {i} about lakes",
            }
        )
        + "\n"
        for i in range(n)
    )


def test_rebuild_refuses_a_glob_that_now_matches_another_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text(_records(5, "a"))
    spec = {
        "name": "globbed",
        "seed": 1,
        "total": 3,
        "sources": [
            {
                "name": "s",
                "kind": "sft",
                "path": "data/*.jsonl",
                "license": "MIT",
                "intent": "conversation",
                "difficulty": "straightforward",
            }
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
    }
    path = tmp_path / "globbed.yaml"
    path.write_text(yaml.safe_dump(spec))
    built = run_build(load(path), out_dir=tmp_path / "out")
    again = rebuild_version(built.version_dir, out_dir=tmp_path / "again")
    assert (again.version_dir / "manifest.json").read_bytes() == (
        built.version_dir / "manifest.json"
    ).read_bytes()
    (data / "b.jsonl").write_text(_records(2, "b"))
    with pytest.raises(InputChangedError, match=r"source `s`: .*1 added: data/b.jsonl; 0 missing"):
        rebuild_version(built.version_dir, out_dir=tmp_path / "third")
