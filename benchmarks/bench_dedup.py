"""Benchmark: mixgate MinHash/decontamination vs datasketch on real data (not a test).

Run: ``.venv/bin/python benchmarks/bench_dedup.py`` (about 1-2 minutes on 2 cores).
End to end (issue 15): ``--e2e`` times ``mixgate audit`` against `benchmarks/datasketch_audit.py`
as processes on a synthetic corpus (40k records x 2k holdout items); ``--signatures`` times
signatures of 100k synthetic docs (datasketch, mixgate on 1 and 2 processes, rensa). Both print
the load average, medians of interleaved runs and same-run ratios (wall and CPU).

Corpus: LIMA + CodeAlpaca (2k + new) + GSM8K train + AlpacaEval GPT-4 outputs, as records
(text fields joined for signatures; fields kept apart for the audit). Holdouts: GSM8K test
questions, HumanEval prompts, Vicuna-bench turns, self-instruct instructions. Injected
contamination (seeded) is added to the pool: 200 GSM8K + 164 HumanEval items, each verbatim,
embedded in a longer prompt, with 10% of words replaced, and restyled.

1. Signatures (word 5-grams, 128 permutations): mixgate batch vs one datasketch ``MinHash`` per
   document fed the same shingle strings (and rensa ``RMinHash`` if importable).
2. Audit: mixgate's engine (holdout index + containment) vs a straightforward datasketch script
   (``MinHashLSH`` over holdout items, query every data field, verify candidates by exact
   containment). Recall is measured on the injected items.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import polars as pl  # noqa: E402
from datasketch import MinHash, MinHashLSH  # noqa: E402

from pipeline.records.text import normalize_text  # noqa: E402
from pipeline.stages.decontam.match import (  # noqa: E402
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    find_contamination,
)
from pipeline.stages.dedup.minhash import compute_signatures  # noqa: E402
from pipeline.stages.dedup.near import NearDedupConfig, tag_near_duplicates  # noqa: E402
from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
SEED = 20261127
VERBOSE = "-v" in sys.argv
_WORD = re.compile(r"\w+")


def load_pool() -> list[dict[str, str]]:
    """Return the pool records as ``{field: text}`` dicts."""
    pool = [
        {"instruction": r["instruction"], "output": r["output"]}
        for r in json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    ]
    pool += [
        {k: r[k] for k in ("instruction", "input", "output") if r.get(k)}
        for r in json.loads((SHARED / "codealpaca" / "code_alpaca_2k.json").read_text())
    ]
    pool += [
        {k: r[k] for k in ("instruction", "input", "output") if r.get(k)}
        for r in json.load(gzip.open(SHARED / "codealpaca" / "new_codealpaca.json.gz", "rt"))
    ]
    pool += [
        {"question": r["question"], "answer": r["answer"]}
        for r in map(json.loads, gzip.open(SHARED / "gsm8k" / "train.jsonl.gz", "rt"))
    ]
    pool += [
        {"instruction": r["instruction"], "output": r["output"]}
        for r in json.load(gzip.open(SHARED / "alpaca_eval" / "gpt4_model_outputs.json.gz", "rt"))
    ]
    return pool


def load_holdouts() -> list[HoldoutItem]:
    """Return the holdout items (prompt field of each eval)."""

    def jsonl(path: Path) -> list[dict]:
        opener = gzip.open if path.suffix == ".gz" else open
        return [json.loads(line) for line in opener(path, "rt") if line.strip()]

    items = [
        HoldoutItem("gsm8k/test", "test.jsonl", i, r["question"])
        for i, r in enumerate(jsonl(SHARED / "gsm8k" / "test.jsonl"))
    ]
    items += [
        HoldoutItem("humaneval", "HumanEval.jsonl.gz", i, r["prompt"])
        for i, r in enumerate(jsonl(SHARED / "humaneval" / "HumanEval.jsonl.gz"))
    ]
    items += [
        HoldoutItem("vicuna", "vicuna_bench_question.jsonl", i, "\n".join(r["turns"]))
        for i, r in enumerate(jsonl(SHARED / "fastchat_bench" / "vicuna_bench_question.jsonl"))
    ]
    items += [
        HoldoutItem("self_instruct", "user_oriented_instructions.jsonl", i, r["instruction"])
        for i, r in enumerate(jsonl(SHARED / "self_instruct" / "user_oriented_instructions.jsonl"))
    ]
    return items


def inject(
    pool: list[dict[str, str]], items: list[HoldoutItem], rng: random.Random
) -> dict[int, tuple[str, int]]:
    """Append contaminated records to `pool`; return {record index: (holdout, row)}."""
    vocab = [w for r in pool[:1000] for w in r["output"].split()]
    gsm = [it for it in items if it.holdout == "gsm8k/test"]
    picks = rng.sample(gsm, 200) + [it for it in items if it.holdout == "humaneval"]
    truth = {}
    for way in ("verbatim", "embedded", "replaced", "restyled"):
        for item in picks:
            text = item.text
            if way == "embedded":
                host = pool[rng.randrange(1000)]["instruction"]
                text = f"{host}\n\nTask:\n{text}\n\nAnswer step by step."
            elif way == "replaced":
                spans = [m.span() for m in re.finditer(r"\S+", text)]
                for i in sorted(
                    rng.sample(range(len(spans)), max(1, round(0.1 * len(spans)))), reverse=True
                ):
                    text = text[: spans[i][0]] + rng.choice(vocab) + text[spans[i][1] :]
            elif way == "restyled":
                text = re.sub(r" ", "  ", re.sub(r"[,.?!]", ";", text.swapcase()))
            truth[len(pool)] = (item.holdout, item.row)
            pool.append({"instruction": text, "output": pool[rng.randrange(1000)]["output"]})
    return truth


def word_shingles(text: str, n: int) -> list[bytes]:
    r"""Python shingling equivalent to mixgate's (tokens ``\\w+`` of normalized text)."""
    tokens = _WORD.findall(normalize_text(text))
    if len(tokens) < n:
        return [" ".join(tokens).encode()] if tokens else []
    return [" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]


def interleaved(
    runs: dict[str, object], reps: int
) -> tuple[dict[str, float], dict[str, float], dict[str, object]]:
    """Run each callable once per rep, in rotating order.

    Returns (median wall seconds, median CPU seconds of this process, last result) per name.
    CPU time is reported because the 2-core box is shared: it is less sensitive to neighbours.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, object] = {}
    names = list(runs)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            results.pop(name, None)  # free the previous result before timing
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = runs[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    if VERBOSE:
        print({name: [round(x, 2) for x in t] for name, t in wall.items()})
    median = statistics.median
    return (
        {n: median(t) for n, t in wall.items()},
        {n: median(t) for n, t in cpu.items()},
        results,
    )


def bench_signatures(texts: list[str], reps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Time signature computation for every text, per implementation (interleaved reps)."""
    config = MinHashConfig()

    def datasketch_run():
        out = []
        for text in texts:
            m = MinHash(num_perm=128, seed=1)
            m.update_batch(word_shingles(text, 5))
            out.append(m)
        return len(out)

    runs = {
        "mixgate": lambda: compute_signatures(
            compute_shingle_sets(texts, config=config), config=config
        ),
        "datasketch": datasketch_run,
    }
    try:
        import rensa
    except ImportError:
        print("rensa: not importable, skipped")
    else:

        def rensa_run():
            out = []
            for text in texts:
                m = rensa.RMinHash(num_perm=128, seed=1)
                m.update([s.decode() for s in word_shingles(text, 5)])
                out.append(m)
            return len(out)

        runs["rensa"] = rensa_run
    wall, cpu, _ = interleaved(runs, reps)
    return wall, cpu


def mixgate_audit(fields, items, config):
    """Run the engine of `mixgate audit`: build the index, match every field."""
    index = HoldoutIndex.build(items, config=config)
    return {
        (f.record, f.holdout, f.holdout_row)
        for f in find_contamination(fields, index=index, config=config)
    }


def datasketch_audit(fields, items, config, lsh_threshold):
    """Run a plain script: MinHashLSH over the items, query each field, verify containment."""
    n = config.shingles.n
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=128)
    item_sets = []
    for i, item in enumerate(items):
        shingles = set(word_shingles(item.text, n))
        item_sets.append(shingles)
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles))
        lsh.insert(i, m)
    found = set()
    for record, _, text in fields:
        shingles = set(word_shingles(text, n))
        m = MinHash(num_perm=128)
        m.update_batch(list(shingles))
        for i in lsh.query(m):
            if (
                item_sets[i]
                and len(item_sets[i] & shingles) / len(item_sets[i]) >= config.threshold
            ):
                found.add((record, items[i].holdout, items[i].row))
    return found


def recall_of(found: set, truth: dict[int, tuple[str, int]]) -> float:
    """Share of injected records found with their own holdout item."""
    return sum((rec, *hit) in found for rec, hit in truth.items()) / len(truth)


def e2e_audit(reps: int) -> None:
    """`mixgate audit` vs the plain datasketch script, both as processes, interleaved."""
    from bench_e2e import interleave, loadavg
    from e2e_data import write_audit_corpus

    work = Path(os.environ.get("MIXGATE_BENCH_DIR", "/tmp/mixgate-bench-e2e"))
    data, holdout = work / "data.jsonl", work / "holdout.jsonl"
    truth_file = work / "truth.json"
    if not truth_file.is_file():
        truth = write_audit_corpus(work)
        truth_file.write_text(json.dumps(sorted(truth.items())))
    truth = {int(r): int(i) for r, i in json.loads(truth_file.read_text())}
    py, bin_dir = sys.executable, Path(sys.executable).parent
    commands = {
        "mixgate audit": [
            str(bin_dir / "mixgate"),
            "audit",
            "--data",
            str(data),
            "--holdout",
            str(holdout),
            "--no-cache",
            "--json",
            str(work / "mixgate.json"),
        ],
        "datasketch script": [
            py,
            str(ROOT / "benchmarks" / "datasketch_audit.py"),
            str(data),
            str(holdout),
            str(work / "datasketch.json"),
        ],
    }
    ref = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--ref=")), None)
    recall_files = {"mixgate audit": work / "mixgate.json"}
    if ref:  # another checkout's `mixgate` (e.g. main before a change), timed in the same run
        commands["mixgate audit (ref)"] = [
            ref,
            *commands["mixgate audit"][1:-1],
            str(work / "mixgate-ref.json"),
        ]
        recall_files["mixgate audit (ref)"] = work / "mixgate-ref.json"
    print(
        f"e2e audit: {data} ({data.stat().st_size / 1e6:.1f} MB, 40,000 records) vs "
        f"{holdout} (2,000 items); {len(truth)} injected; load before: {loadavg()}"
    )
    res = interleave(commands, reps, verbose=True)
    found = {
        name: {(f["data_row"], f["holdout_row"]) for f in json.loads(file.read_text())["findings"]}
        for name, file in recall_files.items()
    }
    found["datasketch script"] = {
        tuple(x) for x in json.loads((work / "datasketch.json").read_text())
    }
    recall = {
        name: sum((r, i) in hits for r, i in truth.items()) / len(truth)
        for name, hits in found.items()
    }
    if ref:
        same = (work / "mixgate.json").read_bytes() == (work / "mixgate-ref.json").read_bytes()
        print(f"  mixgate JSON report byte-identical to the ref's: {same}")
    base = res["mixgate audit"]
    print(f"\nmedians of {reps} interleaved runs (load after: {loadavg()})")
    for name, r in res.items():
        print(
            f"  {name:<18} wall {r['wall']:6.2f} s  x{r['wall'] / base['wall']:5.1f} | "
            f"cpu {r['cpu']:6.2f} s  x{r['cpu'] / base['cpu']:5.1f} vs mixgate | "
            f"recall {recall[name]:.3f}"
        )


def signatures_e2e(reps: int, n_docs: int) -> None:
    """Signatures of synthetic docs: datasketch, mixgate (1 and 2 processes), rensa, same run."""
    from bench_e2e import interleave, loadavg
    from e2e_data import docs

    work = Path(os.environ.get("MIXGATE_BENCH_DIR", "/tmp/mixgate-bench-sig"))
    corpus = work / f"docs-{n_docs}.jsonl"
    if not corpus.is_file():
        work.mkdir(parents=True, exist_ok=True)
        with corpus.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(t) + "\n" for t in docs(n_docs))
    runner, py = str(ROOT / "benchmarks" / "sig_runner.py"), sys.executable
    rensa_py = os.environ.get("RENSA_PYTHON", "/tmp/rensa-env/bin/python")
    impls = ["datasketch", "mixgate_sets_1proc", "mixgate_1proc", "mixgate_2proc"]
    commands = {name: [py, runner, name, str(corpus)] for name in impls}
    if Path(rensa_py).is_file():
        for name in ("rensa_perdoc", "rensa_flat"):
            commands[name] = [rensa_py, runner, name, str(corpus)]
    else:
        print(
            f"!!! rensa NOT MEASURED: {rensa_py} does not exist. Make it with\n"
            "!!!   .venv/bin/uv venv /tmp/rensa-env -p .venv/bin/python && .venv/bin/uv pip "
            "install -p /tmp/rensa-env/bin/python rensa==0.5.0 numpy==2.4.6 polars==2.1.0\n"
            "!!! (or set RENSA_PYTHON); rensa is never a mixgate dependency"
        )
    size = corpus.stat().st_size / 1e6
    print(f"signatures: {n_docs:,} synthetic docs ({size:.0f} MB JSONL), word 5-grams, 128 perms")
    print(f"load before: {loadavg()}")
    res = interleave(commands, reps, verbose=True)
    stats = {
        name: {
            key: statistics.median(json.loads(out.strip().splitlines()[-1])[key] for out in outs)
            for key in ("wall", "cpu", "peak_mb")
        }
        for name, outs in ((n, r["stdouts"]) for n, r in res.items())
    }
    print(
        f"\nmedians of {reps} interleaved runs of the signature step, timed inside each process "
        f"(CPU includes forked workers; load after: {loadavg()})"
    )
    base = stats["datasketch"]
    for name in commands:
        st = stats[name]
        print(
            f"  {name:<19} wall {st['wall']:7.2f} s  x{base['wall'] / st['wall']:5.1f} | "
            f"cpu {st['cpu']:7.2f} s  x{base['cpu'] / st['cpu']:5.1f} vs datasketch | "
            f"peak RSS +{st['peak_mb']:.0f} MB"
        )
    rensa = [name for name in ("rensa_flat", "rensa_perdoc") if name in stats]
    for name in ("mixgate_1proc", "mixgate_2proc"):
        for other in rensa:  # > 1: mixgate ahead
            print(
                f"  {name} vs {other}: wall x{stats[other]['wall'] / stats[name]['wall']:.2f}, "
                f"cpu x{stats[other]['cpu'] / stats[name]['cpu']:.2f}"
            )


def main() -> None:
    """Run the benchmarks and print figures and ratios."""
    reps = next((int(a.split("=")[1]) for a in sys.argv if a.startswith("--reps=")), 3)
    if "--e2e" in sys.argv:
        return e2e_audit(reps)
    if "--signatures" in sys.argv:
        docs = next((int(a.split("=")[1]) for a in sys.argv if a.startswith("--docs=")), 100_000)
        return signatures_e2e(reps, docs)
    logging.basicConfig(level=logging.INFO if VERBOSE else logging.WARNING, format="  %(message)s")
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{platform.processor() or 'cpu'}"
    )
    rng = random.Random(SEED)
    pool, items = load_pool(), load_holdouts()
    truth = inject(pool, items, rng)
    texts = ["\n".join(r.values()) for r in pool]
    fields = [(i, k, v) for i, r in enumerate(pool) for k, v in r.items()]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(
        f"pool: {len(pool)} records, {len(fields)} fields, {mb:.1f} MB; "
        f"holdout items: {len(items)}; "
        f"injected: {len(truth)}"
    )

    sig, sig_cpu = bench_signatures(texts, reps=5)
    print("\n1. signatures (word 5-grams, 128 perms), median of 5 interleaved runs, 1 core")
    for name, seconds in sig.items():
        print(
            f"  {name:<11} wall {seconds:6.2f} s  {len(texts) / seconds:8,.0f} docs/s  "
            f"x{sig['datasketch'] / seconds:5.1f} | cpu {sig_cpu[name]:6.2f} s  "
            f"x{sig_cpu['datasketch'] / sig_cpu[name]:5.1f} vs datasketch"
        )

    config = DecontamConfig()
    times, times_cpu, found = interleaved(
        {
            "mixgate engine": lambda: mixgate_audit(fields, items, config),
            "datasketch LSH t=0.5": lambda: datasketch_audit(fields, items, config, 0.5),
            "datasketch LSH t=0.3": lambda: datasketch_audit(fields, items, config, 0.3),
        },
        reps=2,
    )
    print("\n2. audit (every field vs every holdout item), median of 2 interleaved runs")
    known = {f[0] for f in found["mixgate engine"]} - set(truth)
    base, base_cpu = times["mixgate engine"], times_cpu["mixgate engine"]
    for name, seconds in times.items():
        cpu_seconds, recall = times_cpu[name], recall_of(found[name], truth)
        print(
            f"  {name:<21} wall {seconds:6.2f} s  x{seconds / base:5.1f} | "
            f"cpu {cpu_seconds:6.2f} s  x{cpu_seconds / base_cpu:5.1f} vs mixgate | "
            f"recall {recall:.3f}"
        )
    print(
        f"  (mixgate also flags {len(known)} non-injected records: the AlpacaEval rows copied "
        "from vicuna/self-instruct and GSM8K train's same-template items)"
    )

    frame = pl.DataFrame(
        {
            "record_id": [f"r{i:06d}" for i in range(len(pool))],
            "messages": [
                [{"role": "user", "content": t}, {"role": "assistant", "content": ""}]
                for t in texts
            ],
            "dedup_keeper_rank": pl.Series(range(len(pool)), dtype=pl.UInt32),
        }
    )
    near, _, tagged = interleaved(
        {"near": lambda: tag_near_duplicates(frame, config=NearDedupConfig())}, reps=3
    )
    dropped = tagged["near"]["near_drop_rule"].is_not_null().sum()
    print(
        f"\n3. within-pool near-dedup (J >= 0.8, 16x8 bands, exact verification): "
        f"{near['near']:.2f} s for {len(pool)} records, {dropped} tagged"
    )


if __name__ == "__main__":
    main()
