"""The real Prefect flow (ephemeral local server via prefect_test_harness) builds the demo."""

from __future__ import annotations

import json

import pytest
from prefect.testing.utilities import prefect_test_harness

from conftest import ROOT
from flows.build import build_mixture
from flows.cli import main
from pipeline.release import load, run_build

pytestmark = pytest.mark.flow


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _digests(version_dir):
    manifest = (version_dir / "manifest.json").read_bytes()
    outputs = {e["path"]: e["sha256"] for e in json.loads(manifest)["outputs"]}
    return manifest, outputs


def test_flow_output_equals_in_process_build(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    flow_dir = build_mixture(spec="mixtures/demo.yaml", out=str(tmp_path / "flow"))
    serial = run_build(load(ROOT / "mixtures" / "demo.yaml"), out_dir=tmp_path / "serial")
    from pathlib import Path

    assert _digests(Path(flow_dir))[1] == _digests(serial.version_dir)[1]


def test_cli_build_verify_rebuild(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["build", "mixtures/demo.yaml", "--out", str(tmp_path / "a"), "--version", "v9"]) == 0
    version_dir = capsys.readouterr().out.strip()
    assert version_dir.endswith("demo/v9")
    assert main(["verify", version_dir]) == 0
    assert main(["rebuild", version_dir, "--out", str(tmp_path / "b")]) == 0
    rebuilt = capsys.readouterr().out.strip().splitlines()[-1]
    from pathlib import Path

    assert _digests(Path(rebuilt)) == _digests(Path(version_dir))
