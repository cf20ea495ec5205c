"""CPU seconds of `ingest_file` alone (reading, canonicalization, record ids, the records frame).

Ingests every source file of SPEC in this process (no tagging, no later stage; the file hash is
given, as the build gives it), `--repeats` passes, and prints one JSON line: the CPU seconds
(`time.process_time`) of each pass, their minimum, the garbage collector's share
(`gc.callbacks`), a digest of the frames and ledgers (schema and rows: equal digests mean equal
outputs) and the load average. It imports whichever `pipeline` the current directory holds, so
the same file compares two checkouts on one input; run it from each in turn, interleaved::

    cd CHECKOUT && .venv/bin/python /work/main/benchmarks/bench_ingest.py \\
        /tmp/cmp/n100000/spec.yaml [--repeats 3] [--digest]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.getcwd())  # the checkout to measure, not this file's


class GcClock:
    """CPU seconds spent in garbage collections, per generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._start = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
            return
        self.seconds[info["generation"]] += time.process_time() - self._start
        self.count[info["generation"]] += 1


def main() -> None:
    """Ingest SPEC's sources `--repeats` times and print CPU seconds per pass as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--digest", action="store_true", help="hash frames (after timing)")
    args = parser.parse_args()
    from pipeline.build.run import load
    from pipeline.stages.ingest import ingest_file

    loaded = load(args.spec)
    load_before, clock, passes = os.getloadavg()[0], GcClock(), []
    digest = hashlib.sha256()
    for _ in range(args.repeats):
        cpu = 0.0
        for source in loaded.spec.sources:
            c0 = time.process_time()
            result = ingest_file(
                loaded.base_dir / source.path,
                source=source,
                base_dir=loaded.base_dir,
                check=lambda value, *_: value,
                sha256="0" * 64,
            )
            cpu += time.process_time() - c0
            if args.digest and len(passes) == 0:
                frames = (result.records, result.ledger)
                digest.update(repr([(f.schema, f.rows()) for f in frames]).encode())
            del result
        passes.append(round(cpu, 2))
    out = {
        "checkout": os.getcwd(),
        "ingest_cpu_seconds": passes,
        "min": min(passes),
        "gc_cpu_seconds_per_pass": round(sum(clock.seconds) / args.repeats, 2),
        "gc_collections": clock.count,
        "digest": digest.hexdigest()[:16] if args.digest else None,
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
