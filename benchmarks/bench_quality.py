"""CPU seconds of `tag_quality` on the shard frames a serial build of SPEC hands it.

The first run captures those frames and the build's `QualityConfig` into FRAMES (a serial
build with `tag_quality` wrapped to write its input as Parquet); later runs only time `tag_quality` on them (best of `--repeats`,
`time.process_time`), so two checkouts compare on the same frames. It imports whichever
`pipeline` the current directory holds: run it from each checkout in turn, interleaved.

Usage::

    cd CHECKOUT && .venv/bin/python /work/main/benchmarks/bench_quality.py \\
        /tmp/cmp/n100000/spec.yaml /tmp/cmp/quality-frames [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout to measure, not this file's


def capture(spec: Path, frames: Path) -> None:
    """Build `spec` serially, writing each frame `tag_quality` gets to `frames`/fN.parquet."""
    import pipeline.build.config as build_config
    from pipeline.build.run import load, run_build

    original = build_config.tag_quality
    written = 0

    def keep(frame, *, config):
        nonlocal written
        (frames / "config.pickle").write_bytes(pickle.dumps(config))
        frame.write_parquet(frames / f"f{written}.parquet")
        written += 1
        return original(frame, config=config)

    build_config.tag_quality = keep
    frames.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="bench-quality-"))
    try:
        run_build(load(spec), out_dir=out, shard_rows=50_000)
    finally:
        build_config.tag_quality = original
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    """Capture the frames if needed, then print tag_quality's best CPU seconds as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("frames", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not sorted(args.frames.glob("f*.parquet")):
        capture(args.spec, args.frames)
    import polars as pl

    from pipeline.stages.quality import tag_quality

    config = pickle.loads((args.frames / "config.pickle").read_bytes())  # the build's own
    frames = [pl.read_parquet(p) for p in sorted(args.frames.glob("f*.parquet"))]
    load_before = os.getloadavg()[0]
    best = float("inf")
    for _ in range(args.repeats):
        start = time.process_time()
        for frame in frames:
            tag_quality(frame, config=config)
        best = min(best, time.process_time() - start)
    print(
        json.dumps(
            {
                "frames": len(frames),
                "rows": sum(map(len, frames)),
                "tag_quality_cpu_seconds": round(best, 3),
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
