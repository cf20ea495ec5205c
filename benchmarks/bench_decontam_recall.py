"""Benchmark: decontamination recall by item length on injected copies (not a test).

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_decontam_recall.py`` (about 20 s on 2 cores).

Holdout items are the prompt side of MT-Bench (per turn), Vicuna, self-instruct, HumanEval and
GSM8K test, read with the audit's defaults (no field named). Up to 300 items per length bucket
(whitespace words: < 15, 15-30, > 30; seeded sample) are each injected four ways into one field:
verbatim, embedded in a LIMA / CodeAlpaca prompt, with 10% of the words replaced by LIMA words
(at least one), and restyled (case, punctuation, whitespace). A copy counts as found when the
engine reports its own item for that field. Controls: every LIMA and CodeAlpaca 2k prompt and
reply, untouched; any finding there is a false alarm.

Prints recall per way and bucket, per bucket, overall, and the control findings.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.stages.decontam.holdouts import read_holdout_file  # noqa: E402
from pipeline.stages.decontam.match import (  # noqa: E402
    DecontamConfig,
    HoldoutIndex,
    find_contamination,
)

SHARED = ROOT.parent / "shared" / "datasets"
SEED = 20261201
HOLDOUTS = (
    "fastchat_bench/mt_bench_question.jsonl",
    "fastchat_bench/vicuna_bench_question.jsonl",
    "self_instruct/user_oriented_instructions.jsonl",
    "humaneval/HumanEval.jsonl.gz",
    "gsm8k/test.jsonl",
)
WAYS = ("verbatim", "embedded", "words_replaced_10pct", "restyled")
PER_BUCKET = 300


def bucket(text: str) -> str:
    """Return the item's length bucket in whitespace words."""
    n = len(text.split())
    return "<15" if n < 15 else ("15-30" if n <= 30 else ">30")


class Injector:
    """The four ways of copying an item into a training field (seeded)."""

    def __init__(self, rng: random.Random, vocab: list[str], hosts: list[str]) -> None:
        self.rng, self.vocab, self.hosts = rng, vocab, hosts

    def __call__(self, item: str, way: str) -> str:
        rng = self.rng
        if way == "verbatim":
            return item
        if way == "embedded":
            host = rng.choice(self.hosts)
            return f"{host}\n\nHere is the task:\n{item}\n\nExplain each step before answering."
        if way == "words_replaced_10pct":
            spans = [m.span() for m in re.finditer(r"\S+", item)]
            chosen = rng.sample(range(len(spans)), max(1, round(0.1 * len(spans))))
            for i in sorted(chosen, reverse=True):
                start, end = spans[i]
                item = item[:start] + rng.choice(self.vocab) + item[end:]
            return item
        item = item.upper() if rng.random() < 0.5 else item.swapcase()
        item = re.sub(r"[,.?!:;]", lambda m: rng.choice([";", "", " -", "!!"]), item)
        return re.sub(r" ", lambda m: rng.choice(["  ", "\n", "\t "]), item)


def main() -> None:
    rng = random.Random(SEED)
    config = DecontamConfig()
    items = [
        item
        for name in HOLDOUTS
        for item in read_holdout_file(SHARED / name, holdout=name, label=name).items
    ]
    index = HoldoutIndex.build(items, config=config)
    lima = json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    code = json.loads((SHARED / "codealpaca" / "code_alpaca_2k.json").read_text())
    hosts = [r["instruction"] for r in lima]
    hosts += [f"{r['instruction']}\n{r['input']}".strip() for r in code]
    inject = Injector(rng, [w for r in lima for w in r["output"].split()][:20000], hosts)
    by_bucket: dict[str, list[int]] = collections.defaultdict(list)
    for i, item in enumerate(items):
        by_bucket[bucket(item.text)].append(i)
    picks = [
        i
        for b in sorted(by_bucket)
        for i in rng.sample(by_bucket[b], min(PER_BUCKET, len(by_bucket[b])))
    ]
    found, total = collections.Counter(), collections.Counter()
    misses = []
    start = time.perf_counter()
    for way in WAYS:
        texts = [inject(items[i].text, way) for i in picks]
        fields = [(k, "messages[0].content", t) for k, t in enumerate(texts)]
        hits = {
            (f.record, (f.holdout_file, f.holdout_row, f.turn))
            for f in find_contamination(fields, index=index, config=config)
        }
        for k, i in enumerate(picks):
            key = (way, bucket(items[i].text))
            total[key] += 1
            it = items[i]
            if (k, (it.file, it.row, it.turn)) in hits:
                found[key] += 1
            else:
                misses.append((way, it.text[:70], texts[k][:70]))
    controls = [r["instruction"] for r in lima] + [r["output"] for r in lima]
    controls += hosts[len(lima) :] + [r["output"] for r in code]
    alarms = find_contamination(
        [(k, "control", t) for k, t in enumerate(controls)], index=index, config=config
    )
    seconds = time.perf_counter() - start
    print(f"config {config.slug}; {len(items)} holdout items; load {os.getloadavg()}")
    print("| way | < 15 words | 15-30 | > 30 |")
    print("|---|---|---|---|")
    for way in WAYS:
        cells = [f"{found[(way, b)]}/{total[(way, b)]}" for b in ("<15", "15-30", ">30")]
        print(f"| {way} | " + " | ".join(cells) + " |")
    per = {
        b: sum(found[(w, b)] for w in WAYS) / sum(total[(w, b)] for w in WAYS)
        for b in ("<15", "15-30", ">30")
    }
    print("per bucket:", {b: round(v, 4) for b, v in per.items()})
    print(f"overall: {sum(found.values()) / sum(total.values()):.4f}")
    print(f"controls: {len(controls)} untouched fields, {len(alarms)} findings; {seconds:.1f} s")
    if "-v" in sys.argv:
        for miss in misses:
            print("MISS", miss)


if __name__ == "__main__":
    main()
