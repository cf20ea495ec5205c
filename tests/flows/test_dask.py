"""A `--runner dask` build (2-worker LocalCluster, processes) equals the in-process build."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.build import run_build_flow
from tests.conftest import ROOT

pytestmark = [pytest.mark.flow, pytest.mark.slow]


def _files(version_dir: Path) -> dict[str, bytes]:
    paths = [
        *sorted((version_dir / "data").rglob("*.parquet")),
        version_dir / "ledger.parquet",
        version_dir / "manifest.json",
    ]
    return {p.relative_to(version_dir).as_posix(): p.read_bytes() for p in paths}


def test_dask_build_equals_serial_build_byte_for_byte(
    tmp_path, monkeypatch, capfd, demo_build, prefect_api
):
    # Both builds must see one code version even if the tree is edited while the suite runs:
    # the Dask build takes the one the session's serial build recorded.
    frozen = demo_build.manifest["code_version"]
    for module in ("pipeline.output.manifest", "pipeline.build.assemble", "pipeline.build.shards"):
        monkeypatch.setattr(f"{module}.code_version", lambda: frozen)
    # shard_rows=20 makes every non-empty demo file (26-176 rows) two to nine tasks, spread over
    # both workers (25 tasks; shard boundaries themselves are the hypothesis property's job)
    dask_dir = run_build_flow(
        str(ROOT / "mixtures" / "demo.yaml"),  # as the serial build's manifest records it
        out=str(tmp_path / "dask"),
        version=None,
        runner="dask",
        shard_rows=20,
    )
    assert _files(Path(dask_dir)) == _files(demo_build.version_dir)
    # the workers write to this process's stderr: a task that started a cluster of its own
    # (Prefect enters a copy of the flow's task runner around every task) logs tracebacks there
    err = capfd.readouterr().err
    assert "Failed to create" not in err and "Traceback" not in err, err[-2000:]
