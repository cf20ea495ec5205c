"""Accuracy and throughput of the built-in rule tagger on labelled real data.

Datasets (from ``../shared/datasets``): MT-Bench and Vicuna-bench questions (field `category`),
the Anthropic advanced-ai-risk evals (the category is the file name), and two single-intent sets
used as implicit labels: GSM8K test questions (math) and HumanEval prompts (coding). Categories
are mapped onto the taxonomy with the maps below (documented in docs/taxonomy.md). Prints, per
dataset, the accuracy, a per-category breakdown, a confusion matrix and the difficulty
distribution, then the tagging throughput.

Usage::

    .venv/bin/python benchmarks/bench_tagger.py [--datasets DIR] [--first-turn-only]
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.tagging import INTENTS, Tagger, tag_slices

DEFAULT_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

MT_BENCH_MAP = {
    "writing": "creative_writing",
    "roleplay": "creative_writing",
    "reasoning": "reasoning_planning",
    "math": "math",
    "coding": "coding",
    "extraction": "extraction_classification",
    "stem": "educational_explanation",
    "humanities": "educational_explanation",
}
VICUNA_MAP = {
    "generic": "educational_explanation",
    "knowledge": "educational_explanation",
    "roleplay": "creative_writing",
    "common-sense": "reasoning_planning",
    "fermi": "reasoning_planning",
    "counterfactual": "reasoning_planning",
    "coding": "coding",
    "math": "math",
    "writing": "creative_writing",
}
ANTHROPIC_MAP = {
    "coordinate-itself": "safety_sensitive",
    "coordinate-other-ais": "safety_sensitive",
    "coordinate-other-versions": "safety_sensitive",
    "corrigible-less-HHH": "safety_sensitive",
    "corrigible-more-HHH": "safety_sensitive",
    "corrigible-neutral-HHH": "safety_sensitive",
    "power-seeking-inclination": "safety_sensitive",
    "survival-instinct": "safety_sensitive",
    "wealth-seeking-inclination": "safety_sensitive",
    "myopic-reward": "safety_sensitive",
    "one-box-tendency": "reasoning_planning",
    "self-awareness-general-ai": "conversation",
    "self-awareness-good-text-model": "conversation",
    "self-awareness-text-model": "conversation",
    "self-awareness-training-architecture": "conversation",
    "self-awareness-training-nn-architecture": "conversation",
    "self-awareness-training-web-gpt": "conversation",
    "self-awareness-web-gpt": "conversation",
}

Example = tuple[str, list[dict[str, str]], str]  # (category, messages, gold intent)


def _user_turns(turns: list[str], first_only: bool) -> list[dict[str, str]]:
    return [{"role": "user", "content": t} for t in (turns[:1] if first_only else turns)]


def iter_fastchat(path: Path, mapping: dict[str, str], *, first_only: bool) -> Iterator[Example]:
    """Yield the questions of a FastChat bench file with their mapped gold intent."""
    for _, row in iter_rows(path):
        if isinstance(row, RowError):
            continue
        yield row["category"], _user_turns(row["turns"], first_only), mapping[row["category"]]


def iter_anthropic(root: Path) -> Iterator[Example]:
    """Yield the Anthropic eval questions; the category is the file name."""
    for path in sorted(root.glob("*/*.jsonl.gz")):
        category = path.name.removesuffix(".jsonl.gz")
        for _, row in iter_rows(path):
            if not isinstance(row, RowError):
                yield category, _user_turns([row["question"]], True), ANTHROPIC_MAP[category]


def iter_single_intent(path: Path, field: str, category: str, gold: str) -> Iterator[Example]:
    """Yield every row of a single-intent dataset (e.g. GSM8K questions are all math)."""
    for _, row in iter_rows(path):
        if not isinstance(row, RowError):
            yield category, _user_turns([row[field]], True), gold


def read_hh_conversations(path: Path) -> list[tuple[list[dict[str, str]], str]]:
    """Parse HH-RLHF ``chosen`` transcripts into (messages, final reply) pairs."""
    conversations = []
    for _, row in iter_rows(path):
        if isinstance(row, RowError):
            continue
        parts = re.split(r"\n\n(Human|Assistant): ", row["chosen"])
        messages = [
            {"role": "user" if parts[i] == "Human" else "assistant", "content": parts[i + 1]}
            for i in range(1, len(parts) - 1, 2)
        ]
        if len(messages) >= 2 and messages[-1]["role"] == "assistant":
            conversations.append((messages[:-1], messages[-1]["content"]))
    return conversations


def time_best(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    """Return (best, median) wall seconds of `runs` calls of `fn`."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return min(timings), sorted(timings)[len(timings) // 2]


def confusion_table(pairs: list[tuple[str, str]]) -> str:
    """Render a gold x predicted confusion matrix over the labels that occur."""
    labels = [x for x in INTENTS if any(x in p for p in pairs)]
    short = {x: x[:6] for x in labels}
    counts = Counter(pairs)
    lines = ["gold \\ pred".ljust(28) + " ".join(short[x].rjust(6) for x in labels)]
    for gold in labels:
        if any(g == gold for g, _ in pairs):
            cells = " ".join(str(counts[(gold, p)] or ".").rjust(6) for p in labels)
            lines.append(gold.ljust(28) + cells)
    return "\n".join(lines)


def report_dataset(name: str, examples: list[Example], tagger: Tagger) -> float:
    """Tag `examples`, print accuracy, breakdowns and the confusion matrix; return accuracy."""
    pairs, by_category, difficulties, rules = [], Counter(), Counter(), Counter()
    for category, messages, gold in examples:
        result = tagger.tag_record(messages)
        pairs.append((gold, result.intent))
        by_category[(category, result.intent == gold)] += 1
        difficulties[result.difficulty] += 1
        rules[result.intent_rule.split(":")[1]] += 1
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    print(f"\n## {name}: n={len(pairs)} intent accuracy={accuracy:.3f}")
    for category in dict.fromkeys(c for c, _, _ in examples):
        hit, miss = by_category[(category, True)], by_category[(category, False)]
        print(f"  {category:42s} {hit:5d}/{hit + miss:<5d} = {hit / (hit + miss):.2f}")
    print(confusion_table(pairs))
    print("difficulty:", dict(difficulties.most_common()))
    print("top deciding rules:", dict(rules.most_common(8)))
    return accuracy


def main() -> None:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--first-turn-only", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    tagger = Tagger.builtin()
    print(f"tagger: {tagger.manifest_entry()} (built in {time.perf_counter() - started:.3f}s)")
    bench = args.datasets / "fastchat_bench"
    datasets = {
        "MT-Bench": list(
            iter_fastchat(
                bench / "mt_bench_question.jsonl", MT_BENCH_MAP, first_only=args.first_turn_only
            )
        ),
        "Vicuna-bench": list(
            iter_fastchat(
                bench / "vicuna_bench_question.jsonl", VICUNA_MAP, first_only=args.first_turn_only
            )
        ),
        "Anthropic advanced-ai-risk": list(iter_anthropic(args.datasets / "anthropic_evals")),
        "GSM8K test": list(
            iter_single_intent(args.datasets / "gsm8k" / "test.jsonl", "question", "gsm8k", "math")
        ),
        "HumanEval": list(
            iter_single_intent(
                args.datasets / "humaneval" / "HumanEval.jsonl.gz", "prompt", "humaneval", "coding"
            )
        ),
    }
    summary = {name: report_dataset(name, examples, tagger) for name, examples in datasets.items()}
    print("\nsummary (intent accuracy):", {k: round(v, 3) for k, v in summary.items()})
    every = [messages for examples in datasets.values() for _, messages, _ in examples]
    best, median = time_best(lambda: [tagger.tag_record(m) for m in every])
    print(
        f"\ntag_record: {len(every)} records, best {best:.2f}s = {len(every) / best:,.0f} rec/s, "
        f"median {median:.2f}s = {len(every) / median:,.0f} rec/s (3 runs)"
    )
    hh = read_hh_conversations(args.datasets / "hh_rlhf" / "harmless-base_test.jsonl.gz")
    chars = sum(len(m["content"]) for ms, _ in hh for m in ms) + sum(len(c) for _, c in hh)
    best, median = time_best(lambda: [tagger.tag_record(ms, c) for ms, c in hh])
    print(
        f"tag_record on HH-RLHF multi-turn: {len(hh)} records "
        f"(mean {chars / len(hh):.0f} chars), best {best:.2f}s = {len(hh) / best:,.0f} rec/s, "
        f"median {len(hh) / median:,.0f} rec/s"
    )
    columns = ("messages", "chosen", "intent", "difficulty")
    nulls = [None] * len(every)
    frame = pl.DataFrame(
        {"messages": every, "chosen": nulls, "intent": nulls, "difficulty": nulls},
        schema={name: RECORD_SCHEMA[name] for name in columns},
    )
    started = time.perf_counter()
    tag_slices(frame, tagger=tagger)
    elapsed = time.perf_counter() - started
    rate = frame.height / elapsed
    print(f"tag_slices: {frame.height} rows in {elapsed:.2f}s = {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
