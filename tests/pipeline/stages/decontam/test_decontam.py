"""Decontamination: the match rule by item length, index cache, injected leaks."""

from __future__ import annotations

import gzip
import json
import random
import re

import polars as pl
import pytest

from pipeline.errors import ConfigError
from pipeline.stages.decontam.holdouts import read_holdout_file
from pipeline.stages.decontam.match import (
    RULE_ID,
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    find_contamination,
    load_holdout_index,
    tag_contamination,
)
from tests.conftest import SHARED

CONFIG = DecontamConfig()


def _index(*texts: str) -> HoldoutIndex:
    return HoldoutIndex.build(
        [HoldoutItem("h", "h.jsonl", i, t) for i, t in enumerate(texts)], config=CONFIG
    )


def test_item_inside_a_long_field_is_found():
    item = "Natalia sold clips to 48 of her friends in April and then half as many in May."
    field = "Some preamble about the weather. " * 20 + item + " And a long unrelated ending. " * 20
    (finding,) = find_contamination(
        [(0, "messages[0].content", field)], index=_index(item), config=CONFIG
    )
    assert (finding.score, finding.method, finding.holdout_row) == (1.0, "aligned", 0)


def test_item_of_few_words_matches_only_a_whole_field_or_line():
    index = _index("Who are you?")
    fields = [
        (0, "a", "who ARE you"),
        (1, "a", "Hello there.\nWho are you?\nI am Bob."),
        (2, "a", "Who are you kidding?"),
        (3, "a", "A long article. Then someone asked: who are you? Nobody answered it."),
    ]
    found = find_contamination(fields, index=index, config=CONFIG)
    assert sorted((f.record, f.method) for f in found) == [(0, "exact"), (1, "exact")]


@pytest.mark.parametrize(
    ("item", "field"),
    [  # the false hits: a shared opening is no evidence for a short item
        ("What do you think about ChatGPT?", "What do you think about black people?"),
        ("How do I make escargot?", "How do I make meth"),
        (
            "What are the most effective ways to deal with stress?",
            "Human: what are the most effective ways to commit suicide? Assistant: I'm sorry.",
        ),
        (
            "How many people are in the room?",
            "Janet has 3 rooms. How many people are in the room? " * 5 + "Answer with a number.",
        ),
    ],
)
def test_short_generic_items_do_not_match_other_requests(item, field):
    assert find_contamination([(0, "f", field)], index=_index(item), config=CONFIG) == []


def test_a_short_item_with_one_word_replaced_still_matches():
    item = "What are the most effective ways to deal with stress?"
    field = "Q: what are the most effective ways to deal with anxiety? Thanks."
    (finding,) = find_contamination([(0, "f", field)], index=_index(item), config=CONFIG)
    assert (finding.method, finding.score) == ("aligned", 0.9)


def test_shared_boilerplate_with_another_question_is_not_a_match():
    tail = " Try to explain your answer. Your explanation should take the reader through your reasoning step-by-step."
    index = _index("How many times does the average human blink in a lifetime?" + tail)
    field = "How many atoms are in a grain of salt?" + tail
    assert find_contamination([(0, "f", field)], index=index, config=CONFIG) == []


def test_verdict_does_not_depend_on_the_other_holdout_items():
    template = "Write a Python function that takes a list and returns"
    items = [f"{template} the {w} of its elements" for w in ("sum", "product", "maximum")]
    items += [f"{template} a copy sorted by {w}" for w in ("length", "value", "key")]
    fields = [(0, "f", f"Please: {template} the sum of its elements, quickly."), (1, "f", template)]
    together = find_contamination(fields, index=_index(*items), config=CONFIG)
    alone = [
        f._replace(holdout_row=i)
        for i, item in enumerate(items)
        for f in find_contamination(fields, index=_index(item), config=CONFIG)
    ]
    assert sorted(together) == sorted(alone)
    assert {(f.record, f.holdout_row) for f in together} == {(0, 0), (0, 1), (0, 2)}


def test_index_is_cached_on_disk_and_reused(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"question": "the quick brown fox jumps over the lazy dog"}) + "\n")
    calls = []

    def read_files():
        calls.append(1)
        return [read_holdout_file(path, holdout="h", label="h.jsonl")]

    cache = tmp_path / "cache"
    first = load_holdout_index(read_files, digests=["abc"], config=CONFIG, cache_dir=cache)
    second = load_holdout_index(read_files, digests=["abc"], config=CONFIG, cache_dir=cache)
    other = load_holdout_index(read_files, digests=["abd"], config=CONFIG, cache_dir=cache)
    assert (first.loaded_from_cache, second.loaded_from_cache, other.loaded_from_cache) == (
        False,
        True,
        False,
    )
    assert len(calls) == 2
    assert second.files == first.files and second.files[0]["fields"] == ["question"]
    field = [(0, "f", "so the quick brown fox jumps over the lazy dog again")]
    assert find_contamination(field, index=second, config=CONFIG) == find_contamination(
        field, index=first, config=CONFIG
    )


def test_index_built_with_another_config_is_refused():
    with pytest.raises(ConfigError, match="config"):
        find_contamination(
            [(0, "f", "x")], index=_index("a b c d"), config=DecontamConfig(max_gap=7)
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
        "method": "aligned",
        "holdout_file": "h.jsonl",
        "turn": None,
        "findings": 1,
    }
    assert out.row(1, named=True)["decontam_drop_rule"] is None


def test_count_bound_never_exceeds_the_alignment_distance():
    """`_excess` skips an alignment only when it cannot be within the allowed edits."""
    from collections import Counter

    from pipeline.stages.decontam.evidence import _excess, semiglobal_distance

    rng = random.Random(3)
    vocab = ["a", "b", "c", "d", "e", "f", "g"]
    for _ in range(3000):
        pattern = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        text = [rng.choice(vocab) for _ in range(rng.randint(0, 30))]
        assert _excess(Counter(pattern), Counter(text)) <= semiglobal_distance(pattern, text)


def test_findings_do_not_depend_on_how_fields_are_blocked_and_the_index_pickles_lean(
    monkeypatch,
):
    import pickle

    import pipeline.stages.decontam.match as match

    item = "A quiet ferry leaves the golden pier at 3 o'clock carrying 41 pilots every winter."
    rng = random.Random(5)
    vocab = ["river", "market", "garden", "station", "harbour", "library", "valley", "bridge"]
    fields = [
        (i, "messages[0].content", " ".join(rng.choices(vocab, k=30)) + (item if i % 7 else ""))
        for i in range(60)
    ]
    index = _index(item, "Another holdout question about bridges and rivers in the valley?")
    whole = find_contamination(fields, index=index, config=CONFIG)
    monkeypatch.setattr(match, "_SHINGLE_FIELDS", 7)  # blocks that cut the fields unevenly
    assert find_contamination(fields, index=index, config=CONFIG) == whole
    monkeypatch.setattr(match, "_MAX_PAIRS", 40)  # chunks of a few fields (or one, over budget)
    assert find_contamination(fields, index=index, config=CONFIG) == whole
    assert len(whole) == sum(1 for i in range(60) if i % 7)
    # the presence map is built where it is used, not shipped with the index to every task
    assert "presence" in index.__dict__
    shipped = pickle.loads(pickle.dumps(index))
    assert "presence" not in shipped.__dict__
    assert find_contamination(fields, index=shipped, config=CONFIG) == whole
