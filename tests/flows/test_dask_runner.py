"""flows/dask_runner.py and flows/dask_worker.py: the cluster starts early; a worker ends at once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flows.dask_runner import EarlyDaskTaskRunner
from flows.runner import WORKER_PRELOAD, task_runner_for
from tests.conftest import ROOT


class NoCluster(RuntimeError):
    pass


def _failing_cluster(**_: object):
    raise NoCluster("cannot start")


def test_a_cluster_that_fails_to_start_fails_the_first_submit_not_the_thread():
    runner = EarlyDaskTaskRunner(cluster_class=_failing_cluster)
    with runner, pytest.raises(NoCluster, match="cannot start"):
        runner.submit(None, {})  # type: ignore[arg-type]


def test_a_copy_entered_on_a_worker_stays_lazy(monkeypatch):
    # Prefect enters a duplicate of the flow's runner around every task on a worker
    monkeypatch.setattr("flows.dask_runner.in_dask_worker", lambda: True)
    runner = EarlyDaskTaskRunner(cluster_class=_failing_cluster).duplicate()
    with runner:
        assert runner._starting is None  # no cluster of its own is started
        assert runner._client is None


def test_the_local_runner_starts_early_and_preloads_the_worker_module():
    runner = task_runner_for("dask")
    assert isinstance(runner, EarlyDaskTaskRunner)
    assert runner.cluster_kwargs["preload"] == [WORKER_PRELOAD]
    remote = task_runner_for("dask", "tcp://192.0.2.1:8786")  # a cluster we do not own
    assert not isinstance(remote, EarlyDaskTaskRunner)


def test_a_closed_worker_flushes_its_output_and_exits_with_code_0():
    script = (
        "import atexit, sys\n"
        "from flows.dask_worker import dask_teardown\n"
        "atexit.register(lambda: print('skipped: registered before the teardown'))\n"
        "dask_teardown(None)\n"
        "sys.stdout.write('buffered line')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "buffered line"
