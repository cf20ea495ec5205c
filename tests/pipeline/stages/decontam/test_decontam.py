"""Decontamination: containment on exact shingle sets, short items, index cache, injected leaks."""

from __future__ import annotations

import gzip
import json
import random
import re

import polars as pl
import pytest

from pipeline.stages.decontam.match import (
    RULE_ID,
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    find_contamination,
    load_holdout_index,
    tag_contamination,
)
from pipeline.errors import ConfigError
from tests.conftest import SHARED

CONFIG = DecontamConfig()


def _index(*texts: str) -> HoldoutIndex:
    return HoldoutIndex.build(
        [HoldoutItem("h", "h.jsonl", i, t) for i, t in enumerate(texts)], config=CONFIG
    )


def test_short_item_inside_a_long_field_is_found_by_containment():
    item = "Natalia sold clips to 48 of her friends in April and then half as many in May."
    field = "Some preamble about the weather. " * 20 + item + " And a long unrelated ending. " * 20
    (finding,) = find_contamination(
        [(0, "messages[0].content", field)], index=_index(item), config=CONFIG
    )
    assert (finding.score, finding.method, finding.holdout_row) == (1.0, "containment", 0)


def test_item_without_shingles_matches_a_whole_field_or_sentence_exactly():
    index = _index("Who are you?")  # one word 3-gram: below `min_item_shingles`
    fields = [
        (0, "a", "who ARE you"),
        (1, "a", "Hello there. Who are you? I am Bob."),
        (2, "a", "Who are you kidding?"),
    ]
    found = find_contamination(fields, index=index, config=CONFIG)
    assert sorted((f.record, f.method) for f in found) == [(0, "exact"), (1, "exact")]


def test_boilerplate_shared_by_many_items_is_not_evidence():
    template = "Write a Python function that takes a list and returns"
    items = [
        f"{template} the {w} of its elements" for w in ("sum", "product", "maximum", "minimum")
    ]
    index = HoldoutIndex.build(
        [HoldoutItem("h", "h", i, t) for i, t in enumerate(items)],
        config=DecontamConfig(template_max_df=3),
    )
    field = f"{template} a sorted copy, please"
    assert (
        find_contamination([(0, "f", field)], index=index, config=DecontamConfig(template_max_df=3))
        == []
    )


def test_index_is_cached_on_disk_and_reused(tmp_path):
    items = [HoldoutItem("h", "h.jsonl", 0, "the quick brown fox jumps over the lazy dog")]
    calls = []

    def read_items():
        calls.append(1)
        return items

    first = load_holdout_index(read_items, digests=["abc"], config=CONFIG, cache_dir=tmp_path)
    second = load_holdout_index(read_items, digests=["abc"], config=CONFIG, cache_dir=tmp_path)
    other = load_holdout_index(read_items, digests=["abd"], config=CONFIG, cache_dir=tmp_path)
    assert (first.loaded_from_cache, second.loaded_from_cache, other.loaded_from_cache) == (
        False,
        True,
        False,
    )
    assert len(calls) == 2
    assert list(tmp_path.glob("*/postings.parquet"))
    field = [(0, "f", "so the quick brown fox jumps over the lazy dog again")]
    assert find_contamination(field, index=second, config=CONFIG) == find_contamination(
        field, index=first, config=CONFIG
    )


def test_index_built_with_other_shingling_is_refused():
    with pytest.raises(ConfigError, match="shingling"):
        find_contamination(
            [(0, "f", "x")], index=_index("a b c d"), config=DecontamConfig(template_max_df=7)
        )


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="`threshold`.*1.5"):
        DecontamConfig(threshold=1.5)


# --- injected contamination in real SFT records ---------------------------------------------


def _sft_frame(pairs: list[tuple[str, str]], source: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_id": [f"{source}-{i}" for i in range(len(pairs))],
            "messages": [
                [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
                for u, a in pairs
            ],
        }
    )


def _replace_words(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    """Replace `rate` of the whitespace-separated words, keeping the layout (code indentation)."""
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    chosen = sorted(rng.sample(range(len(spans)), max(1, round(rate * len(spans)))), reverse=True)
    for i in chosen:
        start, end = spans[i]
        text = text[:start] + rng.choice(vocab) + text[end:]
    return text


def _restyle(text: str, rng: random.Random) -> str:
    text = text.upper() if rng.random() < 0.5 else text.swapcase()
    text = re.sub(r"[,.?!:;]", lambda m: rng.choice([";", "", " -", "!!"]), text)
    return re.sub(r" ", lambda m: rng.choice(["  ", "\n", "\t "]), text)


WAYS = ("verbatim", "embedded", "words_replaced_10pct", "restyled")


def _inject(item: str, host: str, way: str, vocab: list[str], rng: random.Random) -> str:
    if way == "verbatim":
        return item
    if way == "embedded":
        return f"{host}\n\nHere is the task:\n{item}\n\nExplain each step before answering."
    if way == "words_replaced_10pct":
        return _replace_words(item, 0.10, vocab, rng)
    return _restyle(item, rng)


def test_injected_holdout_items_are_found_and_untouched_records_are_not():
    rng = random.Random(20261127)
    gsm = [json.loads(line) for line in (SHARED / "gsm8k" / "test.jsonl").open()]
    humaneval = [
        json.loads(line) for line in gzip.open(SHARED / "humaneval" / "HumanEval.jsonl.gz", "rt")
    ]
    lima = json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    code = json.loads((SHARED / "codealpaca" / "code_alpaca_2k.json").read_text())
    items = [HoldoutItem("gsm8k/test", "test.jsonl", i, r["question"]) for i, r in enumerate(gsm)]
    items += [
        HoldoutItem("humaneval", "HumanEval.jsonl.gz", i, r["prompt"])
        for i, r in enumerate(humaneval)
    ]
    index = HoldoutIndex.build(items, config=CONFIG)
    vocab = [w for r in lima for w in r["output"].split()][:20000]

    lima_pairs = [(r["instruction"], r["output"]) for r in lima]
    code_pairs = [(f"{r['instruction']}\n{r['input']}".strip(), r["output"]) for r in code]
    controls = pl.concat([_sft_frame(lima_pairs, "lima"), _sft_frame(code_pairs, "code")])
    assert (
        tag_contamination(controls, index=index, config=CONFIG)["decontam_drop_rule"].null_count()
        == controls.height
    )

    picks = [
        ("gsm8k/test", i, gsm[i]["question"], lima_pairs) for i in rng.sample(range(len(gsm)), 150)
    ]
    picks += [("humaneval", i, r["prompt"], code_pairs) for i, r in enumerate(humaneval)]
    for way in WAYS:
        pairs, expected = [], []
        for holdout, row, text, hosts in picks:
            host_q, host_a = hosts[rng.randrange(len(hosts))]
            pairs.append((_inject(text, host_q, way, vocab, rng), host_a))
            expected.append((holdout, row))
        tagged = tag_contamination(_sft_frame(pairs, way), index=index, config=CONFIG)
        got = list(zip(tagged["decontam_holdout"], tagged["decontam_holdout_row"], strict=True))
        recall = sum(g == e for g, e in zip(got, expected, strict=True)) / len(expected)
        assert recall >= 0.98, (way, recall)
        assert set(tagged["decontam_drop_rule"].drop_nulls()) == {RULE_ID}


def test_tagged_columns_carry_the_evidence():
    item = "Compute the number of distinct prime factors of a positive integer n given as input."
    frame = _sft_frame([("hi there", f"Sure. {item}"), ("nothing", "to see")], "x")
    out = tag_contamination(
        frame, index=_index("unrelated words in this one item", item), config=CONFIG
    )
    row = out.row(0, named=True)
    assert (row["decontam_drop_reason"], row["decontam_holdout"], row["decontam_holdout_row"]) == (
        "contaminated",
        "h",
        1,
    )
    assert json.loads(row["decontam_detail"]) == {
        "field": "messages[1].content",
        "method": "containment",
        "holdout_file": "h.jsonl",
        "findings": 1,
    }
    assert out.row(1, named=True)["decontam_drop_rule"] is None
