"""PII screening benchmark: accuracy on presidio-research's synthetic set, throughput on LIMA.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pii.py            # accuracy + throughput
    .venv/bin/python benchmarks/bench_pii.py --skip-throughput
    nice -n 10 .venv/bin/python benchmarks/bench_pii.py --end-to-end --repeats 3  # CLI + build stage

Accuracy: `synth_dataset_v2.json` (1,500 template sentences with Faker values; character spans in
``spans``). A gold span is recalled when a finding of the same entity type overlaps it; a finding
is correct when it overlaps a gold span of its type. US_SSN counts only gold values that are valid
social security numbers (area not 000/666/9xx, group not 00, serial not 0000, not a well-known
advertised number): presidio rejects invalid ones by design.

Throughput: LIMA records (every text field of a record), the plain per-text
``AnalyzerEngine.analyze`` loop (same offline engine, same entities, whole texts) against
`PiiScanner.scan_texts` with 1 and 2 worker processes (cold caches, see `measure_throughput`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import phonenumbers  # noqa: E402
from presidio_analyzer.predefined_recognizers import PhoneRecognizer  # noqa: E402

from pipeline.stages.pii import PiiConfig, PiiScanner  # noqa: E402
from pipeline.stages.pii.credentials import SECRET_ENTITIES  # noqa: E402
from pipeline.stages.pii.engine import LANGUAGE  # noqa: E402
from tests.pipeline.stages.pii.test_synthetic import is_valid_ssn  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
SYNTH = SHARED / "presidio_synth" / "synth_dataset_v2.json"
LIMA = SHARED / "lima" / "lima.json.gz"
TARGETS = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "US_SSN")


def is_valid_phone(value: str) -> bool:
    """Return whether phonenumbers finds a valid number in `value` for presidio's default regions."""
    return any(
        phonenumbers.PhoneNumberMatcher(value, region, leniency=1).has_next()
        for region in PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS
    )


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def measure_accuracy(scanner: PiiScanner) -> dict[str, dict[str, float]]:
    """Per entity type: gold, recalled, predicted, correct, recall, precision."""
    records = json.loads(SYNTH.read_text(encoding="utf-8"))
    found = scanner.scan_texts([r["full_text"] for r in records])
    stats: dict[str, Counter] = {e: Counter() for e in (*TARGETS, "PHONE_NUMBER (valid)")}
    skipped_ssn = 0
    for record, findings in zip(records, found, strict=True):
        gold = []
        for s in record["spans"]:
            if s["entity_type"] == "US_SSN" and not is_valid_ssn(s["entity_value"]):
                skipped_ssn += 1
                continue
            gold.append((s["entity_type"], (s["start_position"], s["end_position"])))
        invalid_ssn_spans = [
            (s["start_position"], s["end_position"])
            for s in record["spans"]
            if s["entity_type"] == "US_SSN" and not is_valid_ssn(s["entity_value"])
        ]
        for entity in TARGETS:
            g = [span for e, span in gold if e == entity]
            p = [(f.start, f.end) for f in findings if f.entity_type == entity]
            if (
                entity == "US_SSN"
            ):  # a finding on an excluded (invalid) SSN is neither right nor wrong
                p = [x for x in p if not any(_overlaps(x, s) for s in invalid_ssn_spans)]
            stats[entity]["gold"] += len(g)
            stats[entity]["recalled"] += sum(any(_overlaps(x, y) for y in p) for x in g)
            stats[entity]["predicted"] += len(p)
            stats[entity]["correct"] += sum(any(_overlaps(y, x) for x in g) for y in p)
        valid_phones = [
            (s["start_position"], s["end_position"])
            for s in record["spans"]
            if s["entity_type"] == "PHONE_NUMBER" and is_valid_phone(s["entity_value"])
        ]
        phones = [(f.start, f.end) for f in findings if f.entity_type == "PHONE_NUMBER"]
        stats["PHONE_NUMBER (valid)"]["gold"] += len(valid_phones)
        stats["PHONE_NUMBER (valid)"]["recalled"] += sum(
            any(_overlaps(x, y) for y in phones) for x in valid_phones
        )
    for key in ("predicted", "correct"):  # same predictions as the PHONE_NUMBER row
        stats["PHONE_NUMBER (valid)"][key] = stats["PHONE_NUMBER"][key]
    out = {}
    for entity, c in stats.items():
        recall = c["recalled"] / c["gold"] if c["gold"] else float("nan")
        precision = c["correct"] / c["predicted"] if c["predicted"] else float("nan")
        out[entity] = {**c, "recall": recall, "precision": precision}
    out["_excluded_invalid_ssn"] = {"count": skipped_ssn}
    return out


def lima_texts() -> tuple[int, list[str]]:
    """Return (record count, every text field of every LIMA record)."""
    records = json.loads(gzip.decompress(LIMA.read_bytes()))
    texts = []
    for r in records:
        texts += [r["instruction"], r["input"], r["output"]] + [
            t for pair in r["history"] for t in pair
        ]
    return len(records), [t for t in texts if t]


def measure_throughput(config: PiiConfig, repeats: int) -> dict[str, float]:
    """Records/s on LIMA: the plain analyze loop, then `PiiScanner` with 1 and 2 workers.

    Every scanner pass starts cold: a new scanner (and pool) per repeat, warmed up on other
    texts (presidio_synth) so that process start-up and engine building are not timed, and
    with empty caches for the LIMA texts. Best of `repeats`.
    """
    n_records, texts = lima_texts()
    warm = [r["full_text"] for r in json.loads(SYNTH.read_text(encoding="utf-8"))[:400]]
    entities = [e for e in config.entities if e not in SECRET_ENTITIES]  # presidio's own types
    results: dict[str, float] = {
        "records": n_records,
        "texts": len(texts),
        "chars": sum(map(len, texts)),
    }
    with PiiScanner(config) as scanner:
        analyzer = scanner._analyzer
        t, cpu = time.perf_counter(), time.process_time()
        for text in texts:
            analyzer.analyze(text, language=LANGUAGE, entities=entities)
        results["plain_loop"] = n_records / (time.perf_counter() - t)
        results["plain_loop_per_cpu_s"] = n_records / (time.process_time() - cpu)
    for workers in (1, 2):
        best = best_cpu = 0.0
        for _ in range(repeats):
            with PiiScanner(config, workers=workers) as scanner:
                t = time.perf_counter()
                scanner.scan_texts(warm)
                results[f"warm_up_{workers}_s"] = time.perf_counter() - t
                t, cpu = time.perf_counter(), time.process_time()
                scanner.scan_texts(texts)
                best = max(best, n_records / (time.perf_counter() - t))
                best_cpu = max(best_cpu, n_records / (time.process_time() - cpu))
        results[f"scanner_{workers}_worker"] = best
        if workers == 1:
            results["scanner_1_worker_per_cpu_s"] = best_cpu
    return results


def main() -> None:
    """Print accuracy per entity type and throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help="only `mixgate scan-pii` as a process (1 and 2 workers) and the build's PII stage",
    )
    parser.add_argument(
        "--ref", type=Path, help="with --end-to-end: also time this other checkout of mixgate"
    )
    args = parser.parse_args()
    if args.end_to_end:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_pii_e2e import main as end_to_end

        end_to_end(args.repeats, args.ref)
        return
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}"
    )
    config = PiiConfig(
        actions={e: "flag" for e in TARGETS}, allow_email_domains=(), allow_ip_networks=()
    )
    with PiiScanner(config) as scanner:
        accuracy = measure_accuracy(scanner)
    print(f"accuracy on {SYNTH.name} (threshold {config.score_threshold}):")
    print(
        f"{'entity':<21}{'gold':>6}{'recalled':>9}{'pred':>6}{'correct':>8}{'recall':>8}{'precision':>10}"
    )
    for entity in (*TARGETS, "PHONE_NUMBER (valid)"):
        a = accuracy[entity]
        print(
            f"{entity:<21}{a['gold']:>6}{a['recalled']:>9}{a['predicted']:>6}{a['correct']:>8}"
            f"{a['recall']:>8.3f}{a['precision']:>10.3f}"
        )
    print(
        f"US_SSN gold spans excluded as invalid numbers: {accuracy['_excluded_invalid_ssn']['count']}"
    )
    print(
        "PHONE_NUMBER (valid): recall over gold numbers phonenumbers deems valid in presidio's regions"
    )
    if not args.skip_throughput:
        tp = measure_throughput(PiiConfig(), args.repeats)
        print(
            f"throughput on LIMA ({tp['records']} records, {tp['texts']} texts, {tp['chars']:,} chars), records/s:"
        )
        for key in ("plain_loop", "scanner_1_worker", "scanner_2_worker"):
            print(f"  {key:<20}{tp[key]:>10,.0f}  (wall clock)")
        for key in ("plain_loop_per_cpu_s", "scanner_1_worker_per_cpu_s"):
            print(f"  {key:<28}{tp[key]:>10,.0f}  (records per CPU-second of this process)")
        print(f"  load average after the run: {os.getloadavg()[0]:.2f}")
        print(f"  warm-up incl. pool start (2 workers, 400 short texts): {tp['warm_up_2_s']:.2f} s")


if __name__ == "__main__":
    main()
