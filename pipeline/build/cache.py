"""Content-keyed caches on disk: a generic store, and the key of one input file's per-file work.

`KeyedStore` keeps entries under ``<root>/<namespace>/<key[:2]>/<key>/``; an entry is any mix of
polars frames (Parquet), numpy arrays (``.npy``) and one small JSON document. An entry is written
into a hidden temporary sibling and renamed into place, so readers never see half an entry and
concurrent writers of the same key are harmless (the first rename wins). The store counts its
hits and misses, so callers (and tests) can tell what was recomputed.

The store knows nothing of specs or stages: its users pick a namespace and a key
(`digest_key`). The per-file cache (`pipeline.build.shards.run_file_stages`) keys an input
file by its sha256, path, row range, `file_stage_slug` (what the file-scope stages read) and
`code_version()`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline.errors import InternalError
from pipeline.faults import fault_point

CACHE_DIR_NAME = ".cache"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_KEY = re.compile(r"^[0-9a-f]{16,128}$")
_META = "meta.json"


def default_cache_dir(out_dir: Path) -> Path:
    """Return the cache directory used when none is given: ``<out>/.cache``."""
    return Path(out_dir) / CACHE_DIR_NAME


def digest_key(payload: Any) -> str:
    """Return the sha256 hex digest of `payload` as canonical JSON (sorted keys, compact)."""
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """One cached entry: named frames, named arrays, files copied in as they are, and a
    JSON-able document. `files` maps a file name in the entry to the file to copy (on `put`)
    or to the file in the entry (on `get`)."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (*self.frames, *self.arrays, *self.files):
            if not _NAME.match(name) or name == "meta":
                msg = (
                    f"cache entry part names must match {_NAME.pattern} and not be `meta`; "
                    f"got {name!r}"
                )
                raise InternalError(msg)
        if set(self.frames) & set(self.arrays):
            clash = sorted(set(self.frames) & set(self.arrays))
            msg = f"cache entry part names must be unique across frames and arrays; got {clash}"
            raise InternalError(msg)


class KeyedStore:
    """Entries keyed by a hex digest under ``<root>/<namespace>/``; counts hits and misses.

    Parameters
    ----------
    root
        The cache directory (created on first write).
    namespace
        A lowercase name separating independent users of one cache directory.
    """

    def __init__(self, root: Path, namespace: str) -> None:
        if not _NAME.match(namespace):
            msg = f"`namespace` must match {_NAME.pattern}; got {namespace!r}"
            raise InternalError(msg)
        self.root = Path(root)
        self.namespace = namespace
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        """Return the directory of the entry `key` (which may not exist)."""
        if not _KEY.match(key):
            msg = f"cache `key` must be 16-128 lowercase hex digits; got {key!r}"
            raise InternalError(msg)
        return self.root / self.namespace / key[:2] / key

    def get(self, key: str) -> CacheEntry | None:
        """Return the entry stored under `key`, or None (counted as a hit or a miss)."""
        path = self.path_for(key)
        meta_path = path / _META
        if not meta_path.is_file():
            self.misses += 1
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        frames = {name: pl.read_parquet(path / f"{name}.parquet") for name in meta["frames"]}
        arrays = {
            name: np.load(path / f"{name}.npy", allow_pickle=False) for name in meta["arrays"]
        }
        files = {name: path / name for name in meta.get("files", [])}
        self.hits += 1
        return CacheEntry(frames, arrays, meta["meta"], files)

    def put(self, key: str, entry: CacheEntry) -> Path:
        """Store `entry` under `key` atomically; an existing entry is kept as it is.

        A published entry is never written to again: everything it holds is written here,
        into a hidden directory renamed into place.
        """
        final = self.path_for(key)
        if (final / _META).is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=final.parent))
        try:
            for name, frame in entry.frames.items():
                frame.write_parquet(tmp / f"{name}.parquet", compression="zstd", statistics=False)
            for name, array in entry.arrays.items():
                np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            for name, source in entry.files.items():
                shutil.copyfile(source, tmp / name)
            doc = {
                "frames": sorted(entry.frames),
                "arrays": sorted(entry.arrays),
                "files": sorted(entry.files),
                "meta": entry.meta,
            }
            (tmp / _META).write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
            fault_point("cache_write")
            os.rename(tmp, final)
        except OSError:
            if not (final / _META).is_file():
                raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def stats(self) -> dict[str, int]:
        """Return ``{"hits": ..., "misses": ...}`` since this store was opened."""
        return {"hits": self.hits, "misses": self.misses}


__all__ = [
    "CACHE_DIR_NAME",
    "CacheEntry",
    "KeyedStore",
    "default_cache_dir",
    "digest_key",
]
