"""Acceptance 6 of issue 11: a 1 MiB gzip bomb (1 GiB inflated) is read in bounded memory.

The bomb is read by the project's reader in a fresh process (as a build's worker would) and the
process's peak resident memory is taken from the kernel (`ru_maxrss`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.reliability.badinput import Words, gzip_bomb

SCRIPT = """
import resource, sys
from pathlib import Path
from pipeline.io.counting import count_rows
from pipeline.io.readers import iter_rows
path = Path(sys.argv[1])
rows = [(r, getattr(v, "reason", "ok")) for r, v in iter_rows(path)]
counted = count_rows(path)
print(rows, counted.records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_gzip_bomb_peak_memory_stays_under_one_gib(tmp_path):
    planted = gzip_bomb(tmp_path, Words(3))
    path = planted.files[0]
    assert path.stat().st_size < 2 << 20
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    rows, counted, peak_kib = done.stdout.rsplit(" ", 2)
    assert rows == "[(0, 'ok'), (1, 'ok'), (2, 'record_too_large'), (3, 'ok'), (4, 'ok')]"
    assert int(counted) == 5
    assert int(peak_kib) < 1 << 20  # KiB: under 1 GiB
