"""Benchmark: time from process start to the first error of `mixgate check` (not a test).

Run: ``.venv/bin/python benchmarks/bench_check.py [RUNS]`` (about 30 s for 9 runs).

Each run starts a fresh ``.venv/bin/mixgate check tests/data/check/planted.yaml`` (ten planted
mistakes), reads its stderr line by line and records the wall time until the first ``error:``
line and until the process exits. The same for ``mixgate build`` on the same spec, which must
fail with the same errors before Prefect starts. Prints the median and the range of each.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANTED = ROOT / "tests" / "data" / "check" / "planted.yaml"
MIXGATE = ROOT / ".venv" / "bin" / "mixgate"


def one_run(*args: str) -> tuple[float, float, int]:
    """Return (seconds to the first error line, seconds to exit, error lines)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(MIXGATE), *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    first = None
    errors = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        if ": error: " in line:
            errors += 1
            if first is None:
                first = time.perf_counter() - start
    proc.wait()
    return (first if first is not None else float("nan")), time.perf_counter() - start, errors


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}; cpus {os.cpu_count()}")
    for label, args in (
        ("check", ["check", str(PLANTED)]),
        ("build", ["build", str(PLANTED), "--out", "/tmp/bench-check-out"]),
    ):
        one_run(*args)  # warm the bytecode cache
        results = [one_run(*args) for _ in range(runs)]
        firsts = [r[0] for r in results]
        totals = [r[1] for r in results]
        print(
            f"{label}: {results[0][2]} errors; first error median {statistics.median(firsts):.2f} s "
            f"(min {min(firsts):.2f}, max {max(firsts):.2f}); exit median "
            f"{statistics.median(totals):.2f} s (min {min(totals):.2f}, max {max(totals):.2f}); "
            f"{runs} runs"
        )
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
