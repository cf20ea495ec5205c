"""The real Prefect flow builds the demo, against the session's Prefect server (`prefect_api`:
in-process flows and the CLI subprocesses started here use it, none starts its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.build import build_mixture
from flows.cli import main
from tests.conftest import ROOT

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_api")]


def _digests(version_dir):
    manifest = (version_dir / "manifest.json").read_bytes()
    outputs = {e["path"]: e["sha256"] for e in json.loads(manifest)["outputs"]}
    return manifest, outputs


def test_flow_output_equals_in_process_build(tmp_path, monkeypatch, demo_build):
    monkeypatch.chdir(ROOT)
    flow_dir = build_mixture(spec="mixtures/demo.yaml", out=str(tmp_path / "flow"))
    assert _digests(Path(flow_dir))[1] == _digests(demo_build.version_dir)[1]


def test_cli_build_verify_rebuild(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert (
        main(["build", "mixtures/demo.yaml", "--out", str(tmp_path / "a"), "--version", "v9"]) == 0
    )
    version_dir = capsys.readouterr().out.strip()
    assert version_dir.endswith("demo/v9")
    assert main(["verify", version_dir]) == 0
    assert main(["rebuild", version_dir, "--out", str(tmp_path / "b")]) == 0
    rebuilt = capsys.readouterr().out.strip().splitlines()[-1]
    assert _digests(Path(rebuilt)) == _digests(Path(version_dir))


def test_an_error_inside_a_task_is_one_line_without_traceback(tmp_path):
    """A real `mixgate build` process: Prefect's task-failure traceback must not reach the console.

    300 records, so `check` only estimates supply from the first 200 and warns; the sample task
    then raises the shortfall error inside Prefect.
    """
    rows = "".join(f'{{"prompt": "question {i}", "response": "answer {i}"}}\n' for i in range(300))
    (tmp_path / "data.jsonl").write_text(rows)
    (tmp_path / "s.yaml").write_text(
        "name: short\nseed: 1\ntotal: 1000\n"
        "sources:\n  - {name: b, kind: sft, path: data.jsonl, license: MIT, intent: conversation,"
        " difficulty: straightforward}\n"
        "slices:\n  - {intent: conversation, difficulty: straightforward, weight: 1}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_LOGGING_LEVEL"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "build",
            str(tmp_path / "s.yaml"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert ": warning: `slices[0]`" in proc.stderr  # the check's estimate, before the build
    assert proc.stderr.count("mixgate: error:") == 1 and "cannot be filled" in proc.stderr
    assert not list((tmp_path / "out").glob("short/v*"))


def test_a_scheduled_style_build_skips_cleanly_while_another_build_holds_the_lock(tmp_path):
    """Acceptance 7 of issue 13: with another build of the mixture in progress (its lock held
    here), `mixgate build --on-busy skip` (what scheduled runs use) logs "skipped: build in
    progress", writes nothing and exits 0; `--on-busy fail` exits 2 naming the holder, not a
    "choose another --version" message."""
    from pipeline.output.lock import mixture_lock

    out = tmp_path / "out"
    command = [sys.executable, "-m", "flows.cli", "build", "mixtures/demo.yaml", "--out", str(out)]
    with mixture_lock(out / "demo", on_busy="fail") as held:
        assert held
        skip = subprocess.run(
            [*command, "--on-busy", "skip"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        fail = subprocess.run(
            [*command, "--on-busy", "fail"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert skip.returncode == 0, skip.stderr[-1500:]
    assert "mixgate: skipped: build in progress" in skip.stderr
    assert fail.returncode == 2 and "another build of `demo` is running" in fail.stderr
    assert "--version" not in fail.stderr
    assert not [p for p in (out / "demo").iterdir() if not p.name.startswith(".")]
