"""Phone numbers in national formats with `regions`, and Danish CPR numbers as their own type."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.errors import ConfigError
from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.stages.pii.config import DEFAULT_REGIONS
from pipeline.stages.pii.national import cpr_date_ok, mod11_ok
from tests.pipeline.stages.pii.locale_cases import CPR_SENTENCES, REGIONS, cpr_numbers, phone_cases


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(PiiConfig(regions=(*DEFAULT_REGIONS, "DK", "TW", "SA", "JP")))


def _found(findings, text: str, value: str, entity: str) -> bool:
    start = text.index(value)
    end = start + len(value)
    return any(f.entity_type == entity and f.start < end and start < f.end for f in findings)


def test_national_phone_numbers_are_found_with_regions_set(scanner):
    hits, totals = Counter(), Counter()
    for region, text, written in phone_cases():
        totals[region] += 1
        hits[region] += _found(scanner.scan(text), text, written, "PHONE_NUMBER")
    for region in REGIONS:
        assert hits[region] / totals[region] >= 0.9, (region, hits[region], totals[region])


def test_without_the_region_danish_national_numbers_are_mostly_missed():
    """The other side of the trade-off: regions are what makes national formats visible."""
    default = PiiScanner(PiiConfig())
    dk = [(text, written) for region, text, written in phone_cases() if region == "DK"]
    found = sum(_found(default.scan(t), t, w, "PHONE_NUMBER") for t, w in dk)
    assert found < len(dk) / 2


def test_cpr_numbers_are_dk_cpr_never_phone_numbers(scanner):
    for i, cpr in enumerate(cpr_numbers()):
        text = CPR_SENTENCES[i % len(CPR_SENTENCES)].format(c=cpr)
        findings = scanner.scan(text)
        assert _found(findings, text, cpr, "DK_CPR"), text
        assert not _found(findings, text, cpr, "PHONE_NUMBER"), text


def test_cpr_shape_checks():
    assert cpr_date_ok("070761-4285") and mod11_ok("070761-4285")
    assert not cpr_date_ok("310299-1234")  # no 31 February
    assert not cpr_date_ok("011390-1234")  # no month 13


def test_a_number_that_is_not_a_birth_date_is_not_a_cpr(scanner):
    assert not [f for f in scanner.scan("Order 451290-0001 shipped.") if f.entity_type == "DK_CPR"]


def test_regions_are_validated_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"`regions`.*'DNK'"):
        PiiConfig(regions=("DNK",))
    with pytest.raises(ConfigError, match=r"did you mean 'DK'"):
        PiiConfig(regions=("dk",))


def test_presidio_country_recognizers_are_enabled_by_name():
    config = PiiConfig(
        actions={"ES_NIF": "drop", "EMAIL_ADDRESS": "redact"}, recognizers=("EsNifRecognizer",)
    )
    scanner = PiiScanner(config)
    text = "Mi NIF es 12345678Z, gracias."
    assert [f.entity_type for f in scanner.scan(text)] == ["ES_NIF"]


def test_unknown_country_recognizer_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"did you mean 'EsNifRecognizer'"):
        PiiScanner(PiiConfig(recognizers=("EsNifRecogniser",)))


def test_country_entity_without_its_recognizer_names_the_fix():
    with pytest.raises(ConfigError, match=r"`recognizers`"):
        PiiScanner(PiiConfig(actions={"ES_NIF": "drop"}))
