"""What a build knows before it starts: the spec as read, and its plan (config, files, holdouts).

`plan_build` does everything a build does before taking the mixture's lock that only reads:
validate the stage sections and build the engines (`build_config`: tagger, PII scanners, the
holdout index), expand and hash every input file (`plan_files`), and hash the holdout files the
config already read. The CLI runs it while Prefect's server starts (`flows.server`); a build
given no plan makes it itself. Either way the same plan goes into the same build.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.build.config import BuildConfig, build_config, read_spec_holdouts
from pipeline.build.plan import FileTask, plan_files
from pipeline.io.files import file_sha256
from pipeline.spec import MixtureSpec, load_spec
from pipeline.stages.decontam.holdouts import HoldoutFile


@dataclass(frozen=True)
class LoadedSpec:
    """A spec with the facts the manifest needs about its origin."""

    spec: MixtureSpec
    raw: bytes
    file: str  # as given on the command line, POSIX
    base_dir: Path


def load(spec_path: Path) -> LoadedSpec:
    """Read a spec file."""
    spec, raw = load_spec(spec_path)
    return LoadedSpec(spec, raw, Path(spec_path).as_posix(), Path(spec_path).parent)


def holdout_entries(
    loaded: LoadedSpec, files: Sequence[HoldoutFile] | None = None
) -> list[dict[str, Any]]:
    """Return the manifest's holdout entries: file, hash, rows, fields used, unreadable rows.

    `files` are the holdout files as the build read them (`BuildConfig.holdout_files`); without
    them, the spec's holdouts are read here."""
    if files is None:
        files = read_spec_holdouts(loaded.spec, base_dir=loaded.base_dir)
    return [
        {
            "holdout": f.holdout,
            "path": f.path,
            "sha256": file_sha256(loaded.base_dir / f.path),
            "records": f.rows,
            "fields": list(f.fields),
            "items": len(f.items),
            "unreadable_rows": f.unreadable_rows,
        }
        for f in files
    ]


@dataclass(frozen=True)
class BuildPlan:
    """A build's stage config, planned input files and holdout entries, and how long they took."""

    loaded: LoadedSpec
    config: BuildConfig
    files: list[FileTask]
    holdouts: list[dict[str, Any]]
    seconds: float


def plan_build(
    loaded: LoadedSpec, *, pinned: dict[str, list[dict[str, str]]] | None = None
) -> BuildPlan:
    """Validate the stage sections, build the engines, hash every input and holdout file."""
    t0 = time.perf_counter()
    config = build_config(loaded.spec, base_dir=loaded.base_dir)
    files = plan_files(loaded.spec, base_dir=loaded.base_dir, pinned=pinned)
    holdouts = holdout_entries(loaded, config.holdout_files)
    return BuildPlan(loaded, config, files, holdouts, round(time.perf_counter() - t0, 3))
