"""Rebuilding a version whose input files now live somewhere else (``rebuild --data-root``).

A manifest records every input and holdout file as written in the spec, relative to the spec's
directory (``../shared/datasets/gsm8k/test.jsonl``), with its sha256. When the data has moved,
`locate_inputs` finds each recorded file under a new root: the recorded path with its leading
``..`` dropped, then each shorter tail of it (``shared/datasets/gsm8k/test.jsonl``,
``datasets/gsm8k/test.jsonl``, …), then any file of that name below the root, and accepts the
first whose sha256 equals the recorded one. Identical content at a new path is the same input.

`shadow_spec_dir` then builds a throw-away directory of symlinks in which every recorded path,
read from a stand-in spec directory, leads to the located file. The rebuild runs from that
stand-in, so every path it records, and so the manifest, comes out byte for byte as before.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.errors import InputError
from pipeline.io.files import file_sha256


def recorded_files(manifest: dict[str, Any]) -> dict[str, str]:
    """Every input and holdout file of a manifest: recorded path -> sha256."""
    files = {entry["path"]: entry["sha256"] for entry in manifest.get("inputs", [])}
    files.update({entry["path"]: entry["sha256"] for entry in manifest.get("holdouts", [])})
    return files


def _tails(recorded: str) -> list[PurePosixPath]:
    parts = [p for p in PurePosixPath(recorded).parts if p not in ("..", ".", "/")]
    return [PurePosixPath(*parts[i:]) for i in range(len(parts))]


def locate(recorded: str, sha256: str, data_root: Path) -> Path:
    """Return the file under `data_root` that is the recorded file (same sha256), or raise."""
    tried = []
    for tail in _tails(recorded):
        candidate = data_root / tail
        tried.append(candidate)
        if candidate.is_file() and file_sha256(candidate) == sha256:
            return candidate
    name = PurePosixPath(recorded).name
    for candidate in sorted(data_root.rglob(name)):
        if candidate.is_file() and candidate not in tried and file_sha256(candidate) == sha256:
            return candidate
    msg = (
        f"`--data-root {data_root}`: no file there has the content recorded for `{recorded}` "
        f"(sha256 {sha256[:12]}…); looked at {tried[0] if tried else data_root} and every file "
        f"named `{name}` below the root"
    )
    raise InputError(msg)


def locate_inputs(manifest: dict[str, Any], data_root: Path) -> dict[str, Path]:
    """Locate every recorded input and holdout file under `data_root` (see `locate`)."""
    return {rec: locate(rec, sha, Path(data_root)) for rec, sha in recorded_files(manifest).items()}


def shadow_spec_dir(located: dict[str, Path], work: Path) -> Path:
    """Build a stand-in spec directory under `work` from which each recorded path reaches its
    located file through a symlink; return it."""
    depth = max((PurePosixPath(r).parts.count("..") for r in located), default=0)
    spec_dir = Path(work, "root", *[f"d{i}" for i in range(depth)])
    spec_dir.mkdir(parents=True, exist_ok=True)
    root = Path(work, "root")
    for recorded, actual in located.items():
        if PurePosixPath(recorded).is_absolute():
            msg = f"`--data-root` cannot relocate an absolute recorded path: {recorded}"
            raise InputError(msg)
        link = Path(os.path.normpath(spec_dir / recorded))
        if root not in link.parents:
            msg = f"recorded path leaves the spec's tree: {recorded}"
            raise InputError(msg)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(Path(actual).absolute())
    return spec_dir
