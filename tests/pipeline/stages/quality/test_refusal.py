"""The refusal prefilter never rules out a reply a pattern matches (real replies + hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.quality.config import DEFAULT_REFUSAL_PATTERNS
from pipeline.stages.quality.refusal import RefusalFinder, required_strings
from tests.pipeline.stages.quality.test_gates import REAL, _canonical

PATTERNS = [
    *DEFAULT_REFUSAL_PATTERNS,
    r"(?:can|could)(?:not|n't) help",
    r"o\u212a",  # the Kelvin sign matches "k" and "K" under IGNORECASE
    r"(?-i:Sorry)",
    r"(?x) as \s an",
    r"(a)\1b+",
    r"x{2,}yz|w(?=q)",
    r"(?>ab)c",
]
REPLIES = [
    "As an AI language model, I can't.",
    "I AM UNABLE TO HELP",
    "I\u2019m sorry, but I cannot",
    "ok OK o\u212a",
    "aab sorry Sorry xxyz wq abc",
    "plain text",
    "",
]


def _matching(finder: RefusalFinder, texts: list[str]) -> list[int]:
    return [i for i, text in enumerate(texts) if any(p.search(text) for p in finder.patterns)]


def test_every_pattern_names_strings_its_matches_contain():
    assert required_strings(DEFAULT_REFUSAL_PATTERNS[0]) == frozenset({"as an ai"})
    assert required_strings(r"o\u212a") == frozenset({"o"})  # the sign ends the literal run
    assert required_strings(r"(?:ab)?c*|d") is None
    finder = RefusalFinder(PATTERNS)
    assert finder.needles is not None


def test_candidates_keep_every_matching_real_reply():
    texts = REPLIES + [
        record["messages"][-1]["content"] or ""
        for path, kind in REAL
        for record in _canonical(path, kind, 300)
        if record["messages"]
    ]
    for patterns, most in ((DEFAULT_REFUSAL_PATTERNS, 0.25), (PATTERNS, 1.0)):
        finder = RefusalFinder(patterns)
        kept = finder.candidates(texts, list(range(len(texts))))
        assert kept == [i for i, text in enumerate(texts) if finder.could_match(text)]
        assert set(_matching(finder, texts)) <= set(kept)
        assert len(kept) <= most * len(texts)  # the default needles rule most replies out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "as",
                    " an ",
                    "AI",
                    "ai",
                    "Sorry",
                    "o",
                    "K",
                    "\u212a",
                    "k",
                    "é",
                    "\0",
                    " ",
                    "I'm",
                    "help",
                    "x",
                    "yz",
                    "wq",
                    "aab",
                ]
            ),
            max_size=12,
        ).map("".join),
        max_size=10,
    )
)
def test_candidates_keep_every_matching_odd_text(texts):
    finder = RefusalFinder(PATTERNS)
    indices = list(range(len(texts)))
    kept = finder.candidates(texts, indices)
    assert kept == [
        i for i in indices if finder.could_match(text := texts[i]) or not text.isascii()
    ]
    assert set(_matching(finder, texts)) <= set(kept)


def test_a_pattern_without_required_strings_switches_the_prefilter_off():
    finder = RefusalFinder([*DEFAULT_REFUSAL_PATTERNS, r"\w+\?*"])
    assert finder.needles is None
    assert finder.candidates(["x", "y"], [0, 1]) == [0, 1]
