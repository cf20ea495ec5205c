"""Build progress: rich bars on a terminal, one plain line per stage otherwise."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys

import pytest

from flows.progress import LiveProgress, PlainProgress, console_progress
from flows.runner import task_run_name
from tests.conftest import ROOT

STAGES = ("process_file", "rank_keepers", "exact_dedup", "near_dedup", "decontam", "sample")


def _drive(progress) -> None:
    progress.start("process_file", 3)
    for records in (10, 20, 30):
        progress.advance("process_file", records=records)
    progress.finish("process_file")
    progress.start("sample", None)
    progress.finish("sample", records=40)
    progress.close()


def test_plain_progress_is_one_line_per_stage():
    """Not a terminal: `console_progress` picks plain lines, one per stage, with counts."""
    stream = io.StringIO()
    progress = console_progress(stream)
    assert isinstance(progress, PlainProgress)
    _drive(progress)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("mixgate: process_file: 3/3 tasks, 60 records")
    assert lines[1].startswith("mixgate: sample: 40 records")


def test_live_progress_on_a_pseudo_terminal():
    """On a pty, `console_progress` picks rich bars; the output names each stage and has bars."""
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", closefd=True) as stream:
        progress = console_progress(stream)
        assert isinstance(progress, LiveProgress)
        _drive(progress)
    out = _read_all(master)
    assert "process_file" in out and "sample" in out and "━" in out
    assert "3/3" in out and "60 records" in out


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def test_task_names_read_like_sentences():
    """Prefect task runs are named after the source and rows, not an object dump."""

    class Job:
        path = "../data/sft_alpaca.jsonl"
        rows = (0, 50_000)

        class source:
            name = "tutor_sft"

    assert (
        task_run_name("process_file", Job(), 0)
        == "process file tutor_sft rows 0–50000 (sft_alpaca.jsonl)"
    )


@pytest.mark.flow
@pytest.mark.slow
def test_a_real_build_shows_progress_on_a_pty_and_plain_lines_otherwise(tmp_path, prefect_api):
    """`mixgate build` under a pseudo-terminal draws per-stage bars; with stderr a pipe it prints
    one plain line per stage. Both builds use the session's Prefect server (`prefect_api`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_LOGGING_LEVEL", "COLUMNS")}
    command = [sys.executable, "-m", "flows.cli", "build", "mixtures/demo.yaml", "--no-cache"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*command, "--out", str(tmp_path / "tty")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    out = _read_all(master)
    assert proc.wait(timeout=600) == 0, out[-2000:]
    assert "━" in out
    for stage in STAGES:
        assert stage in out, stage
    plain = subprocess.run(
        [*command, "--out", str(tmp_path / "pipe")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = [ln for ln in plain.stderr.splitlines() if re.match(r"mixgate: [a-z_]+: ", ln)]
    assert [ln.split(":")[1].strip() for ln in lines if ln.split(":")[1].strip() in STAGES] == list(
        STAGES
    )
    assert "━" not in plain.stderr and "\x1b[" not in plain.stderr


def test_a_finished_cli_build_stops_reporting_to_its_stream():
    """After the CLI's build, later builds in the process do not write to its (closed) stream."""
    from flows.progress import current_progress, stop_progress, use_progress

    before = current_progress()
    sink = PlainProgress(io.StringIO())
    use_progress(sink)
    assert current_progress() is sink
    stop_progress(sink)
    assert current_progress() is before
