"""CPU seconds per per-shard stage of a serial in-process build, for today's code or stop 8's.

Runs `run_build` with the serial runner (no Prefect, no Dask) on SPEC, with the per-shard stage
timers reading `time.process_time` (every thread of this process) instead of wall time, and
prints one JSON line: CPU per stage, the whole build's CPU, drops per stage and the load
average. It imports whichever `pipeline` the current directory holds, so the same file compares
two checkouts on one input, e.g. stop 8 (34f63ae, `pipeline/build.py`) and today's
(`pipeline/build/shards.py`); run it from each in turn, interleaved. `--pickle` ships every
shard task's arguments through pickle first, as a Dask or pool worker receives them.

Usage (the input: `bench_scale.py`'s generator, e.g. 100 k records under /tmp/cmp/n100000)::

    cd CHECKOUT && .venv/bin/python /work/main/benchmarks/bench_serial_cpu.py \\
        /tmp/cmp/n100000/spec.yaml /tmp/cmp/out [--shard-rows 50000] [--pickle]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, os.getcwd())  # the checkout to measure, not this file's

CPU_CLOCK = types.SimpleNamespace(
    perf_counter=time.process_time, process_time=time.process_time, time=time.time
)


class PickleRunner:
    """Serial, but each mapped task gets its arguments through pickle (as a worker does)."""

    def call(self, name: str, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def map(self, name: str, fn: Any, items: Any, /, **kwargs: Any) -> list[Any]:
        results = []
        for item in items:
            shipped, shipped_kwargs = pickle.loads(pickle.dumps((item, kwargs)))
            results.append(fn(shipped, **shipped_kwargs))
        return results


def _code() -> tuple[str, Any, Any]:
    """Return (which code, load, run_build) with the shard timers switched to CPU time."""
    try:
        import pipeline.build.shards as shards
        from pipeline.build.run import load, run_build

        code = "today"
    except ImportError:  # stop 8's layout
        import pipeline.build as shards  # type: ignore[no-redef]
        from pipeline.release import load, run_build  # type: ignore[no-redef]

        code = "stop8"
    shards.time = CPU_CLOCK  # type: ignore[attr-defined]
    return code, load, run_build


def main() -> None:
    """Build SPEC serially and print the CPU seconds of each per-shard stage as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--shard-rows", type=int, default=50_000)
    parser.add_argument("--pickle", action="store_true")
    args = parser.parse_args()
    code, load, run_build = _code()
    shutil.rmtree(args.out, ignore_errors=True)
    loaded = load(args.spec)
    load_before, c0 = os.getloadavg()[0], time.process_time()
    runner = PickleRunner() if args.pickle else None
    result = run_build(loaded, out_dir=args.out, runner=runner, shard_rows=args.shard_rows)
    cpu = time.process_time() - c0
    run = json.loads((result.version_dir / "run.json").read_text())
    counts = result.manifest["counts"]["stages"]
    print(
        json.dumps(
            {
                "code": code,
                "pickle": args.pickle,
                "build_cpu_seconds": round(cpu, 1),
                "stage_cpu_seconds": {k: round(v, 1) for k, v in run["stage_seconds"].items()},
                "dropped": {
                    st: sum(v["dropped"] for v in per.values()) for st, per in counts.items()
                },
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
