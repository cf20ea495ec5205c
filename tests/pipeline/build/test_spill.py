"""Spilled shards: near dedup over shards equals in memory, sampled rows read back, no leftovers."""

from __future__ import annotations

import pickle
import random

import numpy as np
import polars as pl

from pipeline.build.pool_dedup import ShardFile, tag_near_spilled
from pipeline.build.run import load, run_build
from pipeline.build.runner import SerialRunner
from pipeline.build.spill import (
    SpillRef,
    gather_records,
    load_shingles,
    narrow_frame,
    read_npz,
    shingle_shard,
    take_rows,
)
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.dedup.near import NearDedupConfig, tag_near_duplicates
from pipeline.stages.dedup.shingles import ShingleSets
from pipeline.stages.dedup.sketch import SketchConfig, count_hashes, estimate_counts
from tests.conftest import ROOT

CONFIG = NearDedupConfig(threshold=0.7)
WORDS = [f"w{i}" for i in range(400)]


def _records(texts: list[str]) -> pl.DataFrame:
    rows = [
        {
            "record_id": f"r{i:05d}",
            "source": "s",
            "kind": "sft",
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": t}],
            "chosen": None,
            "rejected": None,
            "intent": "coding",
            "difficulty": "straightforward",
            "license": "MIT",
            "generator": None,
            "provenance": {"source": "s", "file": "f.jsonl", "file_sha256": "0", "row": i},
        }
        for i, t in enumerate(texts)
    ]
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def _texts() -> list[str]:
    rng = random.Random(5)
    template = " ".join(rng.choices(WORDS, k=40))  # shared by every record: the guard drops it
    bodies = [" ".join(rng.choices(WORDS, k=40)) for _ in range(300)]
    texts = [f"{template} {b}" for b in bodies]
    for i in range(0, 300, 10):  # 30 near copies, one word changed
        words = bodies[i].split()
        words[rng.randrange(len(words))] = "changed"
        texts.append(f"{template} {' '.join(words)}")
    return texts


def _spill(records: pl.DataFrame, tmp_path, shards: int) -> tuple[pl.DataFrame, list[SpillRef]]:
    narrows, spills = [], []
    for k, part in enumerate(np.array_split(np.arange(records.height), shards)):
        frame = records[part]
        path = tmp_path / f"s{k}.parquet"
        frame.write_parquet(path)
        sizes = shingle_shard(frame, config=CONFIG, path=tmp_path / f"s{k}.npz")
        narrows.append(
            narrow_frame(frame, shard=k).with_columns(
                pl.Series("near_shingles", sizes, dtype=pl.UInt32)
            )
        )
        spills.append(
            SpillRef(path, tmp_path / f"s{k}.npz", frame.height, tuple(frame.schema.items()))
        )
    return pl.concat(narrows), spills


def _dropped(frame: pl.DataFrame) -> dict[str, tuple[str, float]]:
    rows = frame.filter(pl.col("near_dup_of").is_not_null())
    return {
        r: (d, s) for r, d, s in rows.select("record_id", "near_dup_of", "near_score").iter_rows()
    }


def _in_memory_and_spilled(tmp_path, *, seed: int, shards: int, run_map):
    """Near dedup of the planted texts in memory and over `shards` spilled shards."""
    rng = random.Random(seed)
    records = _records(_texts())
    ranks = pl.Series(
        "dedup_keeper_rank", rng.sample(range(records.height), records.height), dtype=pl.UInt32
    )
    whole = tag_near_duplicates(records.with_columns(ranks), config=CONFIG)
    narrow, spills = _spill(records, tmp_path, shards=shards)
    spilled = tag_near_spilled(
        narrow.with_columns(ranks), spills=spills, config=CONFIG, work_dir=tmp_path, run_map=run_map
    )
    return whole, spilled


def test_near_dedup_over_spilled_shards_equals_the_in_memory_result(tmp_path):
    whole, spilled = _in_memory_and_spilled(tmp_path, seed=6, shards=3, run_map=SerialRunner().map)
    assert len(_dropped(whole)) == 30  # the planted copies, and not the shared template
    assert _dropped(spilled) == _dropped(whole)


def test_the_sketch_pass_runs_one_task_per_worker_whatever_the_number_of_shards(tmp_path):
    # a sketch has 4 * 2**width_bits counters however small the shard (1 GiB at 10 M records):
    # one per shard filled the disk of a 10 M build, so the pass keeps one per worker
    calls: dict[str, int] = {}

    def counting_map(name, fn, items, /, **kwargs):
        calls[name] = len(items)
        return SerialRunner().map(name, fn, items, **kwargs)

    whole, spilled = _in_memory_and_spilled(tmp_path, seed=7, shards=5, run_map=counting_map)
    assert calls["near_sketch"] == 2
    assert _dropped(spilled) == _dropped(whole)
    assert not list(tmp_path.glob("*.sketch.npy"))


def test_near_tasks_get_their_rows_by_file_not_in_the_task_graph(tmp_path):
    # at 10 M records the rows made each pass's Dask graph 37 MiB ("Sending large graph")
    shipped: list[int] = []

    def pickling_map(name, fn, items, /, **kwargs):
        assert all(isinstance(job, ShardFile) for group in items for job in group)
        shipped.append(len(pickle.dumps(items)))
        return SerialRunner().map(name, fn, items, **kwargs)

    whole, spilled = _in_memory_and_spilled(tmp_path, seed=8, shards=3, run_map=pickling_map)
    assert _dropped(spilled) == _dropped(whole)
    assert len(shipped) == 2 and max(shipped) < 4000  # ~1 KiB a shard, whatever its rows


def test_gather_reads_the_sampled_rows_back_in_sampled_order(tmp_path):
    records = _records([f"text number {i}" for i in range(50)])
    narrow, spills = _spill(records, tmp_path, shards=4)
    picked = narrow[[41, 3, 17, 3, 0]].with_columns(
        pl.Series("sample_repeat", [0, 0, 0, 1, 0], dtype=pl.UInt32)
    )
    full = gather_records(picked, spills=spills)
    assert full.get_column("record_id").to_list() == [
        "r00041",
        "r00003",
        "r00017",
        "r00003",
        "r00000",
    ]
    assert full.drop("sample_repeat").select(records.columns).equals(records[[41, 3, 17, 3, 0]])
    assert full.get_column("sample_repeat").to_list() == [0, 0, 0, 1, 0]


def test_gather_of_some_columns_equals_those_columns_of_the_full_gather(tmp_path):
    records = _records([f"text number {i}" for i in range(50)])
    narrow, spills = _spill(records, tmp_path, shards=4)
    picked = narrow[[41, 3, 17, 3, 0]].with_columns(
        pl.Series("sample_repeat", [0, 0, 0, 1, 0], dtype=pl.UInt32)
    )
    wanted = ["record_id", "messages", "provenance", "no_such_column"]
    some = gather_records(picked, spills=spills, columns=wanted)
    full = gather_records(picked, spills=spills)
    kept = ["record_id", "messages", "provenance", "sample_repeat"]
    assert some.select(kept).equals(full.select(kept))
    assert "generator" in full.columns and "generator" not in some.columns  # never decoded
    assert take_rows(spills[0].records, np.array([1, 2]), columns=["messages"]).columns == [
        "messages"
    ]


def test_take_rows_reads_batch_by_batch_and_equals_indexing(tmp_path):
    records = _records([f"text number {i}" for i in range(50)])
    path = tmp_path / "records.parquet"
    records.write_parquet(path)
    rows = np.array([0, 6, 7, 7, 13, 14, 49])  # batch edges of 7 rows, a repeat, the last row
    taken = take_rows(path, rows, batch_rows=7)
    assert taken.equals(records[rows.tolist()])
    assert take_rows(path, np.array([], dtype=np.int64)).schema == records.schema


def test_count_min_sketch_never_undercounts_and_adds_up_across_shards():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 1 << 52, size=5000, dtype=np.uint64)
    stream = np.concatenate([hashes, hashes[:100], hashes[:10]])
    config = SketchConfig(width_bits=10)  # tiny: many collisions
    whole = count_hashes(stream, config=config)
    halves = count_hashes(stream[:2000], config=config) + count_hashes(stream[2000:], config=config)
    assert np.array_equal(whole, halves)
    into = count_hashes(stream[:2000], config=config)
    assert count_hashes(stream[2000:], config=config, out=into) is into
    assert np.array_equal(into, whole)
    values, counts = np.unique(stream, return_counts=True)
    assert (estimate_counts(whole, values, config=config) >= counts).all()


def test_a_build_leaves_no_spill_directory_behind(tmp_path):
    result = run_build(load(ROOT / "mixtures" / "demo.yaml"), out_dir=tmp_path)
    leftovers = [
        p.name
        for p in result.version_dir.parent.iterdir()
        if p.name.startswith(".") and p.name != ".lock"
    ]
    assert leftovers == []


def _select_oracle(sets: ShingleSets, rows: np.ndarray) -> ShingleSets:
    """`load_shingles`'s row selection before issue 15's near pass: one slice per document."""
    parts = [sets.hashes[sets.offsets[r] : sets.offsets[r + 1]] for r in rows.tolist()]
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    return ShingleSets(flat, np.concatenate(([0], np.cumsum(sets.sizes[rows]))).astype(np.int64))


def test_select_sets_equals_slicing_document_by_document(tmp_path):
    texts = [*_texts(), "", "ünïcödé ﬁ ＡＢＣ ǅ 𝔘𝔫𝔦 text with five or more words", "x"]
    records = _records(texts)
    shingle_shard(records, config=CONFIG, path=tmp_path / "s.npz")
    sets = load_shingles(tmp_path / "s.npz")
    rng = np.random.default_rng(3)
    n = len(sets)
    for rows in (
        np.arange(n),
        np.sort(rng.choice(n, size=n // 2, replace=False)),
        rng.integers(0, n, size=n),  # any order, repeats
        np.array([n - 1, n - 3, 0]),
        np.array([], dtype=np.int64),
    ):
        got, want = load_shingles(tmp_path / "s.npz", rows), _select_oracle(sets, rows)
        assert np.array_equal(got.hashes, want.hashes) and got.hashes.dtype == np.uint64
        assert np.array_equal(got.offsets, want.offsets) and got.offsets.dtype == np.int64


def test_read_npz_equals_np_load(tmp_path):
    arrays = {
        "hashes": np.arange(7, dtype=np.uint64) * np.uint64(3 << 50),
        "offsets": np.array([0, 3, 3, 7], dtype=np.int64),
        "empty": np.zeros(0, dtype=np.uint64),
        "grid": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    }
    for name, save in (("stored", np.savez), ("compressed", np.savez_compressed)):
        path = tmp_path / f"{name}.npz"
        save(path, **arrays)
        got = read_npz(path)
        with np.load(path) as want:
            assert sorted(got) == sorted(want.files)
            for key in want.files:
                assert got[key].dtype == want[key].dtype
                assert np.array_equal(got[key], want[key])
