"""The tagger's fast path equals its reference definitions, on real prompts and generated text.

Oracles: `score_rules` (every rule meets every segment's word n-grams, `Segment.ngrams`), the
per-row `tag_slices` and the plain-``findall`` `compute_features` as they were before the
indexed scoring (issue 15), written out here. Real data: MT-Bench (two turns with the GPT-4
reference answers), LIMA, AlpacaEval (GPT-4 outputs), self-instruct, CodeAlpaca, HH-RLHF
multi-turn; generated data: hypothesis text built from the rule sets' own keywords, digits,
code and odd Unicode (NFKC forms, combining marks, RTL, emoji, line separators).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.tagging import Tagger, tag_slices
from pipeline.stages.tagging import features as F
from pipeline.stages.tagging.features import compute_features, split_segments
from pipeline.stages.tagging.index import PhraseScanner
from pipeline.stages.tagging.tagger import SOURCE_LABEL, TAG_COLUMNS, TAGGER_LABEL, score_rules
from pipeline.stages.tagging.wordfilter import quick_to_search, whole_words
from tests.conftest import SHARED

Messages = list[dict[str, Any]]


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.builtin()


def reference_strip_code(text: str) -> str:
    """strip_code before its prefilter: both substitutions always run."""
    return F._CODE_LINE_WITH_BREAK.sub("", F._FENCED_BLOCK.sub("", text))


def reference_features(segments: Any) -> dict[str, int]:
    """compute_features before the prefilters: every count is a plain ``findall``."""
    prompts = [s.text for s in segments if s.kind != "reply"]
    users = [s for s in segments if s.kind in ("first_user", "later_user")]
    replies = [reference_strip_code(s.text) for s in segments if s.kind == "reply"]
    raw_prompt = "\n".join(prompts)
    prompt_text = reference_strip_code(raw_prompt)
    every_text = "\n".join(s.text for s in segments)
    first = next((s.text for s in users if s.kind == "first_user"), "")
    return {
        "code_blocks": len(re.findall("```", every_text)) // 2,
        "code_lines": len(F._CODE_LINE.findall(every_text)),
        "code_signatures": len(F._SIGNATURE.findall(every_text)),
        "equations": len(F._EQUATION.findall(prompt_text)),
        "reply_equations": max((len(F._EQUATION.findall(r)) for r in replies), default=0),
        "numbers": len(F._NUMBER.findall(prompt_text)),
        "prompt_questions": prompt_text.count("?"),
        "prompt_steps": len(F._LIST_ITEM.findall(prompt_text)),
        "reply_steps": max((len(F._LIST_ITEM.findall(r)) for r in replies), default=0),
        "prompt_chars": len(raw_prompt),
        "context_chars": len(every_text),
        "first_prompt_words": len(F._WORD.findall(first)),
        "user_turns": len(users),
    }


def reference_tag_slices(frame: pl.DataFrame, tagger: Tagger) -> pl.DataFrame:
    """tag_slices before issue 15: one `tag_record_reference` per row from `iter_rows`."""
    columns: dict[str, list[Any]] = {name: [] for name in ("intent", "difficulty", *TAG_COLUMNS)}
    for messages, chosen, intent, difficulty in frame.select(
        "messages", "chosen", "intent", "difficulty"
    ).iter_rows():
        needs_tag = intent is None or difficulty is None
        result = tagger.tag_record_reference(messages, chosen) if needs_tag else None
        for prefix, label in (("intent", intent), ("difficulty", difficulty)):
            if label is not None or result is None:
                values = (label, None, None, SOURCE_LABEL)
            else:
                values = (
                    getattr(result, prefix),
                    getattr(result, f"{prefix}_rule"),
                    getattr(result, f"{prefix}_confidence"),
                    TAGGER_LABEL,
                )
            for suffix, value in zip(("", "_rule", "_confidence", "_source"), values, strict=True):
                columns[prefix if suffix == "" else f"tag_{prefix}{suffix}"].append(value)
    return frame.with_columns(
        *(pl.Series(name, columns[name], dtype=pl.String) for name in ("intent", "difficulty")),
        *(pl.Series(name, columns[name], dtype=dtype) for name, dtype in TAG_COLUMNS.items()),
    )


def assert_same_as_reference(tagger: Tagger, messages: Messages, chosen: str | None) -> None:
    segments = split_segments(messages, chosen, max_n=tagger._max_ngram)
    features = compute_features(segments)
    assert features == reference_features(segments)
    for segment in segments:
        assert F.strip_code(segment.text) == reference_strip_code(segment.text)
        if segment.runs is not None:
            assert segment.runs == set(re.findall(r"\w+", segment.text.lower()))
    found = [tagger._scanner.find(s.tokens) for s in segments]
    phrases = tagger.intent_rules.phrases | tagger.difficulty_rules.phrases
    assert found == [set(s.ngrams & phrases) for s in segments]
    for rules, index in (
        (tagger.intent_rules, tagger._intent_index),
        (tagger.difficulty_rules, tagger._difficulty_index),
    ):
        assert index.score(segments, found, features) == score_rules(rules, segments, features)
    assert tagger.tag_record(messages, chosen) == tagger.tag_record_reference(messages, chosen)


def _load(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        if ".jsonl" in path.name:
            return [json.loads(line) for line in handle if line.strip()]
        return json.load(handle)


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def _hh(transcript: str) -> Messages:
    turns = re.split(r"\n\n(Human|Assistant): ", transcript)[1:]
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[r], "content": t} for r, t in zip(turns[::2], turns[1::2], strict=True)]


def real_conversations() -> Iterator[tuple[str, Messages, str | None]]:
    """(dataset, messages, chosen) from the shared datasets named in the module docstring."""
    bench = SHARED / "fastchat_bench"
    answers = {a["question_id"]: a for a in _load(bench / "mt_bench_reference_answer_gpt-4.jsonl")}
    for q in _load(bench / "mt_bench_question.jsonl"):
        replies = answers.get(q["question_id"], {"choices": [{"turns": []}]})["choices"][0]["turns"]
        messages = [_user(q["turns"][0])]
        if replies:
            messages += [{"role": "assistant", "content": replies[0]}, _user(q["turns"][1])]
        yield "mt_bench", messages, replies[1] if len(replies) > 1 else None
    for row in _load(SHARED / "lima" / "lima.json.gz"):
        yield "lima", [_user(row["instruction"])], row["output"]
    for row in _load(SHARED / "alpaca_eval" / "gpt4_model_outputs.json.gz"):
        system = {"role": "system", "content": "You are a helpful assistant."}
        yield "alpaca_eval", [system, _user(row["instruction"])], row["output"]
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        for row in _load(SHARED / "self_instruct" / name):
            instance = row["instances"][0]
            prompt = f"{row['instruction']}\n\n{instance['input']}".strip()
            yield "self_instruct", [_user(prompt)], instance["output"]
    for row in _load(SHARED / "codealpaca" / "code_alpaca_2k.json")[:1000]:
        prompt = f"{row['instruction']}\n\n{row['input']}".strip()
        yield "codealpaca", [_user(prompt), {"role": "assistant", "content": row["output"]}], None
    hh = _load(SHARED / "hh_rlhf" / "harmless-base_test.jsonl.gz")[:500]
    for row in hh:
        messages = _hh(row["chosen"])
        if messages and messages[-1]["role"] == "assistant":
            yield "hh_rlhf", messages[:-1], messages[-1]["content"]


@pytest.mark.parametrize(
    ("every", "at_least"), [(8, 400), pytest.param(1, 3500, marks=pytest.mark.slow)]
)
def test_fast_path_equals_the_reference_on_real_prompts(tagger, every, at_least):
    """Every 8th conversation in the fast suite, all of them (~3,900) in the slow one."""
    seen: dict[str, int] = {}
    for dataset, messages, chosen in list(real_conversations())[::every]:
        assert_same_as_reference(tagger, messages, chosen)
        seen[dataset] = seen.get(dataset, 0) + 1
    assert set(seen) == {
        "mt_bench",
        "lima",
        "alpaca_eval",
        "self_instruct",
        "codealpaca",
        "hh_rlhf",
    }
    assert sum(seen.values()) >= at_least


def _rule_words(tagger: Tagger) -> list[str]:
    words = sorted(tagger.intent_rules.phrases | tagger.difficulty_rules.phrases)
    return [*words, "Summarize", "named entities", "allegory", "DAN", "$5", "What if", "Hi"]


ODD = [
    "",
    " ",
    "\n",
    "\u2028",
    "\u2029",
    "\x85",
    "ﬁ",  # NFKC: fi
    "Ｃ＋＋",  # fullwidth C++
    "é",  # e + combining acute
    "ß",
    "İ",
    "K",  # Kelvin sign
    "ſ",
    "שלום",
    "مرحبا",
    "\u200f",
    "😀",
    "👩‍💻",
    "٣",  # Arabic-Indic digit
    "½",
    "≤",
    "≥",
    "•",
    "’",
    "```",
    "\t",
    "    ",
    "x = 4",
    "3 + 4",
    "f(x) =",
    "|x + 5|",
    "1. ",
    "- ",
    "step 2",
    "def f(x):",
    "for (i = 0; i < n; i++) {",
    "SELECT * FROM t;",
    ">>> ",
    "Traceback (most recent call last)",
    "ValueError: bad",
    "?",
    ",",
    ".",
    "  return x",
    "\tif (x)",
    "for\n(",
    "x;",
    "{",
    "import os",
    "from a import b",
    ">>> 1",
    "SELECT 1",
    "class A:",
    "    x = 1",
    "\r\n",
    "write-up",
    "pencils",
    "_write",
    "WRITE",
]


@st.composite
def texts(draw: Any, words: list[str]) -> str:
    parts = draw(
        st.lists(st.one_of(st.sampled_from(words), st.sampled_from(ODD), st.text()), max_size=40)
    )
    seps = draw(
        st.lists(
            st.sampled_from([" ", "\n", "", ", ", " - ", "\u2028"]),
            min_size=len(parts),
            max_size=len(parts),
        )
    )
    return "".join(p + s for p, s in zip(parts, seps, strict=True))


@st.composite
def conversations(draw: Any, words: list[str]) -> tuple[Messages, str | None]:
    roles = st.sampled_from(["user", "assistant", "system", "tool"])
    contents = st.one_of(texts(words), st.none())
    messages = draw(
        st.lists(st.fixed_dictionaries({"role": roles, "content": contents}), max_size=5)
    )
    chosen = draw(st.one_of(st.none(), texts(words)))
    return messages, chosen


def test_fast_path_equals_the_reference_on_generated_text(tagger):
    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(conversations(_rule_words(tagger)))
    def check(conversation: tuple[Messages, str | None]) -> None:
        assert_same_as_reference(tagger, *conversation)

    check()


def test_fast_path_equals_the_reference_on_a_huge_text(tagger):
    words = _rule_words(tagger)
    huge = "\n".join(f"{words[i % len(words)]} {i} = {i}+1 ```" for i in range(3_000))
    assert_same_as_reference(tagger, [_user(huge), {"role": "assistant", "content": huge}], huge)


WORD_PATTERNS = [
    r"\b(write|create|come up with|pen)\b[^.?!\n]{0,40}\b(poem|app)\b",
    r"\bwhat (would|will) happen\b|\bwhat if\b|\bif\b[^.]{3,8},",
    r"(?-i:\bDAN\b)",
    r"\b(do you (like|x)|your (a|b))\b",
    r"\bw(rite|hat)\b",
    r"\b(a|b)\b",
    r"\bwrite\w*",
    r"\bwrite_",
    r"^\W*(hi|what.s up)\b",
]


def test_whole_words_are_sound_on_ascii_text(tagger):
    patterns = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in WORD_PATTERNS]
    patterns += [r.pattern for r in (*tagger.intent_rules.rules, *tagger.difficulty_rules.rules)]
    filters = [(p, whole_words(p)) for p in patterns if p is not None]
    assert sum(words is not None for _, words in filters) >= 10
    vocabulary = [w for p in WORD_PATTERNS for w in re.findall(r"[a-z]+", p)] + ODD

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(texts(vocabulary))
    def check(text: str) -> None:
        if not text.isascii():
            return
        runs = set(re.findall(r"\w+", text.lower()))
        for pattern, words in filters:
            if words is not None and pattern.search(text):
                assert not runs.isdisjoint(words), (pattern.pattern, text)

    check()
    assert whole_words(patterns[0]) == {"write", "create", "come", "pen"}
    assert whole_words(patterns[4]) == {"write", "what"}
    assert [whole_words(p) for p in patterns[5:9]] == [None, None, None, None]
    quick = [quick_to_search(re.compile(p, re.I)) for p in (r"^\W*(hi)", r"\$\s?\d", r"\bwrite")]
    assert quick == [True, True, False]  # a speed choice only: both paths give the same hits


def test_phrase_scanner_finds_the_phrases_among_the_ngrams():
    scanner = PhraseScanner(["a", "a b", "a b c d", "b c", "x y z"])
    tokens = ("a", "b", "c", "d", "x", "y", "a", "b")
    assert scanner.find(tokens) == {"a", "a b", "a b c d", "b c"}
    assert scanner.find(()) == set()
    assert PhraseScanner([]).find(tokens) == set()


def test_tag_slices_equals_the_per_row_reference(tagger):
    rows = list(real_conversations())[::29]
    labels = [("coding", None), (None, "multi_step"), (None, None), ("math", "ambiguous")]
    records = []
    for i, (_, messages, chosen) in enumerate(rows):
        intent, difficulty = labels[i % len(labels)]
        records.append(
            {
                "record_id": f"{i:032x}",
                "source": "unit",
                "kind": "sft",
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "chosen": chosen,
                "intent": intent,
                "difficulty": difficulty,
                "license": "MIT",
            }
        )
    frame = pl.DataFrame(records, schema=RECORD_SCHEMA)
    assert tag_slices(frame, tagger=tagger).equals(reference_tag_slices(frame, tagger))
    empty = frame.head(0)
    assert tag_slices(empty, tagger=tagger).equals(reference_tag_slices(empty, tagger))
    given_only = frame.filter(pl.col("intent").is_not_null() & pl.col("difficulty").is_not_null())
    assert tag_slices(given_only, tagger=tagger).equals(reference_tag_slices(given_only, tagger))


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aZ9_ -'.’+#\n\t,é"), max_size=60)
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=60)
)
def test_first_prompt_words_from_tokens_equals_findall(text):
    """`_word_count` (tokens + separators on ASCII text) is ``len(\\w+ runs)`` of the text."""
    segment = F.Segment.from_text("first_user", text, max_n=4)
    assert F._word_count(segment) == len(re.findall(r"\w+", text))
