"""The per-file cache: a keyed store, byte-identical cached builds, recompute only what changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.build import shards
from pipeline.build.cache import CacheEntry, KeyedStore, digest_key
from pipeline.build.run import load, run_build
from pipeline.errors import InternalError
from tests.conftest import ROOT


def _outputs(version_dir: Path) -> dict[str, bytes]:
    paths = [
        *sorted((version_dir / "data").rglob("*.parquet")),
        version_dir / "ledger.parquet",
        version_dir / "manifest.json",
    ]
    return {p.relative_to(version_dir).as_posix(): p.read_bytes() for p in paths}


def _build(spec: Path, out: Path, cache: KeyedStore | None):
    loaded = load(spec)
    return run_build(loaded, out_dir=out, cache=cache)


@pytest.fixture
def demo(tmp_path) -> Path:
    """A private copy of the demo spec and its data, so tests can edit inputs."""
    shutil.copytree(ROOT / "data_samples", tmp_path / "data_samples")
    (tmp_path / "mixtures").mkdir()
    shutil.copy(ROOT / "mixtures" / "demo.yaml", tmp_path / "mixtures" / "demo.yaml")
    return tmp_path / "mixtures" / "demo.yaml"


def test_keyed_store_round_trips_frames_arrays_and_meta(tmp_path):
    store = KeyedStore(tmp_path, "sigs")
    key = digest_key({"source": "a", "sha256": "00"})
    frame = pl.DataFrame(
        {"id": ["x", "y"], "n": [1, None]}, schema={"id": pl.String, "n": pl.UInt32}
    )
    signatures = np.arange(12, dtype=np.uint64).reshape(2, 6)
    store.put(key, CacheEntry({"ids": frame}, {"signatures": signatures}, {"slug": "mh_128"}))
    entry = store.get(key)
    assert entry.frames["ids"].equals(frame) and entry.frames["ids"].schema == frame.schema
    assert np.array_equal(entry.arrays["signatures"], signatures)
    assert entry.arrays["signatures"].dtype == np.uint64
    assert entry.meta == {"slug": "mh_128"}


def test_keyed_store_counts_hits_and_misses_and_leaves_no_temp_dirs(tmp_path):
    store = KeyedStore(tmp_path, "files")
    key = digest_key("k")
    assert store.get(key) is None
    path = store.put(key, CacheEntry(meta={"a": 1}))
    store.put(key, CacheEntry(meta={"a": 2}))  # an existing entry is kept
    assert store.get(key).meta == {"a": 1}
    assert store.stats() == {"hits": 1, "misses": 1}
    assert [p.name for p in path.parent.iterdir()] == [key]


def test_keyed_store_rejects_a_bad_namespace_or_key(tmp_path):
    with pytest.raises(InternalError, match="`namespace`"):
        KeyedStore(tmp_path, "../up")
    with pytest.raises(InternalError, match="cache `key`"):
        KeyedStore(tmp_path, "files").get("not-hex")


def test_cached_build_equals_uncached_build_byte_for_byte(demo, tmp_path):
    store = KeyedStore(tmp_path / "cache", "files")
    plain = _build(demo, tmp_path / "plain", None)
    cold = _build(demo, tmp_path / "cold", store)
    warm = _build(demo, tmp_path / "warm", store)
    assert store.stats() == {"hits": 6, "misses": 6}  # six input files: computed once, then loaded
    assert _outputs(cold.version_dir) == _outputs(plain.version_dir) == _outputs(warm.version_dir)


def test_after_one_source_changes_only_its_file_is_recomputed(demo, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    _build(demo, tmp_path / "out", KeyedStore(cache_dir, "files"))
    chat = demo.parent.parent / "data_samples" / "chat_messages.jsonl"
    lines = chat.read_text(encoding="utf-8").splitlines(keepends=True)
    chat.write_text("".join(lines[:-5]), encoding="utf-8")  # drop the last five records
    shingled = []
    real_shingle_shard = shards.shingle_shard

    def spy(records, **kwargs):
        shingled.append(records.height)
        return real_shingle_shard(records, **kwargs)

    monkeypatch.setattr(shards, "shingle_shard", spy)
    store = KeyedStore(cache_dir, "files")
    incremental = _build(demo, tmp_path / "out", store)
    assert store.stats() == {"hits": 5, "misses": 1}
    assert shingled == [len(lines) - 5]  # near-dedup shingles of the changed file only
    fresh = _build(demo, tmp_path / "fresh", None)
    same = {k: v for k, v in _outputs(fresh.version_dir).items() if k != "manifest.json"}
    assert {
        k: v for k, v in _outputs(incremental.version_dir).items() if k != "manifest.json"
    } == same
    inputs = json.loads((incremental.version_dir / "manifest.json").read_text())["inputs"]
    assert {i["source"]: i["records"] for i in inputs}["tutor_chat"] == len(lines) - 5


def test_cross_source_settings_keep_the_file_cache_but_file_stage_settings_do_not(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    _build(demo, tmp_path / "out", KeyedStore(cache_dir, "files"))
    text = demo.read_text(encoding="utf-8")
    demo.write_text(text.replace("total: 240", "total: 200"), encoding="utf-8")
    pool_only = KeyedStore(cache_dir, "files")
    _build(demo, tmp_path / "out", pool_only)
    demo.write_text(text.replace('deny: ["*-NC-*"', 'deny: ["MIT", "*-NC-*"'), encoding="utf-8")
    file_stage = KeyedStore(cache_dir, "files")
    _build(demo, tmp_path / "out", file_stage)
    assert pool_only.stats() == {"hits": 6, "misses": 0}
    assert file_stage.stats() == {"hits": 0, "misses": 6}


def test_unchanged_inputs_write_no_new_version_and_run_no_file_stage(demo, tmp_path):
    loaded = load(demo)
    store = KeyedStore(tmp_path / "cache", "files")
    first = run_build(loaded, out_dir=tmp_path / "out", cache=store, skip_unchanged=True)
    second = run_build(loaded, out_dir=tmp_path / "out", cache=store, skip_unchanged=True)
    assert (first.unchanged, second.unchanged) == (False, True)
    assert second.version_dir == first.version_dir
    versions = [p.name for p in (tmp_path / "out" / "demo").iterdir() if not p.name.startswith(".")]
    assert versions == [first.version_dir.name]  # the build lock (.lock) stays
    assert store.stats() == {"hits": 0, "misses": 6}


def _entry_files(cache_dir: Path) -> dict[str, int]:
    return {
        str(p.relative_to(cache_dir)): p.stat().st_mtime_ns
        for p in sorted(cache_dir.rglob("*"))
        if p.is_file()
    }


def test_a_published_cache_entry_is_never_written_to_again(demo, tmp_path):
    cache_dir = tmp_path / "cache"
    _build(demo, tmp_path / "out", KeyedStore(cache_dir, "files"))
    published = _entry_files(cache_dir)
    assert any(name.endswith(".npz") for name in published)  # shingles stored with the entry
    text = demo.read_text(encoding="utf-8")  # other shingling: a pool-only setting, same entries
    demo.write_text(text + "dedup:\n  near:\n    minhash:\n      n: 4\n", encoding="utf-8")
    store = KeyedStore(cache_dir, "files")
    _build(demo, tmp_path / "out", store)
    assert store.stats()["misses"] == 0
    assert _entry_files(cache_dir) == published
