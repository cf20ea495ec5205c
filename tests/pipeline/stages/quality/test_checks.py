"""Repetition's fast paths (ASCII words, code removal, proven-pass skips) vs the plain definition."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.stages.quality.checks import _WORD, _without_code, _words, repetition_reason
from pipeline.stages.quality.config import RepetitionLimits
from tests.pipeline.stages.quality import reference
from tests.pipeline.stages.quality.test_gates import REAL, _canonical

LIMITS = [
    RepetitionLimits(),
    RepetitionLimits.gopher(),
    RepetitionLimits(min_words=2, skip_code=False),
    RepetitionLimits(
        top_ngram_max_frac=((1, 0.2), (2, 0.1), (5, 0.05)), dup_ngram_max_frac=(), min_words=0
    ),
    RepetitionLimits(top_ngram_max_frac=(), dup_ngram_max_frac=((3, 0.0),), min_words=1),
]
_PIECES = ["the", "cat", "The", "CAT", "a_b", "x1", "İ", "ß", "é", "e\u0301", "日本", "😀", "ـ"]
_SEPS = [" ", "  ", "\n", ", ", "```", "\u2028", "\u00a0", "\t", "-"]


def _texts():
    return st.lists(st.sampled_from(_PIECES + _SEPS), max_size=120).map("".join)


@settings(max_examples=400, deadline=None)
@given(_texts(), st.sampled_from(range(len(LIMITS))))
@example("The cat " * 40, 0)
@example("x" * 99 + " y" * 50, 3)
def test_repetition_reason_is_the_plain_definition(text, which):
    limits = LIMITS[which]
    assert repetition_reason(text, limits) == reference.repetition_reason(text, limits)


def test_real_replies_and_loops_get_the_plain_definitions_reason():
    found = 0
    for path, kind in REAL:
        for record in _canonical(path, kind, 200):
            reply = record["chosen"] or (record["messages"][-1]["content"] or "")
            for text in (reply, reply + "\n" + reply, " ".join(reply.split()[:30] * 3)):
                for limits in LIMITS[:3]:
                    expected = reference.repetition_reason(text, limits)
                    assert repetition_reason(text, limits) == expected
                    found += expected is not None
    assert found > 500


@settings(max_examples=300, deadline=None)
@given(st.one_of(_texts(), st.text(max_size=200)))
def test_words_and_code_removal_are_the_regexes(text):
    words = _words(text)
    expected = _WORD.findall(text.lower())
    if text.isascii():
        assert [w.decode("ascii") for w in words] == expected
    else:
        assert words == expected
    assert _without_code(text) == re.sub(r"```.*?(?:```|\Z)", "\n", text, flags=re.DOTALL)
