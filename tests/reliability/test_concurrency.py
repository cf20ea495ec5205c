"""Acceptance 3 of issue 11: concurrent builds of one mixture, concurrent audits on one cache.

Two builds of the same mixture into the same out dir, started together: with
``on_busy="wait"`` both publish, as v0001 and v0002, and both verify; with ``fail`` the second
stops with one line naming the holder; with ``skip`` it returns without writing. A lock left
by a killed build is stale and does not block the next one. Two audits sharing one holdout
index cache, started together, both report the same findings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.output.lock import BuildBusyError, mixture_lock
from pipeline.output.publish import verify_version
from tests.conftest import ROOT, SHARED

DEMO = ROOT / "mixtures" / "demo.yaml"
BUILD = """
import sys
from pathlib import Path
from pipeline.build.run import load, run_build
spec, out, on_busy = sys.argv[1:4]
result = run_build(load(Path(spec)), out_dir=Path(out), on_busy=on_busy)
print("busy" if result.busy else result.version_dir)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_two_simultaneous_builds_that_wait_publish_two_good_versions(tmp_path):
    out = tmp_path / "out"
    procs = [_start(BUILD, str(DEMO), str(out), "wait") for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-1500:] for r in results]
    published = sorted(Path(r[0].strip().splitlines()[-1]).name for r in results)
    assert published == ["v0001", "v0002"]
    for name in published:
        assert verify_version(out / "demo" / name) == []
    one, two = (json.loads((out / "demo" / v / "manifest.json").read_text()) for v in published)
    assert one["outputs"] == two["outputs"]  # same inputs, same bytes


def test_a_second_build_fails_or_skips_while_the_lock_is_held(tmp_path):
    mixture = tmp_path / "demo"
    with mixture_lock(mixture, on_busy="fail") as held:
        assert held
        with (
            pytest.raises(BuildBusyError, match=r"another build of `demo` is running \(pid \d+"),
            mixture_lock(mixture, on_busy="fail"),
        ):
            pass
        with mixture_lock(mixture, on_busy="skip") as second:
            assert second is False
    with mixture_lock(mixture, on_busy="fail") as again:  # released: free again
        assert again


def test_a_lock_left_by_a_killed_process_is_stale(tmp_path):
    mixture = tmp_path / "demo"
    holder = _start(
        "import sys, time\nfrom pathlib import Path\nfrom pipeline.output.lock import mixture_lock\n"
        "with mixture_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(600)\n",
        str(mixture),
    )
    assert holder.stdout.readline().strip() == "held"
    (mixture / ".tmp-v0001-999999").mkdir()  # what a killed build leaves behind
    with pytest.raises(BuildBusyError), mixture_lock(mixture, on_busy="fail"):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    start = time.monotonic()
    with mixture_lock(mixture, on_busy="wait", timeout=30) as held:
        assert held
        assert not (mixture / ".tmp-v0001-999999").exists()  # cleaned under the lock
    assert time.monotonic() - start < 30


AUDIT = """
import json, sys
from pathlib import Path
from pipeline.stages.decontam.match import DecontamConfig
from pipeline.tools.audit import audit_files
data, holdout, cache = sys.argv[1:4]
report = audit_files([Path(data)], [Path(holdout)], config=DecontamConfig(), cache_dir=Path(cache))
print(json.dumps(report.findings, sort_keys=True, default=str))
"""


@pytest.mark.slow
def test_two_concurrent_audits_on_one_cache_both_report_the_same_findings(tmp_path):
    data = SHARED / "alpaca_eval" / "gpt4_model_outputs.json.gz"
    holdout = SHARED / "fastchat_bench" / "vicuna_bench_question.jsonl"
    cache = tmp_path / "cache"
    procs = [_start(AUDIT, str(data), str(holdout), str(cache)) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-1500:] for r in results]
    assert results[0][0] == results[1][0]
    leftovers = [p.name for p in cache.rglob("*.tmp")]
    assert leftovers == []
