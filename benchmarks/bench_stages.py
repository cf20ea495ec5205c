"""CPU seconds of each per-row stage on one source of the scale benchmark's input.

The per-file and per-shard stages (ingest, slice tagging, quality, content keys, near-dedup
shingles, decontamination tags) run one after another in this process on the first `--rows`
records of one source of `benchmarks/bench_scale.py`'s synthetic input (generated under `--work`
if missing, untimed); each figure is the best CPU time (``time.process_time``) of `--repeats`.
CPU time, not wall time, so the figure survives a busy machine; to compare two versions, run
this file from each checkout in turn, twice, interleaved. The PII stage has its own benchmarks.

Usage::

    .venv/bin/python benchmarks/bench_stages.py --source chat --rows 5000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import GENERATED, SOURCES, generate, write_spec

from pipeline.build.config import build_config
from pipeline.build.run import load
from pipeline.stages.dedup.exact import content_keys
from pipeline.stages.dedup.near import record_shingle_sets
from pipeline.stages.ingest import ingest_file

INPUT_RECORDS = 250_000  # the scale benchmark's 250 k input (each source has >= 37,500 rows)


def best_cpu(fn: Callable[[], object], repeats: int) -> float:
    """Return the least CPU seconds of `repeats` calls of `fn`."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return round(best, 3)


def main() -> None:
    """Time each stage on one source and print one JSON line (with the load average)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=[s[0] for s in SOURCES], default="chat")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mixgate-scale"))
    args = parser.parse_args()
    root = args.work / f"n{INPUT_RECORDS}"
    if not (root / GENERATED).is_file():
        generate(root, INPUT_RECORDS)
    spec = write_spec(root, INPUT_RECORDS, 50_000)
    loaded = load(spec)
    config = build_config(loaded.spec, base_dir=root)
    source = next(s for s in loaded.spec.sources if s.name == args.source)

    def ingest():  # type: ignore[no-untyped-def]
        return ingest_file(
            root / f"{args.source}.jsonl",
            source=source,
            base_dir=root,
            check=config.check_label,
            rows=(0, args.rows),
        ).records

    frame = ingest()
    tagged = config.tag(frame)
    load_before = os.getloadavg()[0]
    stages: dict[str, Callable[[], object]] = {
        "ingest": ingest,
        "tag": lambda: config.tag(frame),
        "quality": lambda: config.stages["quality"](tagged),
        "content_key": lambda: content_keys(tagged),
        "shingles": lambda: record_shingle_sets(tagged, config=config.near.minhash),
        "decontam": lambda: config.stages["decontam"](tagged),
    }
    seconds = {name: best_cpu(fn, args.repeats) for name, fn in stages.items()}
    print(
        json.dumps(
            {
                "source": args.source,
                "rows": frame.height,
                "cpu_seconds": seconds,
                "us_per_record": {k: round(v * 1e6 / frame.height) for k, v in seconds.items()},
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
