"""The repetition screen rules out only replies the plain definition passes (reference.py)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.stages.quality.config import RepetitionLimits
from pipeline.stages.quality.screen import repetition_candidates
from tests.pipeline.stages.quality import reference
from tests.pipeline.stages.quality.test_checks import LIMITS, _texts
from tests.pipeline.stages.quality.test_gates import REAL, _canonical

# Words around the key's 8- and 16-byte edges, and long words equal in their first and last
# 8 bytes and length (equal keys for distinct words: the screen must keep such replies).
_LONG = ["abcdefgh", "abcdefghi", "abcdefghijklmnop", "abcdefgh_x_ijklmnop", "abcdefgh_y_ijklmnop"]
_ASCII = ["the", "cat", "The", "x1", "a_b", *_LONG, " ", "  ", ", ", "\t", "-", "\0", "\n", "```"]


def _ruled_out_pass(texts: list[str], limits: RepetitionLimits) -> int:
    """Assert every text the screen rules out passes the plain definition; return how many."""
    kept = set(repetition_candidates(texts, list(range(len(texts))), limits))
    for i, text in enumerate(texts):
        if i not in kept:
            assert reference.repetition_reason(text, limits) is None, (text, limits)
    return len(texts) - len(kept)


def _replies() -> list[str]:
    out = []
    for path, kind in REAL:
        for record in _canonical(path, kind, 200):
            reply = record["chosen"] or (record["messages"][-1]["content"] or "")
            flat = " ".join(reply.split())
            out += [
                reply,
                flat,
                " ".join(flat.split()[:30] * 3),
                flat + " " + flat[: len(flat) // 2],
            ]
    return out


def test_real_replies_ruled_out_pass_the_plain_definition():
    replies = _replies()
    ruled_out = [_ruled_out_pass(replies, limits) for limits in LIMITS]
    assert ruled_out[0] > len(replies) // 4 and min(ruled_out) > 0  # most one-line replies


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.lists(st.sampled_from(_ASCII), max_size=150).map("".join),
            _texts(),
            st.text(max_size=80),
        ),
        max_size=12,
    ),
    st.sampled_from(range(len(LIMITS))),
)
@example([("abcdefgh_x_ijklmnop abcdefgh_y_ijklmnop " * 30).strip()], 0)
@example(["", " ", "a" * 99 + " b" * 60, "The cat " * 40], 2)
def test_hypothesis_replies_ruled_out_pass_the_plain_definition(texts, which):
    _ruled_out_pass(texts, LIMITS[which])


def test_candidates_are_the_given_indices_ascending_and_batches_agree(monkeypatch):
    texts = ["The cat sat. " * 20, "a b c d e", "x\ny", "ünï " * 60, *["one two three " * 20] * 50]
    indices = [0, 2, 3, 4, *range(10, 54, 3)]
    limits = RepetitionLimits(min_words=4)
    whole = repetition_candidates(texts, indices, limits)
    assert whole == sorted(whole) and set(whole) <= set(indices) and {0, 2, 3} <= set(whole)
    monkeypatch.setattr("pipeline.stages.quality.screen._BATCH_CHARS", 100)
    assert repetition_candidates(texts, indices, limits) == whole
