"""CPU seconds of the slice-tagging stage (`tag_slices`) on every source file of a spec.

Each source of SPEC is ingested (untimed), then `tag_slices` runs on each frame `--repeats`
times, interleaved, and the best CPU time (``time.process_time``: survives a busy machine) per
source is printed as one JSON line with the load average. It imports whichever `pipeline` the
current directory holds, so one file compares two checkouts on one input: run it from each in
turn, twice, interleaved.

Usage (the 100 k input of bench_scale's generator)::

    cd CHECKOUT && .venv/bin/python /work/main/benchmarks/bench_tag_slices.py \\
        /tmp/cmp/n100000/spec.yaml [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout to measure, not this file's


def main() -> None:
    """Ingest every source of SPEC, then time `tag_slices` on each frame."""
    from pipeline.build.config import build_config
    from pipeline.build.run import load
    from pipeline.stages.ingest import ingest_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    loaded = load(args.spec)
    base_dir = args.spec.parent
    config = build_config(loaded.spec, base_dir=base_dir)
    frames = {
        source.name: ingest_file(
            base_dir / source.path, source=source, base_dir=base_dir, check=config.check_label
        ).records
        for source in loaded.spec.sources
    }
    load_before = os.getloadavg()[0]
    best = dict.fromkeys(frames, float("inf"))
    for _ in range(args.repeats):
        for name, frame in frames.items():
            started = time.process_time()
            config.tag(frame)
            best[name] = min(best[name], time.process_time() - started)
    print(
        json.dumps(
            {
                "cpu_seconds": {name: round(value, 3) for name, value in best.items()},
                "total": round(sum(best.values()), 3),
                "tagged_rows": sum(f["intent"].null_count() for f in frames.values()),
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
