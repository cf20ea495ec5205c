"""Shape and context filters: what real text looks like next to a digit run."""

from __future__ import annotations

import pytest

from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.stages.pii.filters import judge_phone, phone_score


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(PiiConfig())


def _phones(scanner: PiiScanner, text: str) -> list[str]:
    return [text[f.start : f.end] for f in scanner.scan(text) if f.entity_type == "PHONE_NUMBER"]


@pytest.mark.parametrize(
    "text",
    [
        "Natalia sold 48/2 = <<48/2=24>>24 clips and 34500-33000 = $<<34500-33000=1500>>1500.",
        "So he has 1680-700=<<1680-700=980>>980 left over\n#### 980",
        "Total: $90,000 - $36,000 = $54,000 paid in 2021.",
        "Software Engineer, Acme Corp, 2015-2019; Senior Engineer, 2019 - 2023",
        "The transfer of EUR 1 250 000 and $ 3400.50 cleared on 2023-04-05.",
        "Build fingerprint: google/sunfish/sunfish:11/RQ3A.210805.001.A1/7474174:user",
        "job_id=1633972405 finished; order_id: 5551234567",
        "Which is larger? A) 1234 B) 5678 C) 91011",
        "const PI = 3.14159265359; // and unix time 1633059092",
        "| 2019 | 1536  4608  13824  41472 |",
        "1. 123456789\n2. 987654321\n",
        "pip install numpy==1.26.4 and version 2.4.6-1",
    ],
)
def test_no_phone_number_in_maths_code_dates_amounts_ids_or_lists(scanner, text):
    assert _phones(scanner, text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call us at (215) 204-3120 today.", "(215) 204-3120"),
        ("Customer service: 1-800-375-5283.", "1-800-375-5283"),
        ("Mobile: +44 7911 123456", "+44 7911 123456"),
        ("phone = '9999999999'", "9999999999"),
        ("Contact +33 1 42 68 53 00 for the Paris office.", "+33 1 42 68 53 00"),
    ],
)
def test_phone_numbers_in_real_shapes_are_still_found(scanner, text, value):
    assert value in _phones(scanner, text) or any(value in p for p in _phones(scanner, text))


def test_a_bare_digit_run_needs_a_context_word():
    plain = "The value 6505551234 appears."
    start = plain.index("6505551234")
    assert phone_score(plain, start, start + 10) < 0.4
    called = "Call 6505551234 tomorrow."
    start = called.index("6505551234")
    assert phone_score(called, start, start + 10) >= 0.4


def test_judge_phone_explains_the_rejection():
    text = "x = <<360-270=90>>90"
    assert judge_phone(text, 6, 13) == "arithmetic"


def test_email_inside_a_url_path_and_ip_like_versions_are_not_findings(scanner):
    text = (
        "See https://www.google.com/maps/place/Main+St/@37.3362725,-121.8 and "
        '<script src="https://cdn.jsdelivr.net/npm/popper.js@1.16.1/dist/umd/popper.min.js">; '
        "I'm on git 1.7.7.3; see §15.12.2.7; a[1::-1] reverses."
    )
    assert scanner.scan(text) == ()


def test_multiplication_table_rows_are_not_card_numbers(scanner):
    assert scanner.scan("# 6 12 18 24 30 36 42 48 54 60\n# 7 14 21 28 35 42 49 56 63 70") == ()


def test_with_url_on_code_tokens_are_not_urls_and_real_urls_are():
    scanner = PiiScanner(PiiConfig(actions={"URL": "flag"}))
    code = (
        "el = document.createElement('a'); time.sleep(1); System.out.println(x)\n"
        "python main.py && bash setup.sh; logging.info('x'); import java.io; self.id = 3"
    )
    assert scanner.scan(code) == ()
    prose = "Docs: https://docs.python.org/3/ or www.python.org; code on github.com today."
    found = sorted(prose[f.start : f.end] for f in scanner.scan(prose))
    assert found == ["github.com", "https://docs.python.org/3/", "www.python.org"]


def test_url_stays_off_by_default():
    assert "URL" not in PiiConfig().entities
