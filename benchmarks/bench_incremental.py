"""Full vs incremental builds: one changed source out of five real ones.

Sources (from ``../shared/datasets``): LIMA (JSON array), HH-RLHF harmless-base test (JSONL.gz,
preference), CodeAlpaca 2k (JSON array), GSM8K train (JSONL.gz) and a copy of GSM8K test
(JSONL, the source that changes). Builds run in-process (`SerialRunner`, no Prefect overhead)
through `run_build(..., cache=..., shard_rows=...)`, each into a fresh output directory:

1. ``full``: no cache.
2. ``cold``: empty cache (full work plus writing the cache).
3. ``warm``: nothing changed (every file loaded from the cache; cross-source stages re-run).
4. ``incremental``: the GSM8K-test copy lost its last record; only that file is recomputed.
5. ``sharded``: the full build with ``--shard-rows`` (default 2000): same output, more tasks.

Each figure is the median of ``--repeat`` runs. The script checks that the incremental output
equals a fresh full build of the changed inputs (data parts and ledger, byte for byte).

Usage::

    .venv/bin/python benchmarks/bench_incremental.py [--datasets DIR] [--repeat 3] [--shard-rows 2000]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.build.cache import KeyedStore
from pipeline.build.run import BuildResult, load, run_build

DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SPEC = """\
name: bench
seed: 7
total: 4000
sources:
  - {{name: lima, kind: sft, path: "{d}/lima/lima.json.gz", license: CC-BY-NC-SA-4.0,
     fields: {{instruction: prompt, input: input, output: response}},
     intent: conversation, difficulty: straightforward}}
  - {{name: hh, kind: preference, path: "{d}/hh_rlhf/harmless-base_test.jsonl.gz", license: MIT,
     intent: conversation, difficulty: straightforward}}
  - {{name: codealpaca, kind: sft, path: "{d}/codealpaca/code_alpaca_2k.json", license: CC-BY-4.0,
     fields: {{instruction: prompt, input: input, output: response}},
     intent: coding, difficulty: straightforward}}
  - {{name: gsm8k, kind: sft, path: "{d}/gsm8k/train.jsonl.gz", license: MIT,
     fields: {{question: prompt, answer: response}}, intent: math, difficulty: multi_step}}
  - {{name: gsm8k_test, kind: sft, path: "gsm8k_test.jsonl", license: MIT,
     fields: {{question: prompt, answer: response}}, intent: math, difficulty: multi_step}}
license_policy: {{allow: [], deny: [], unknown: deny}}
slices:
  - {{intent: conversation, difficulty: straightforward, weight: 2}}
  - {{intent: coding, difficulty: straightforward, weight: 1}}
  - {{intent: math, difficulty: multi_step, weight: 1}}
sampling: {{max_repeats: 1, shortfall: allow_short}}
"""


def _build(spec: Path, out: Path, *, cache: KeyedStore | None = None, shard_rows: int = 100_000):
    loaded = load(spec)
    t0 = time.perf_counter()
    result = run_build(loaded, out_dir=out, cache=cache, shard_rows=shard_rows)
    return time.perf_counter() - t0, result


def _payload(result: BuildResult) -> dict[str, bytes]:
    paths = [
        *sorted((result.version_dir / "data").rglob("*.parquet")),
        result.version_dir / "ledger.parquet",
    ]
    return {p.name: p.read_bytes() for p in paths}


def main() -> None:
    """Run the scenarios and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shard-rows", type=int, default=2000)
    args = parser.parse_args()
    times: dict[str, list[float]] = {
        k: [] for k in ("full", "cold", "warm", "incremental", "sharded")
    }
    stats: dict[str, dict[str, int]] = {}
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="bench-incr-"))
        spec = work / "bench.yaml"
        spec.write_text(SPEC.format(d=args.datasets.resolve().as_posix()), encoding="utf-8")
        changing = work / "gsm8k_test.jsonl"
        shutil.copy(args.datasets / "gsm8k" / "test.jsonl", changing)
        times["full"].append(_build(spec, work / "full")[0])
        times["sharded"].append(_build(spec, work / "sharded", shard_rows=args.shard_rows)[0])
        for name in ("cold", "warm"):
            store = KeyedStore(work / "cache", "files")
            times[name].append(_build(spec, work / name, cache=store)[0])
            stats[name] = store.stats()
        lines = changing.read_text(encoding="utf-8").splitlines(keepends=True)
        changing.write_text("".join(lines[:-1]), encoding="utf-8")
        store = KeyedStore(work / "cache", "files")
        seconds, incremental = _build(spec, work / "incremental", cache=store)
        times["incremental"].append(seconds)
        stats["incremental"] = store.stats()
        _, fresh = _build(spec, work / "fresh")
        if _payload(incremental) != _payload(fresh):
            raise SystemExit("incremental output differs from a fresh full build")
        records = sum(i["records"] for i in incremental.manifest["inputs"])
        shutil.rmtree(work)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(
        f"input records: {records} in {len(incremental.manifest['inputs'])} files; repeat {args.repeat}\n"
    )
    print("| build | median s | runs (s) | cache hits / misses |")
    print("|---|---:|---|---|")
    for name, values in times.items():
        hits = stats.get(name)
        cache = f"{hits['hits']} / {hits['misses']}" if hits else "-"
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {statistics.median(values):.2f} | {runs} | {cache} |")


if __name__ == "__main__":
    main()
