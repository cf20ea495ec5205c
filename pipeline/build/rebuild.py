"""Regenerate a published version from its manifest: `rebuild_version`.

A rebuild re-runs `pipeline.build.run.run_build` with the spec text and the input files pinned
by the manifest. It refuses anything that differs from what was built (another set of files
behind a glob, another sha256, another number of holdout files), naming the difference, so a
rebuild either reproduces the version byte for byte or says why it cannot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.build.prepare import LoadedSpec, plan_build
from pipeline.build.run import BuildResult, run_build
from pipeline.build.runner import StageRunner
from pipeline.build.shards import DEFAULT_SHARD_ROWS
from pipeline.errors import InputChangedError
from pipeline.io.files import resolve_paths
from pipeline.output.publish import read_manifest
from pipeline.spec import load_yaml, parse_spec
from pipeline.stages.ingest import relative_path


def recorded_spec_dir(version_dir: Path) -> Path | None:
    """The spec's directory as the build saw it (absolute, from ``run.json``), if it still exists."""
    run = Path(version_dir) / "run.json"
    try:
        recorded = json.loads(run.read_text(encoding="utf-8")).get("spec_dir")
    except (OSError, ValueError):
        return None
    return Path(recorded) if recorded and Path(recorded).is_dir() else None


def load_from_manifest(
    version_dir: Path, *, spec_dir: Path | None = None
) -> tuple[LoadedSpec, dict[str, Any]]:
    """Recover the spec (raw text) and pinned inputs that built `version_dir`.

    Relative paths start from `spec_dir` when given, else from the spec's directory recorded
    in ``run.json`` (so a rebuild works from any working directory), else from the spec file's
    directory as recorded in the manifest.
    """
    manifest = read_manifest(version_dir)
    raw = manifest["spec"]["raw"].encode("utf-8")
    spec_file = manifest["spec"]["file"]

    spec = parse_spec(load_yaml(raw.decode("utf-8"), origin=spec_file), origin=spec_file)
    base_dir = (
        Path(spec_dir) if spec_dir else recorded_spec_dir(version_dir) or Path(spec_file).parent
    )
    return LoadedSpec(spec, raw, spec_file, base_dir), manifest


def check_input_sets(loaded: LoadedSpec, pinned: dict[str, list[dict[str, str]]]) -> None:
    """Raise `InputChangedError` when a source's glob now matches another set of files."""
    for source in loaded.spec.sources:
        now = {
            relative_path(p, loaded.base_dir)
            for p in resolve_paths(source.path, base_dir=loaded.base_dir)
        }
        recorded = {entry["path"] for entry in pinned.get(source.name, [])}
        if now != recorded:
            added, missing = sorted(now - recorded), sorted(recorded - now)
            msg = (
                f"source `{source.name}`: the input files changed since the version was built "
                f"({len(added)} added{': ' + added[0] if added else ''}; "
                f"{len(missing)} missing{': ' + missing[0] if missing else ''})"
            )
            raise InputChangedError(msg)


def rebuild_version(
    version_dir: Path,
    *,
    out_dir: Path,
    spec_dir: Path | None = None,
    data_root: Path | None = None,
    runner: StageRunner | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    _relocated: bool = False,
) -> BuildResult:
    """Regenerate `version_dir` into `out_dir` from its manifest; inputs must be unchanged.

    Each source's path or glob must still match exactly the files recorded (no file added or
    missing), and every file its recorded sha256: otherwise `InputChangedError` names the
    difference.

    With `data_root`, every recorded input and holdout file is looked up under that directory
    by content (`pipeline.build.relocate`): the data may have moved, it must not have changed.
    """
    if data_root is not None:
        import tempfile

        from pipeline.build.relocate import locate_inputs, shadow_spec_dir

        located = locate_inputs(read_manifest(version_dir), Path(data_root))
        with tempfile.TemporaryDirectory(prefix="mixgate-data-root-") as work:
            return rebuild_version(
                version_dir,
                out_dir=out_dir,
                spec_dir=shadow_spec_dir(located, Path(work)),
                runner=runner,
                shard_rows=shard_rows,
                _relocated=True,
            )
    loaded, manifest = load_from_manifest(version_dir, spec_dir=spec_dir)
    pinned: dict[str, list[dict[str, str]]] = {}
    for entry in manifest["inputs"]:
        pinned.setdefault(entry["source"], []).append(entry)
    if not _relocated:  # a relocated tree holds exactly the recorded files by construction
        check_input_sets(loaded, pinned)
    plan = plan_build(loaded, pinned=pinned)  # holdouts read and hashed once, for both
    _check_holdouts(manifest["holdouts"], plan.holdouts)
    return run_build(
        loaded,
        out_dir=out_dir,
        version=manifest["version"],
        runner=runner,
        pinned=pinned,
        shard_rows=shard_rows,
        plan=plan,
    )


def _check_holdouts(recorded: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    """Raise `InputChangedError` unless the holdouts have the recorded number and contents."""
    if len(actual) != len(recorded):
        msg = (
            f"the holdouts now have {len(actual)} file(s); the version was built with "
            f"{len(recorded)}"
        )
        raise InputChangedError(msg)
    for entry, now in zip(recorded, actual, strict=True):
        if entry["sha256"] != now["sha256"]:  # same content at another path is the same holdout
            msg = f"holdout file changed since the version was built: {now['path']}"
            raise InputChangedError(msg)
