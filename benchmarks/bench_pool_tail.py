"""CPU and wall seconds of a build's pool-side phases (after the per-shard fan-out), repeatable.

The per-shard stages run once per SPEC (`--prepare`, on a 2-process pool) and their outcomes
(narrow frames, spill and shingle files) are kept under WORK; each later run replays only the
tail of `run_build` (rank_keepers, exact dedup, near dedup, decontamination, sample,
gather_records, write_version) on them, so a change to the tail is measured in seconds, not a
whole build. ``--serial`` runs the near tasks in this process (CPU of every phase survives
load); the default runs them on a 2-process pool (wall, as on the Dask workers).
Prints one JSON line: wall and CPU per phase, the load average, and a digest of the output
files (data/ and ledger.parquet), which must not change.

Usage (from the checkout to measure)::

    .venv/bin/python benchmarks/bench_pool_tail.py SPEC WORK --prepare
    .venv/bin/python benchmarks/bench_pool_tail.py SPEC WORK [--serial]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import pickle
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout to measure

import pipeline.build.run as run
from benchmarks.bench_scale import PoolRunner

SHARD_ROWS = 50_000


def _digest(version_dir: Path) -> str:
    """Return a digest of the version's data files and ledger (what `same.sh` compares)."""
    h = hashlib.sha256()
    for path in sorted((version_dir / "data").rglob("*")) + [version_dir / "ledger.parquet"]:
        if path.is_file():
            h.update(str(path.relative_to(version_dir)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _warm(_: int) -> None:
    import pipeline.build.pool_dedup  # noqa: F401

    time.sleep(0.5)  # one call per worker


def prepare(spec: Path, work: Path) -> None:
    """Run the per-shard stages once and keep their outcomes under `work`."""
    real = run.run_file_stages
    keep = work / "spills"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)

    def capture(files, **kwargs):
        kwargs["work_dir"] = keep
        outcomes = real(files, **kwargs)
        (work / "outcomes.pkl").write_bytes(pickle.dumps(outcomes))
        return outcomes

    run.run_file_stages = capture
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        run.run_build(
            run.load(spec), out_dir=work / "out", runner=PoolRunner(pool), shard_rows=SHARD_ROWS
        )


def replay(spec: Path, work: Path, *, serial: bool) -> dict:
    """Replay the tail of a build on the kept outcomes; return its figures."""
    outcomes = pickle.loads((work / "outcomes.pkl").read_bytes())
    run.run_file_stages = lambda files, **kwargs: outcomes
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    loaded = run.load(spec)
    load0, c0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    if serial:
        result = run.run_build(loaded, out_dir=out, shard_rows=SHARD_ROWS)
    else:
        with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
            # imported before the clock, as on the Dask workers after the per-shard stages
            list(pool.map(_warm, range(2)))
            t0 = time.perf_counter()
            result = run.run_build(
                loaded, out_dir=out, runner=PoolRunner(pool), shard_rows=SHARD_ROWS
            )
    info = json.loads((result.version_dir / "run.json").read_text())
    return {
        "wall": round(time.perf_counter() - t0, 2),
        "cpu_flow": round(time.process_time() - c0, 2),
        "wall_seconds": info["wall_seconds"],
        "flow_cpu_seconds": info["flow_cpu_seconds"],
        "digest": _digest(result.version_dir),
        "load": [load0, *os.getloadavg()],
    }


def main() -> None:
    """Prepare or replay; print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--serial", action="store_true")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.spec, args.work)
    print(json.dumps(replay(args.spec, args.work, serial=args.serial)))


if __name__ == "__main__":
    main()
