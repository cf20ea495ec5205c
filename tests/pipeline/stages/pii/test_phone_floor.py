"""The phone pre-check skips a region only where phonenumbers finds nothing (`phone_floor`)."""

from __future__ import annotations

import phonenumbers
import pytest

from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.stages.pii.config import DEFAULT_REGIONS
from pipeline.stages.pii.phone_floor import PLUS_FLOOR, digit_floor
from tests.pipeline.stages.pii.locale_cases import digit_run_pieces, phone_texts

REGIONS = (*DEFAULT_REGIONS, "DK", "TW", "SA", "JP")


def _pieces() -> list[str]:
    """Digit runs of real, synthetic, national-format and random text, with 24 chars around."""
    return digit_run_pieces(phone_texts())


def test_floors_are_those_of_the_metadata():
    assert (digit_floor("US"), digit_floor("GB"), digit_floor("DE"), PLUS_FLOOR) == (7, 7, 4, 5)
    assert digit_floor("ZZ") == 0  # no metadata: never skipped


@pytest.mark.slow
def test_skipped_regions_never_hold_a_valid_number():
    check = PiiScanner(PiiConfig(regions=REGIONS))._phone
    assert check is not None
    leniency = check.leniency
    skipped = 0
    for piece in _pieces():
        kept = set(check.regions_to_match(piece))
        for region in set(REGIONS) - kept:
            skipped += 1
            matcher = phonenumbers.PhoneNumberMatcher(piece, region, leniency=leniency)
            assert not matcher.has_next(), (region, piece)
    assert skipped > 10_000  # the test exercises the skipping
