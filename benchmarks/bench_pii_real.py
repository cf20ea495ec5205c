"""PII screening on real text: precision per type from the hand labels, the build's PII stage
throughput on LIMA with 2 workers, and the cost of each added phone region.

Run from the repository root (needs ../shared/datasets)::

    .venv/bin/python benchmarks/bench_pii_real.py                 # everything
    .venv/bin/python benchmarks/bench_pii_real.py --skip-precision

Precision: the labels of tests/data/pii_labels/real_text.jsonl (README there). "before" is the
screen of ``pii_presidio_v1`` (the labels' first 384 findings, every one of its findings on these
files); "after" is the current default screen, scanned now. Recall is pooled: the labelled true
findings of either version.

Stage throughput (`bench_pii_e2e.stage_throughput`): LIMA ingested and tagged as in a build,
screened by the build's own PII stage function (`BuildConfig.stages["pii"]`: tag, redact,
pre-redaction dedup key) in 1 worker process and in 2 (halves), pool started and warmed first;
median of `--repeats`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import yaml  # noqa: E402

from pipeline.build.config import build_config  # noqa: E402
from pipeline.build.run import load  # noqa: E402
from pipeline.stages.ingest import ingest_file  # noqa: E402
from pipeline.stages.pii import PiiConfig, PiiScanner  # noqa: E402
from pipeline.stages.pii.config import DEFAULT_REGIONS  # noqa: E402
from tests.pipeline.stages.pii.test_real_text import LABELS, scan_sources  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_pii_e2e import stage_throughput  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
LIMA = SHARED / "lima" / "lima.json.gz"
V1_FINDINGS = 384  # the first lines of the label file: every finding of pii_presidio_v1


def _table(tp: Counter, fp: Counter, true: Counter) -> list[str]:
    rows = []
    for entity in sorted(set(tp) | set(fp) | set(true)):
        found = tp[entity] + fp[entity]
        precision = f"{tp[entity] / found:.3f}" if found else "-"
        recall = f"{tp[entity] / true[entity]:.3f}" if true[entity] else "-"
        rows.append(
            f"| {entity} | {found} | {tp[entity]} | {fp[entity]} | {precision} | {recall} |"
        )
    return rows


def precision_tables() -> None:
    """Print before / after precision and pooled recall per entity type (markdown)."""
    lines = [json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines()]
    labels = {
        (d["file"], d["row"], d["field"], d["start"], d["end"], d["entity_type"]): d["label"]
        for d in lines
    }
    true = Counter(k[5] for k, v in labels.items() if v)
    tp, fp = Counter(), Counter()
    for d in lines[:V1_FINDINGS]:
        (tp if d["label"] else fp)[d["entity_type"]] += 1
    header = [
        "| entity | findings | true | false | precision | pooled recall |",
        "|---|---|---|---|---|---|",
    ]
    print("before (pii_presidio_v1):", *header, *_table(tp, fp, true), sep="\n")
    t = time.perf_counter()
    with PiiScanner(PiiConfig(), workers=2) as scanner:
        found = scan_sources(scanner)
    seconds = time.perf_counter() - t
    tp, fp = Counter(), Counter()
    for key in found:
        (tp if labels.get(key) else fp)[key[5]] += 1
    print(f"after (default config, {seconds:.1f} s):", *header, *_table(tp, fp, true), sep="\n")
    print("unlabelled findings:", sum(k not in labels for k in found))


def lima_frame(tmp: Path) -> tuple[pl.DataFrame, object]:
    """LIMA ingested and tagged as a build does it, and the build's config."""
    spec = {
        "name": "bench",
        "seed": 1,
        "total": 1000,
        "sources": [
            {
                "name": "lima",
                "kind": "sft",
                "license": "CC-BY-NC-SA-4.0",
                "path": str(LIMA),
                "intent": "conversation",
                "difficulty": "straightforward",
            }
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(spec))
    loaded = load(path)
    config = build_config(loaded.spec, base_dir=tmp)
    result = ingest_file(
        LIMA, source=loaded.spec.sources[0], base_dir=tmp, check=config.check_label
    )
    return config.tag(result.records), config


def region_cost(repeats: int) -> None:
    """Print 1-process scanner records/s on LIMA for growing region lists."""
    import gzip

    records = json.loads(gzip.decompress(LIMA.read_bytes()))
    texts = [t for r in records for t in (r["instruction"], r["input"], r["output"]) if t]
    for regions in (DEFAULT_REGIONS, (*DEFAULT_REGIONS, "DK", "TW", "SA", "JP"), ("US",)):
        best = 0.0
        for _ in range(repeats):
            scanner = PiiScanner(PiiConfig(regions=regions), cache_size=0)
            t = time.perf_counter()
            for text in texts:
                scanner.analyze_text(text)
            best = max(best, len(records) / (time.perf_counter() - t))
        print(
            f"regions {len(regions):>2} ({','.join(regions)}): {best:,.0f} records/s, 1 process",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-precision", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("load average:", Path("/proc/loadavg").read_text().strip())
    if not args.skip_precision:
        precision_tables()
    stage_throughput(args.repeats)
    region_cost(args.repeats)
    print("load average:", Path("/proc/loadavg").read_text().strip())


if __name__ == "__main__":
    main()
