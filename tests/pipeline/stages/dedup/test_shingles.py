"""Shingles: config, word and char shingle definitions, and the token hash against its definition.

Two oracles keep the vectorized word-token hashing honest (issue 15 rewrote it):

- `_oracle_token_hashes`: the definition in plain Python (``re`` ``\\w+`` tokens of the
  normalized text; each token's hash is the sum of the table values of its UTF-8 bytes by
  position mod 64, plus its length times a constant);
- `GOLDEN`: digests of the shingle sets and signatures of real text (LIMA, AlpacaEval GPT-4
  outputs, CodeAlpaca, edge cases) made by the code before issue 15 (main at 5312981), so any
  change to a signature fails here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata

import numpy as np
import pytest

from pipeline.errors import ConfigError, InternalError
from pipeline.stages.dedup.minhash import text_signatures
from pipeline.stages.dedup.shingles import (
    _COMBINE,
    _TOKEN_TABLE,
    MinHashConfig,
    _word_token_hashes,
    compute_shingle_sets,
    shingle_set,
    unique_per_doc,
)
from tests.conftest import SHARED

EDGE_CASES = [
    "", " ", "\t\n", "a", "a b c d", "a b c d e", "Who are you?", "x\x00y z\x00", "___ _a_ __",
    "İstanbul ΣΊΣΥΦΟΣ straße ﬁne ﬀ Ⅻ ① ｆｕｌｌｗｉｄｔｈ",
    "東京タワーは高い。 日本語のテキスト、句読点。",
    "नमस्ते दुनिया यह हिंदी है", "مرحبا بالعالم هذا نص عربي", "emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷 ok done",
    "combining e\u0301 cafe\u0301 n\u0303 zero\u200bwidth joiner\u200d soft\u00adhyphen",
    "x" * 7 + " " + "y" * 8 + " " + "z" * 9 + " " + "w" * 16 + " " + "v" * 17,
    "q" * 63 + " " + "r" * 64 + " " + "s" * 65 + " " + "t" * 130 + " " + "é" * 40 + " end",
    "https://example.com/a_very/long-path?query=1&x=2 user@example.org 3.14159 1,000,000",
    "def f(x):\n    return x**2  # squares\n\tprint(f'{x!r}')",
]  # fmt: skip

# (unit, n) -> (sha256[:16] of shingle hashes + offsets, sha256[:16] of text_signatures) of
# `_real_texts()` (char shingles, slower: every 8th text, then the edge cases again)
GOLDEN = {
    ("word", 5): ("acf2a3ad5c51175c", "aa949319e97919cb"),
    ("word", 3): ("ecfacc52770a6ddc", "9876bdcdd1ee704a"),
    ("word", 1): ("14c4233777dc25e6", "dac515930eb28daf"),
    ("char", 5): ("a2e6160cbbcb7037", "da79696bcd56e450"),
}


def _real_texts() -> list[str]:
    """LIMA (a third non-ASCII), AlpacaEval GPT-4 outputs, 600 CodeAlpaca rows, edge cases."""
    lima = json.load(gzip.open(SHARED / "lima" / "lima.json.gz", "rt"))
    alpaca = json.load(gzip.open(SHARED / "alpaca_eval" / "gpt4_model_outputs.json.gz", "rt"))
    code = json.loads((SHARED / "codealpaca" / "code_alpaca_2k.json").read_text())
    texts = [r["instruction"] + "\n" + r["output"] for r in lima + alpaca]
    texts += [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in code[:600]]
    return texts + EDGE_CASES


_TABLE, _COMBINE_INT = [int(v) for v in _TOKEN_TABLE], int(_COMBINE)


def _oracle_token_hashes(text: str) -> list[int]:
    """The word-token hashes of one text by their definition, in plain Python."""
    text = text.replace("\x00", " ")
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    table, combine = _TABLE, _COMBINE_INT
    out = []
    for token in re.findall(r"\w+", text):
        data = token.encode("utf-8")
        value = sum(table[(i % 64) * 256 + b] for i, b in enumerate(data))
        out.append((value + len(data) * combine) % 2**64)
    return out


def test_config_rejects_unknown_unit_naming_the_field():
    with pytest.raises(ConfigError, match="`unit`.*'token'"):
        MinHashConfig(unit="token")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["n", "num_perm", "seed"])
def test_config_rejects_out_of_range_integers(field):
    with pytest.raises(ConfigError, match=f"`{field}`"):
        MinHashConfig(**{field: -1})


def test_slug_names_unit_n_permutations_and_seed():
    assert MinHashConfig(unit="char", n=7, num_perm=64, seed=3).slug == "char7_p64_s3_v1"


def test_word_shingles_ignore_case_punctuation_and_whitespace():
    config = MinHashConfig()
    a = shingle_set("The quick brown fox jumps over the lazy dog.", config=config)
    b = shingle_set("the  QUICK brown fox, jumps over\nthe lazy dog!", config=config)
    assert np.array_equal(a, b)
    assert len(a) == 9 - 5 + 1


def test_text_shorter_than_n_is_one_shingle_and_empty_text_has_none():
    sets = compute_shingle_sets(["Who are you?", "", "   ", "a b c d e"], config=MinHashConfig())
    assert sets.sizes.tolist() == [1, 0, 0, 1]
    # the short shingle never equals a full n-gram hash
    assert sets.doc(0)[0] != sets.doc(3)[0]


def test_char_shingles_count_characters_of_normalized_text():
    sets = compute_shingle_sets(["abcdef", "ABC  DEF"], config=MinHashConfig(unit="char", n=3))
    assert sets.sizes.tolist() == [4, 5]  # "abc def" has 5 character 3-grams


@pytest.mark.parametrize("batch", ["non_ascii", "ascii", "ascii_with_nul"])
def test_word_token_hashes_follow_their_definition_on_real_and_edge_text(batch):
    texts = _real_texts()
    if batch == "non_ascii":  # every non-ASCII text and some others: text by text
        texts = [t for t in texts if not t.isascii()] + texts[::10]
    else:  # ASCII only: the whole batch at once, unless a text holds a NUL
        texts = [t for t in texts[::3] if t.isascii() and "\x00" not in t][:400]
        texts += ["Tab\tEnd", "", "UPPER lower MiXeD_case 42"]
        texts += ["x\x00y z\x00"] if batch == "ascii_with_nul" else []
    hashes, counts = _word_token_hashes(texts)
    expected = [_oracle_token_hashes(t) for t in texts]
    assert counts.tolist() == [len(e) for e in expected]
    assert hashes.tolist() == [h for e in expected for h in e]


@pytest.mark.parametrize(("unit", "n"), sorted(GOLDEN))
def test_shingles_and_signatures_are_unchanged_on_real_text(unit, n):
    texts = _real_texts() if unit == "word" else _real_texts()[::8] + EDGE_CASES
    config = MinHashConfig(unit=unit, n=n)
    sets = compute_shingle_sets(texts, config=config)
    sig = text_signatures(texts, config=config)
    got = (
        hashlib.sha256(sets.hashes.tobytes() + sets.offsets.tobytes()).hexdigest()[:16],
        hashlib.sha256(sig.tobytes()).hexdigest()[:16],
    )
    assert got == GOLDEN[(unit, n)]


def test_unique_per_doc_refuses_a_document_index_that_would_wrap():
    hashes = np.array([5, 5, 3], dtype=np.uint64)
    sets = unique_per_doc(hashes, np.array([4095, 4095, 0]), 4096)
    assert sets.doc(4095).tolist() == [5] and sets.doc(0).tolist() == [3]
    with pytest.raises(InternalError, match="at most 4096 documents; got 4097"):
        unique_per_doc(hashes, np.array([4096, 4096, 0]), 4097)
