"""`tag_slices` of another checkout vs this one, interleaved in one process (survives load).

Loads BASE's tagging modules (features, index, tagger; the rule files and everything else come
from this checkout) next to this checkout's, ingests the spec's sources, and tags every row
that needs a tag in 1,000-row slices, alternating which version runs first; per slice the
minimum CPU time (`time.process_time`) over `--rounds` is kept, and the sums are printed as one
JSON line with their ratio and the load average. Frames are checked equal on every slice::

    cd /work/wt/you && .venv/bin/python benchmarks/bench_tag_interleaved.py BASE_CHECKOUT \\
        /tmp/cmp/n100000/spec.yaml [--rounds 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, os.getcwd())  # this checkout


def _base_modules(base: Path) -> ModuleType:
    """BASE's tagger module, wired to BASE's features and index."""
    package = "pipeline.stages.tagging"
    saved = {name: sys.modules[f"{package}.{name}"] for name in ("features", "index")}
    loaded: dict[str, ModuleType] = {}
    for name in ("features", "index", "tagger"):
        spec = importlib.util.spec_from_file_location(
            f"base_{name}", base / f"{package.replace('.', '/')}/{name}.py"
        )
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[f"base_{name}"] = sys.modules[f"{package}.{name}"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        loaded[name] = module
    for name, module in saved.items():
        sys.modules[f"{package}.{name}"] = module
    return loaded["tagger"]


def main() -> None:
    """Tag the spec's unlabelled rows with both versions, interleaved, and print CPU seconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    import polars as pl

    import pipeline.stages.tagging.tagger as ours
    from pipeline.build.config import build_config
    from pipeline.build.run import load
    from pipeline.stages.ingest import ingest_file

    theirs = _base_modules(args.base.resolve())
    loaded = load(args.spec)
    base_dir = args.spec.parent
    config = build_config(loaded.spec, base_dir=base_dir)
    frames = [
        ingest_file(
            base_dir / s.path, source=s, base_dir=base_dir, check=config.check_label
        ).records
        for s in loaded.spec.sources
    ]
    todo = pl.concat(
        [f.filter(pl.col("intent").is_null() | pl.col("difficulty").is_null()) for f in frames]
    )
    versions = {"base": (theirs, theirs.Tagger.builtin()), "ours": (ours, ours.Tagger.builtin())}
    slices = [todo.slice(i, 1000) for i in range(0, todo.height, 1000)]
    best = {name: [float("inf")] * len(slices) for name in versions}
    load_before = os.getloadavg()[0]
    for r in range(args.rounds):
        for k, part in enumerate(slices):
            names = ["base", "ours"] if (r + k) % 2 == 0 else ["ours", "base"]
            out = {}
            for name in names:
                module, tagger = versions[name]
                started = time.process_time()
                out[name] = module.tag_slices(part, tagger=tagger)
                best[name][k] = min(best[name][k], time.process_time() - started)
            if not out["base"].equals(out["ours"]):
                raise SystemExit(f"frames differ on slice {k}")
    base_s, ours_s = sum(best["base"]), sum(best["ours"])
    print(
        json.dumps(
            {
                "rows": todo.height,
                "base_cpu_seconds": round(base_s, 3),
                "ours_cpu_seconds": round(ours_s, 3),
                "ratio": round(ours_s / base_s, 3),
                "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
