"""End-to-end timing helpers for `bench_dedup.py --e2e` / `--signatures` (processes, not calls).

Each command runs as its own process, timed from the parent: wall clock with `perf_counter`,
CPU as user+sys of the child tree (`RUSAGE_CHILDREN` deltas). Commands are interleaved (the
order rotates each repeat) and medians reported, with the load average before and after.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Sequence


def loadavg() -> str:
    """Return the 1/5/15-minute load averages as text."""
    return " ".join(open("/proc/loadavg").read().split()[:3])


def run_timed(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run `cmd`; return (wall s, CPU s of the child tree, stdout). Exit codes 0/1 are fine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd), capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        msg = f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def interleave(
    commands: dict[str, Sequence[str]], reps: int, *, verbose: bool = False
) -> dict[str, dict[str, object]]:
    """Run every command `reps` times in rotating order; return per name medians and stdouts."""
    names = list(commands)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    outs: dict[str, list[str]] = {n: [] for n in names}
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            wall, cpu, out = run_timed(commands[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
            outs[name].append(out)
            if verbose:
                print(f"  rep {rep} {name}: wall {wall:.2f} s cpu {cpu:.2f} s (load {loadavg()})")
    return {
        n: {
            "wall": statistics.median(walls[n]),
            "cpu": statistics.median(cpus[n]),
            "walls": walls[n],
            "stdout": outs[n][-1],
            "stdouts": outs[n],
        }
        for n in names
    }
