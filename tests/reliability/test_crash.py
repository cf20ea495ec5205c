"""Acceptance 2 and 6 of issue 11: kill -9 at injected points, then a byte-identical rerun.

Each build runs in a subprocess with ``MIXGATE_FAULT=<point>`` (`pipeline.faults`), which
SIGKILLs it the first time it reaches that point: while spilling a shard, writing a cache
entry, writing the Parquet parts, writing the manifest, and just before the publishing rename.
After each kill the out dir shows no new version; the rerun (same out dir, same cache, in this
process: no fault is armed here) then publishes a version whose every file equals a clean
build's (the session's `demo_build`, built without a cache), byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.build.cache import KeyedStore
from pipeline.build.run import latest_version, load, run_build
from pipeline.faults import ENV, POINTS
from tests.conftest import ROOT

DEMO = ROOT / "mixtures" / "demo.yaml"
SCRIPT = """
import sys
from pathlib import Path
from pipeline.build.cache import KeyedStore
from pipeline.build.run import load, run_build
spec, out, cache = sys.argv[1:4]
result = run_build(load(Path(spec)), out_dir=Path(out), cache=KeyedStore(Path(cache), "files"))
print(result.version_dir)
"""

pytestmark = pytest.mark.slow


def _build(out: Path, cache: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if fault:
        env[ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(DEMO), str(out), str(cache)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _files(version_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(version_dir).as_posix(): p.read_bytes()
        for p in sorted(version_dir.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def _versions(mixture_dir: Path) -> list[str]:
    return sorted(p.name for p in mixture_dir.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def clean_build(demo_build) -> dict[str, bytes]:
    return _files(demo_build.version_dir)


@pytest.mark.parametrize("point", POINTS)
def test_kill_9_leaves_no_version_and_a_rerun_is_byte_identical(tmp_path, clean_build, point):
    out, cache = tmp_path / "out", tmp_path / "cache"
    killed = _build(out, cache, fault=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    mixture = out / "demo"
    assert _versions(mixture) == [] if mixture.is_dir() else True
    assert latest_version(mixture) is None  # a leftover staging dir is never a version
    assert os.environ.get(ENV) is None
    rerun = run_build(load(DEMO), out_dir=out, cache=KeyedStore(cache, "files"))
    assert rerun.version_dir == mixture / "v0001"
    assert _versions(mixture) == ["v0001"]
    assert _files(mixture / "v0001") == clean_build
    leftovers = [p.name for p in mixture.iterdir() if p.name.startswith((".tmp-", ".work-"))]
    assert leftovers == []


def test_skip_unchanged_ignores_a_leftover_staging_dir_with_a_manifest(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    killed = _build(out, cache, fault="manifest_write")
    assert killed.returncode == -signal.SIGKILL
    mixture = out / "demo"
    staged = [p for p in mixture.iterdir() if p.name.startswith(".tmp-")]
    assert staged and (staged[0] / "manifest.json").is_file()
    result = run_build(load(DEMO), out_dir=out, skip_unchanged=True)
    assert not result.unchanged
    assert result.version_dir == mixture / "v0001"
    assert not staged[0].exists()
