"""CPU seconds of pool preparation's functions, the replaced definition vs today's, in one run.

A serial build of SPEC (untimed, `--shard-rows` rows per shard) captures each shard's frame as
it enters the PII stage and as it leaves the per-file stages; then, `--repeats` times,
interleaved, each pair runs over all the captured frames: the definitions replaced in issue 15
(tests/pipeline/stages/dedup/reference.py) against today's, plus the spill written with zstd vs
LZ4. Prints one JSON line: CPU seconds (``time.process_time``) per run, equality, load average.

Usage (the 100 k input of bench_scale's generator)::

    .venv/bin/python benchmarks/bench_prep.py /tmp/cmp/n100000/spec.yaml [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.getcwd())


def _capture(spec: Path, shard_rows: int) -> tuple[list, list, object]:
    """Return the PII-stage input frames, the per-file outcome records and the build config."""
    import pipeline.build.shards as shards
    from pipeline.build.config import build_config
    from pipeline.build.run import load, run_build

    pii_in, pool_in, real = [], [], shards.process_file

    def capture(task, *, config):
        pii = config.stages["pii"]

        def keep(frame):
            pii_in.append(frame)
            return pii(frame)

        outcome = real(
            task, config=dataclasses.replace(config, stages={**config.stages, "pii": keep})
        )
        pool_in.append(outcome.records)
        return outcome

    shards.process_file = capture
    loaded = load(spec)
    with tempfile.TemporaryDirectory() as out:
        run_build(loaded, out_dir=Path(out), shard_rows=shard_rows)
    shards.process_file = real
    return pii_in, pool_in, build_config(loaded.spec, base_dir=loaded.base_dir)


def _pairs(pii_in: list, pool_in: list, config) -> dict:
    """Name -> (frames, replaced definition, today's)."""
    from pipeline.build.spill import write_spill
    from pipeline.stages.decontam import match
    from pipeline.stages.dedup import exact, near
    from tests.pipeline.stages.dedup import reference

    minhash = config.near.minhash
    tag = config.stages["decontam"]
    spill = Path(tempfile.mkdtemp()) / "spill.parquet"

    def old_decontam(frame):
        today, match._expand = match._expand, reference.expand_postings
        try:
            return tag(frame)
        finally:
            match._expand = today

    return {
        "record_shingle_sets": (
            pii_in,
            lambda f: reference.record_shingle_sets(f, config=minhash),
            lambda f: near.record_shingle_sets(f, config=minhash),
        ),
        "content_keys": (pii_in, reference.content_keys, exact.content_keys),
        "record_sides": (pii_in, reference.record_sides, near.record_sides),
        "tag_contamination (_expand only)": (pool_in, old_decontam, tag),
        "spill write": (
            pool_in,
            lambda f: f.write_parquet(spill, compression="zstd", statistics=False),
            lambda f: write_spill(f, spill),
        ),
    }


def _same(a, b) -> bool:
    if hasattr(a, "equals"):
        return a.equals(b)
    if hasattr(a, "hashes"):
        return bool((a.hashes == b.hashes).all() and (a.offsets == b.offsets).all())
    return a == b


def main() -> None:
    """Capture the shard frames of SPEC, then time each pair of definitions, interleaved."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shard-rows", type=int, default=50_000)
    args = parser.parse_args()
    pairs = _pairs(*_capture(args.spec, args.shard_rows))
    load_before = os.getloadavg()
    result: dict = {}
    for name, (frames, old, new) in pairs.items():
        runs: dict[str, list[float]] = {"before": [], "after": []}
        outs: dict[str, list] = {}
        for _ in range(args.repeats):
            for label, fn in (("before", old), ("after", new)):
                c0 = time.process_time()
                outs[label] = [fn(f) for f in frames]
                runs[label].append(round(time.process_time() - c0, 3))
        same = all(_same(a, b) for a, b in zip(outs["before"], outs["after"], strict=True))
        result[name] = {**runs, "same": same}
    result["loadavg"] = [list(load_before), list(os.getloadavg())]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
