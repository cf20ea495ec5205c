"""Synthetic corpora for the end-to-end benchmarks (`bench_dedup.py --e2e`, `--signatures`).

Seeded, so every run and every machine gets the same bytes. Words are drawn from a Zipf-like
distribution over a pseudo-word vocabulary; holdout items are questions of 15-60 words, and a
share of the data records carry one of them verbatim, embedded, with 10% of the words replaced,
or restyled (case, punctuation, doubled spaces).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20261202
_SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"]


def vocabulary(rng: random.Random, size: int = 50_000) -> tuple[list[str], list[float]]:
    """Return pseudo-words and Zipf weights (rank ** -0.9)."""
    words = sorted({"".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(size)})
    rng.shuffle(words)
    return words, [1 / (rank + 1) ** 0.9 for rank in range(len(words))]


def sentence_maker(rng: random.Random):
    """Return ``make(n_words) -> str``: words with commas and full stops."""
    words, weights = vocabulary(rng)
    cum = list(__import__("itertools").accumulate(weights))

    def make(n: int) -> str:
        toks = rng.choices(words, cum_weights=cum, k=n)
        out = []
        for i, t in enumerate(toks):
            out.append(t.capitalize() if i == 0 or out[-1].endswith(".") else t)
            if i < n - 1 and rng.random() < 0.08:
                out[-1] += "," if rng.random() < 0.6 else "."
        return " ".join(out) + rng.choice(".?")

    return make


def docs(n: int, *, seed: int = SEED) -> list[str]:
    """Return `n` synthetic documents of 150-350 words (the signature benchmark's corpus)."""
    rng = random.Random(seed)
    make = sentence_maker(rng)
    return [make(rng.randint(150, 350)) for _ in range(n)]


def _edit(text: str, way: str, rng: random.Random, make) -> str:
    if way == "embedded":
        return f"{make(rng.randint(10, 40))}\n\nTask:\n{text}\n\nAnswer step by step."
    if way == "replaced":
        spans = [m.span() for m in re.finditer(r"\S+", text)]
        for i in sorted(
            rng.sample(range(len(spans)), max(1, round(0.1 * len(spans)))), reverse=True
        ):
            text = text[: spans[i][0]] + make(1).rstrip(".?").lower() + text[spans[i][1] :]
        return text
    if way == "restyled":
        return re.sub(r" ", "  ", re.sub(r"[,.?!]", ";", text.swapcase()))
    return text


def write_audit_corpus(
    directory: Path, *, records: int = 40_000, items: int = 2_000, injected: int = 1_000
) -> dict[int, int]:
    """Write ``data.jsonl`` and ``holdout.jsonl``; return {data row: holdout row} injected."""
    rng = random.Random(SEED)
    make = sentence_maker(rng)
    questions = [make(rng.randint(15, 60)) for _ in range(items)]
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "holdout.jsonl").open("w", encoding="utf-8") as fh:
        for i, q in enumerate(questions):
            fh.write(json.dumps({"id": f"q{i}", "question": q, "answer": make(8)}) + "\n")
    truth: dict[int, int] = {}
    rows = sorted(rng.sample(range(records), injected))
    ways = ("verbatim", "embedded", "replaced", "restyled")
    with (directory / "data.jsonl").open("w", encoding="utf-8") as fh:
        for row in range(records):
            record = {
                "instruction": make(rng.randint(10, 60)),
                "output": make(rng.randint(40, 250)),
            }
            if rng.random() < 0.3:
                record["input"] = make(rng.randint(5, 40))
            if truth.__len__() < injected and row == rows[len(truth)]:
                item = rng.randrange(items)
                way = ways[len(truth) % 4]
                record["instruction"] = _edit(questions[item], way, rng, make)
                truth[row] = item
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return truth
