"""The phone pre-check skips a region only where phonenumbers finds nothing (`phone_floor`)."""

from __future__ import annotations

import gzip
import json
import random
import re

import phonenumbers
import pytest

from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.stages.pii.config import DEFAULT_REGIONS
from pipeline.stages.pii.phone_floor import PLUS_FLOOR, digit_floor
from tests.conftest import SHARED
from tests.pipeline.stages.pii.locale_cases import phone_cases

_RUN = re.compile(r"[+(\uff0b]*\d[\d\s\-.()/\[\]~x+]*")
REGIONS = (*DEFAULT_REGIONS, "DK", "TW", "SA", "JP")


def _pieces() -> list[str]:
    """Digit runs of real, synthetic, national-format and random text, with 24 chars around."""
    lima = json.loads(gzip.decompress((SHARED / "lima" / "lima.json.gz").read_bytes()))
    synth = json.loads((SHARED / "presidio_synth" / "synth_dataset_v2.json").read_text("utf-8"))
    texts = [t for r in lima for t in (r["instruction"], r["output"]) if t]
    texts += [r["full_text"] for r in synth] + [text for text, _, _ in phone_cases()]
    rng = random.Random(7)
    alphabet = "0123456789" * 3 + " -.()+/x#ext ABC"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 24))) for _ in range(3000)]
    pieces = {
        text[max(0, m.start() - 24) : m.end() + 24] for text in texts for m in _RUN.finditer(text)
    }
    return sorted(pieces)


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
