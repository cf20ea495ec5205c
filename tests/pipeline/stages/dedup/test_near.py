"""Within-pool near-dedup: keeper order, no chaining, template guard, determinism."""

from __future__ import annotations

import gzip
import json
import random
import re
import unicodedata

import polars as pl
import pytest

from pipeline.errors import ConfigError, InternalError
from pipeline.stages.dedup.near import (
    RULE_ID,
    NearDedupConfig,
    record_shingle_sets,
    tag_near_duplicates,
)
from pipeline.stages.dedup.shingles import MinHashConfig
from pipeline.stages.gate import apply_gate
from tests.conftest import SHARED

CONFIG = NearDedupConfig()


def _pool(texts: list[str], ranks: list[int] | None = None) -> pl.DataFrame:
    ranks = list(range(len(texts))) if ranks is None else ranks
    return pl.DataFrame(
        {
            "record_id": [f"r{i:05d}" for i in range(len(texts))],
            "source": ["s"] * len(texts),
            "messages": [
                [{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}]
                for t in texts
            ],
            "provenance": [
                {"source": "s", "file": "f.jsonl", "file_sha256": "x", "row": i}
                for i in range(len(texts))
            ],
            "dedup_keeper_rank": pl.Series(ranks, dtype=pl.UInt32),
        }
    )


def _words(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(20000)}" for _ in range(n)]


def _dropped(frame: pl.DataFrame) -> dict[str, str]:
    rows = frame.filter(pl.col("near_drop_rule").is_not_null())
    return dict(zip(rows["record_id"], rows["near_dup_of"], strict=True))


def test_near_copy_is_dropped_in_favour_of_the_lower_keeper_rank():
    rng = random.Random(1)
    base = _words(rng, 80)
    copy = list(base)
    copy[40] = "changed"
    out = tag_near_duplicates(_pool([" ".join(copy), " ".join(base)], ranks=[5, 2]), config=CONFIG)
    assert _dropped(out) == {"r00000": "r00001"}
    row = out.filter(pl.col("record_id") == "r00000").row(0, named=True)
    assert (row["near_drop_rule"], row["near_drop_reason"]) == (RULE_ID, "near_duplicate")
    assert CONFIG.threshold <= row["near_score"] < 1.0


def test_no_transitive_chaining_when_a_and_c_are_not_similar():
    """A~B and B~C but A!~C: B is a copy of A, and C stays because B was not kept."""
    rng = random.Random(2)
    a = _words(rng, 200)
    b = a[:180] + _words(rng, 20)  # J(A, B) ~ 0.83
    c = b[20:] + _words(rng, 20)  # J(B, C) ~ 0.83, J(A, C) ~ 0.7
    out = tag_near_duplicates(_pool([" ".join(a), " ".join(b), " ".join(c)]), config=CONFIG)
    assert _dropped(out) == {"r00001": "r00000"}


def test_shared_template_does_not_merge_different_records_but_true_copies_are_found():
    rng = random.Random(3)
    head, tail = " ".join(_words(rng, 30)), " ".join(_words(rng, 30))
    bodies = [_words(rng, 30) for _ in range(2000)]
    texts = [f"{head} {' '.join(body)} {tail}" for body in bodies]
    planted = {}
    for i in range(
        0, 2000, 200
    ):  # 10 near-copies: a word appended, or the last template word changed
        words = texts[i].split()
        words[-1] = "typo"  # the last template word
        edited = f"{texts[i]} thanks" if i % 400 else " ".join(words)
        planted[f"r{len(texts):05d}"] = f"r{i:05d}"
        texts.append(edited)
    pool = _pool(texts)
    assert _dropped(tag_near_duplicates(pool, config=CONFIG)) == planted
    # at a lower threshold the template alone would merge records; the guard prevents it
    low = NearDedupConfig(threshold=0.4)
    assert _dropped(tag_near_duplicates(pool, config=low)) == planted
    unguarded = NearDedupConfig(threshold=0.4, template_max_df=None)
    assert len(_dropped(tag_near_duplicates(pool, config=unguarded))) > 1000


def test_result_does_not_depend_on_input_row_order():
    rng = random.Random(4)
    base = [_words(rng, 60) for _ in range(50)]
    texts = [" ".join(w) for w in base] + [" ".join(w[:-1] + ["x"]) for w in base[:20]]
    pool = _pool(texts, ranks=[rng.randrange(1000) for _ in texts])
    first = _dropped(tag_near_duplicates(pool, config=CONFIG))
    shuffled = pool.sample(fraction=1.0, shuffle=True, seed=9)
    assert _dropped(tag_near_duplicates(shuffled, config=CONFIG)) == first
    assert len(first) == 20


def test_gate_moves_near_duplicates_to_the_ledger():
    rng = random.Random(5)
    base = _words(rng, 50)
    out = tag_near_duplicates(
        _pool([" ".join(base), " ".join(base[:-1] + ["y"]), "other text here"]), config=CONFIG
    )
    kept, ledger = apply_gate(out, stage="near_dedup", prefix="near")
    assert kept["record_id"].to_list() == ["r00000", "r00002"]
    assert ledger.select("record_id", "rule_id", "dup_of").row(0) == ("r00001", RULE_ID, "r00000")


def test_missing_keeper_rank_is_an_internal_error():
    with pytest.raises(InternalError, match="dedup_keeper_rank"):
        tag_near_duplicates(_pool(["a b"]).drop("dedup_keeper_rank"), config=CONFIG)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold": 1.2}, "threshold"),
        ({"template_max_df": 1}, "template_max_df"),
        ({"max_bucket": 1}, "max_bucket"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"`{field}`"):
        NearDedupConfig(**kwargs)


def test_slug_records_threshold_guard_and_shingling():
    assert (
        NearDedupConfig(minhash=MinHashConfig(n=3)).slug
        == "near_j0.80_df100_conversation_word3_p128_s1_v1"
    )


# --- issue 10: near-dedup is response-aware -------------------------------------------------


def _reply_similarity(a: str, b: str) -> float:
    """Jaccard of the two replies' word 5-gram sets (NFKC-casefolded ``\\w+`` tokens)."""

    def grams(text: str) -> set[tuple[str, ...]]:
        toks = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
        return {tuple(toks[i : i + 5]) for i in range(max(1, len(toks) - 4))}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def _two_models(copies: int) -> pl.DataFrame:
    rows = []
    for source, name in (("gpt4", "gpt4_model_outputs"), ("alpaca7b", "alpaca-7b_model_outputs")):
        for i, r in enumerate(
            json.load(gzip.open(SHARED / "alpaca_eval" / f"{name}.json.gz", "rt"))
        ):
            rows.append((f"{source}-{i:03d}", source, r["instruction"], r["output"]))
    # verbatim cross-source copies: the first `copies` GPT-4 records again, in a third source
    rows += [(f"copy-{k:03d}", "copied", r[2], r[3]) for k, r in enumerate(rows[:copies])]
    return pl.DataFrame(
        {
            "record_id": [r[0] for r in rows],
            "source": [r[1] for r in rows],
            "messages": [
                [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                for _, _, q, a in rows
            ],
            "provenance": [
                {"source": r[1], "file": f"{r[1]}.json", "file_sha256": "x", "row": i}
                for i, r in enumerate(rows)
            ],
            "dedup_keeper_rank": pl.Series(range(len(rows)), dtype=pl.UInt32),
        }
    )


def test_two_models_answers_to_the_same_prompts_are_not_merged_but_copies_are():
    frame = _two_models(copies=25)
    replies = dict(
        zip(frame["record_id"], [m[1]["content"] for m in frame["messages"]], strict=True)
    )
    dropped = _dropped(tag_near_duplicates(frame, config=CONFIG))
    # the reply-similarity measure: word 5-gram Jaccard of the two replies, as written above
    low = {d: k for d, k in dropped.items() if _reply_similarity(replies[d], replies[k]) < 0.8}
    assert low == {}
    assert {f"copy-{i:03d}" for i in range(25)} <= dropped.keys()
    # today's behaviour on request: prompts alone decide, so the shared prompts merge
    by_prompt = _dropped(tag_near_duplicates(frame, config=NearDedupConfig(scope="prompt")))
    assert sum(d.startswith("alpaca7b") for d in by_prompt) >= 700


def test_identical_prompts_with_different_replies_are_all_kept():
    rng = random.Random(7)
    prompt = " ".join(_words(rng, 60))
    frame = _pool([prompt] * 4)
    frame = frame.with_columns(
        pl.Series(
            "messages",
            [
                [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": " ".join(_words(rng, 30))},
                ]
                for _ in range(4)
            ],
        )
    )
    assert _dropped(tag_near_duplicates(frame, config=CONFIG)) == {}
    assert len(_dropped(tag_near_duplicates(frame, config=NearDedupConfig(scope="prompt")))) == 3


def test_shingle_sets_of_a_large_frame_equal_those_of_each_record_alone():
    # more records than fit the 12-bit document index of one merge sort (4096): record 4096+i
    # once lost its shingles to record i, so near copies in large shards were never found
    rng = random.Random(11)
    texts = [" ".join(_words(rng, 12)) for _ in range(4200)]
    frame = _pool(texts)
    sets = record_shingle_sets(frame, config=CONFIG.minhash)
    assert len(sets) == 4200
    for i in (0, 1, 103, 4095, 4096, 4199):
        alone = record_shingle_sets(frame[i : i + 1], config=CONFIG.minhash)
        assert sets.doc(i).tolist() == alone.doc(0).tolist()
        assert len(alone.doc(0)) == 8 + 1  # 8 prompt 5-grams of 12 words, 1 short reply shingle


def test_a_near_copy_beyond_the_first_4096_records_is_found():
    rng = random.Random(12)
    texts = [" ".join(_words(rng, 40)) for _ in range(4300)]
    copy = texts[10].split()
    copy[-1] = "changed"  # one of 36 5-grams differs: Jaccard 35/37
    texts[4200] = " ".join(copy)
    assert _dropped(tag_near_duplicates(_pool(texts), config=CONFIG)) == {"r04200": "r00010"}
