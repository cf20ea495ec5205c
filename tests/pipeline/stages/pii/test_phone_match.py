"""Remembered candidate verdicts change no phone match (`phone_match`).

Oracles: phonenumbers' own `PhoneNumberMatcher` and presidio's own `PhoneRecognizer`, run on
the same texts: LIMA's digit runs and prefilter windows, presidio's synthetic set,
national-format numbers, random digit soup and hypothesis strings with odd Unicode. One verdict
memo is shared by every text of a test, so verdicts taken on one text are reused on others.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.stages.pii.config import DEFAULT_REGIONS
from pipeline.stages.pii.phone_floor import digit_floor
from pipeline.stages.pii.phone_match import (
    _PHONE_CANDIDATE,
    MemoPhoneRecognizer,
    VerdictMatcher,
    Verdicts,
    too_few_digits,
    verdict,
)
from pipeline.stages.pii.prefilter import TRIGGERED_ENTITIES, find_windows
from tests.pipeline.stages.pii.locale_cases import digit_run_pieces, phone_texts

REGIONS = (*DEFAULT_REGIONS, "DK", "TW", "SA", "JP")
ODD = (
    "\u0661\u0662\u0663 \uff10\uff11\uff12\uff13\uff14\uff15\uff16 \uff0b49 30 1234567 "
    "\u05e9 054-123-4567 \U0001f600 (0)89 12345 ext. 12 \u00b9\u00b2 1-800-FLOWERS "
    "2019/2020 12:30 pm p. 123-125 \u2028 \u202e +1 (212) 555-0187"
)


def _matches(matcher: phonenumbers.PhoneNumberMatcher) -> list[tuple[int, int, str, object]]:
    return [(m.start, m.end, m.raw_string, m.number) for m in matcher]


def _assert_same_matches(texts: list[str], regions: tuple[str, ...], leniency: int) -> int:
    verdicts: Verdicts = {}
    found = 0
    for text in texts:
        for region in regions:
            want = _matches(phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency))
            floor = digit_floor(region) if leniency >= phonenumbers.Leniency.VALID else 0
            matcher = VerdictMatcher(
                text, region, leniency=leniency, verdicts=verdicts, floor=floor
            )
            got = _matches(matcher)
            assert got == want, (region, leniency, text)
            found += len(want)
    return found


@pytest.mark.slow
def test_verdict_matcher_finds_phonenumbers_matches_on_every_real_piece():
    pieces = digit_run_pieces(phone_texts())
    assert _assert_same_matches(pieces, REGIONS, leniency=1) > 800


def test_verdict_matcher_finds_phonenumbers_matches_on_real_pieces():
    pieces = digit_run_pieces(phone_texts())[::9]
    assert _assert_same_matches(pieces, DEFAULT_REGIONS, leniency=1) > 50


@pytest.mark.parametrize("leniency", [0, 2, 3])
def test_verdict_matcher_finds_phonenumbers_matches_at_every_leniency(leniency):
    pieces = digit_run_pieces(phone_texts())[::40]
    assert _assert_same_matches([*pieces, ODD], DEFAULT_REGIONS, leniency) > 10


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789 -+().x/", max_size=20),
            st.text(max_size=6),
            st.sampled_from(["+49 ", "(0)", "ext", "\uff10", "\u0663", "p. ", "12:30", "1/2/99"]),
        ),
        max_size=8,
    ).map("".join)
)
def test_verdict_matcher_on_hypothesis_strings(text):
    _assert_same_matches([text, ODD + text], DEFAULT_REGIONS, leniency=1)


def test_a_candidate_with_too_few_digits_has_a_false_verdict():
    """The floor shortcut of `verdict` against `verdict` without it, on every phonenumbers
    candidate of the pieces, its whitespace-separated parts and `ODD`'s."""
    candidates = {
        part
        for piece in [*digit_run_pieces(phone_texts())[::3], ODD]
        for m in _PHONE_CANDIDATE.finditer(piece)
        for part in (m.group(), *m.group().split())
    }
    refused = 0
    for region in REGIONS:
        floor = digit_floor(region)
        matcher = phonenumbers.PhoneNumberMatcher("", region, leniency=1)
        for candidate in candidates:
            if too_few_digits(candidate, floor):
                refused += 1
                assert verdict(matcher, candidate) is False, (region, candidate)
    assert refused > 5_000


def _findings(results) -> list[tuple[str, int, int, float]]:
    return sorted((r.entity_type, r.start, r.end, r.score) for r in results)


def test_memo_recognizer_gives_presidios_results_on_windows():
    """On half of LIMA's and the synthetic set's prefilter windows (what presidio is given), on
    a sample of whole short texts, the recognizer's results equal presidio's own
    `PhoneRecognizer`."""
    ours, theirs = MemoPhoneRecognizer(REGIONS), PhoneRecognizer(supported_regions=REGIONS)
    assert ours.name == theirs.name == "PhoneRecognizer"
    texts = phone_texts()
    windows = [
        t[w.start : w.end]
        for t in texts
        for w in find_windows(t, TRIGGERED_ENTITIES)
        if "PHONE_NUMBER" in w.entities
    ][::2]
    short = [t for t in texts if len(t) < 2_000][::8]
    found = 0
    for text in [*windows, *short, ODD]:
        want = _findings(theirs.analyze(text, ["PHONE_NUMBER"]))
        assert _findings(ours.analyze(text, ["PHONE_NUMBER"])) == want, text
        found += len(want)
    assert found > 150
