"""CPU seconds of reading past a shard's earlier rows: line by line (the read from row 0) vs
`_stream_lines(skip=...)`, interleaved per shard in one process (rows checked equal).

For every 50,000-row shard start of every JSONL file of DIR (the scale input, e.g.
/tmp/mixgate-scale/n1000000), reads the shard's first row both ways and prints one JSON line
with the CPU seconds of each, the lines skipped and the load average::

    .venv/bin/python benchmarks/bench_shard_skip.py /tmp/mixgate-scale/n1000000
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())


def main() -> None:
    """Time both ways of reaching each shard's first row."""
    from pipeline.io import streams
    from pipeline.io.limits import DEFAULT_LIMITS as LIMITS
    from pipeline.io.readers import _iter_jsonl

    def line_by_line(path: Path, start: int) -> list:
        return list(
            _iter_jsonl(streams._stream_lines(path, False, LIMITS), LIMITS, start, start + 1)
        )

    def skipping(path: Path, start: int) -> list:
        lines = streams._stream_lines(path, False, LIMITS, skip=start)
        return list(_iter_jsonl(lines, LIMITS, start, start + 1, first=start))

    ways = {"line_by_line": line_by_line, "skip": skipping}
    seconds, skipped, load_before = dict.fromkeys(ways, 0.0), 0, os.getloadavg()[0]
    for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
        with path.open("rb") as fh:
            rows = sum(1 for _ in fh)
        for k, start in enumerate(range(50_000, rows, 50_000)):
            out = {}
            for name in sorted(ways, reverse=k % 2 == 1):
                started = time.process_time()
                out[name] = ways[name](path, start)
                seconds[name] += time.process_time() - started
            if out["skip"] != out["line_by_line"]:
                raise SystemExit(f"{path.name}: rows differ at {start}")
            skipped += start
    result = {name: round(value, 3) for name, value in seconds.items()}
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps({"cpu_seconds": result, "lines_skipped": skipped, "loadavg": load}))


if __name__ == "__main__":
    main()
