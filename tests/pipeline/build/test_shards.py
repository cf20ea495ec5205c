"""Large files run as row-range shards; the output never depends on the shard size."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from pipeline.build.config import build_config
from pipeline.build.plan import FileTask, estimated_rows, largest_first, shard_file
from pipeline.build.run import load, run_build
from pipeline.build.shards import merge_outcomes, process_file, sort_ledger
from pipeline.errors import ConfigError, InternalError
from pipeline.io.counting import count_rows
from pipeline.io.files import file_sha256
from pipeline.spec import SourceSpec
from tests.conftest import ROOT, SHARED

HH = SHARED / "hh_rlhf" / "harmless-base_test.jsonl.gz"
HH_SOURCE = SourceSpec(
    name="hh",
    kind="preference",
    path=str(HH),
    license="MIT",
    intent="conversation",
    difficulty="straightforward",
)


def _task(path: Path, source: SourceSpec = HH_SOURCE) -> FileTask:
    return FileTask(source, path, path.parent, file_sha256(path))


def _outputs(version_dir: Path) -> dict[str, bytes]:
    paths = [
        *sorted((version_dir / "data").rglob("*.parquet")),
        version_dir / "ledger.parquet",
        version_dir / "manifest.json",
    ]
    return {p.relative_to(version_dir).as_posix(): p.read_bytes() for p in paths}


def test_shard_file_cuts_half_open_row_ranges_with_an_open_last_one(tmp_path):
    path = tmp_path / "twenty.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": f"q{i}", "response": "a"}) + "\n" for i in range(20))
    )
    shards = shard_file(_task(path), shard_rows=7)
    assert [s.rows for s in shards] == [(0, 7), (7, 14), (14, None)]
    assert shard_file(_task(path), shard_rows=100) == [replace(_task(path), counted=20)]


def test_json_arrays_are_read_whole_and_never_sharded(tmp_path):
    path = tmp_path / "array.json"
    path.write_text(json.dumps([{"prompt": f"q{i}", "response": "a"} for i in range(30)]))
    assert count_rows(path) == (None, None)
    assert [s.rows for s in shard_file(_task(path), shard_rows=2)] == [None]


def test_row_slots_of_parquet_and_gzipped_jsonl_bound_every_row(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"prompt": ["a", "b", "c"], "response": ["x", "y", "z"]}).write_parquet(path)
    assert count_rows(path) == (3, 3)
    with gzip.open(HH, "rb") as fh:
        lines = fh.read().count(b"\n")
    assert count_rows(HH).slots >= lines


def test_shards_of_a_real_file_merge_into_exactly_the_whole_file_outcome():
    loaded = load(ROOT / "mixtures" / "demo.yaml")
    config = build_config(loaded.spec, base_dir=loaded.base_dir)
    whole = process_file(_task(HH), config=config)
    shards = shard_file(_task(HH), shard_rows=500)
    merged = merge_outcomes([process_file(s, config=config) for s in shards])
    assert len(shards) > 3
    assert merged.records.equals(whole.records)
    assert sort_ledger(merged.ledger).equals(
        sort_ledger(whole.ledger)
    )  # same rows; order is fixed at write
    assert merged.file == whole.file and merged.supply == whole.supply


def test_a_sharded_file_of_blank_lines_is_reported_empty_once(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text("\n" * 30)
    loaded = load(ROOT / "mixtures" / "demo.yaml")
    config = build_config(loaded.spec, base_dir=loaded.base_dir)
    source = HH_SOURCE.model_copy(update={"path": str(path)})
    merged = merge_outcomes(
        [process_file(s, config=config) for s in shard_file(_task(path, source), shard_rows=7)]
    )
    whole = process_file(_task(path, source), config=config)
    assert merged.ledger.equals(whole.ledger)
    assert merged.ledger.get_column("reason").to_list() == ["empty_file"]


def test_shard_size_7_and_the_default_give_byte_identical_versions(tmp_path):
    loaded = load(ROOT / "mixtures" / "demo.yaml")
    default = run_build(loaded, out_dir=tmp_path / "default")
    sharded = run_build(loaded, out_dir=tmp_path / "sharded", shard_rows=7)
    assert _outputs(sharded.version_dir) == _outputs(default.version_dir)
    inputs = json.loads((sharded.version_dir / "manifest.json").read_text())["inputs"]
    assert len(inputs) == len(loaded.spec.sources)  # one entry per file, not per shard


def test_shard_rows_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="`shard_rows`.*0"):
        shard_file(_task(HH), shard_rows=0)
    with pytest.raises(InternalError, match="`rows`"):
        FileTask(HH_SOURCE, HH, HH.parent, "0" * 64, rows=(5, 5))


def test_shards_are_submitted_largest_first_and_come_back_in_shard_order():
    task = replace(_task(HH), counted=25)
    shards = [replace(task, rows=r) for r in ((0, 10), (10, 20), (20, None))]
    whole = replace(task, path=HH.with_name("other.jsonl"), counted=12)
    assert largest_first([*shards, whole]) == [3, 0, 1, 2]  # 12 rows, then 10, 10, 5
    assert largest_first([*shards, whole], cached=[False, False, False, True]) == [0, 1, 2, 3]
    assert [estimated_rows(t) for t in shards] == [10, 10, 5]


class _RecordingRunner:
    """Serial; remembers the order the shard jobs were submitted in."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def call(self, name, fn, /, *args, **kwargs):
        return fn(*args, **kwargs)

    def map(self, name, fn, items, /, **kwargs):
        if name == "process_file":
            self.seen = [item.index for item in items]
        return [fn(item, **kwargs) for item in items]


def test_submission_order_never_changes_the_version(tmp_path):
    loaded = load(ROOT / "mixtures" / "demo.yaml")
    default = run_build(loaded, out_dir=tmp_path / "default", shard_rows=7)
    runner = _RecordingRunner()
    reordered = run_build(loaded, out_dir=tmp_path / "reordered", shard_rows=7, runner=runner)
    assert runner.seen != sorted(runner.seen)  # some shard was submitted out of shard order
    assert _outputs(reordered.version_dir) == _outputs(default.version_dir)
