"""Seeded national-format phone numbers (DK, TW, SA, JP, BR) and Danish CPR numbers in sentences.

Numbers are drawn from phonenumbers' example numbers with random subscriber digits and kept only
when `phonenumbers.is_valid_number` accepts them; each is written in the national format the
country uses (``32 12 34 56``, ``02 2123 4567``, ``011 234 5678``, ``03-1234-5678``,
``(11) 96123-4567``) and in a compact variant, inside a sentence in English or the local language.
CPR numbers are random dates of birth with a serial chosen to pass the modulus-11 check.
"""

from __future__ import annotations

import datetime
import gzip
import json
import random
import re

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from tests.conftest import SHARED

REGIONS = ("DK", "TW", "SA", "JP", "BR")
SENTENCES = {
    "DK": (
        "Ring til mig på {n} efter kl. 16.",
        "You can reach the office on {n}.",
        "Tlf. {n}",
        "Kontakt os: {n} eller mail.",
    ),
    "TW": (
        "請撥打 {n} 聯絡我們。",
        "Call our Taipei office at {n}.",
        "電話：{n}",
        "手機 {n}，謝謝",
    ),
    "SA": (
        "اتصل بنا على {n}",
        "Call the Riyadh branch on {n} for details.",
        "جوال: {n}",
        "Our phone number is {n}.",
    ),
    "JP": (
        "電話番号は{n}です。",
        "Please call {n} between 9 and 5.",
        "TEL: {n}",
        "携帯 {n} までご連絡ください。",
    ),
    "BR": (
        "Ligue para {n} ainda hoje.",
        "Telefone: {n}",
        "Whats: {n}",
        "Call the São Paulo office at {n}.",
    ),
}
_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def _number(rng: random.Random, region: str, kind: int) -> phonenumbers.PhoneNumber:
    example = phonenumbers.example_number_for_type(region, kind)
    national = str(example.national_number)
    while True:
        keep = len(national) - 4
        candidate = national[:keep] + "".join(rng.choice("0123456789") for _ in range(4))
        number = phonenumbers.parse(candidate, region)
        if phonenumbers.is_valid_number(number):
            return number


def _compact(national: str) -> str:
    return "".join(ch for ch in national if ch.isdigit() or ch in "()")


def phone_cases(seed: int = 45, per_region: int = 12) -> list[tuple[str, str, str]]:
    """Return ``(region, text, number_as_written)``: `per_region` sentences per region."""
    rng = random.Random(seed)
    cases = []
    for region in REGIONS:
        for i in range(per_region):
            kind = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE)[i % 2]
            number = _number(rng, region, kind)
            written = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
            if i % 4 == 3:
                written = _compact(written)
            template = SENTENCES[region][i % len(SENTENCES[region])]
            cases.append((region, template.format(n=written), written))
    return cases


def cpr_numbers(seed: int = 2007, n: int = 20) -> list[str]:
    """Return `n` CPR numbers ``DDMMYY-SSSS`` with real birth dates that pass modulus-11."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        born = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(0, 60 * 365))
        digits = born.strftime("%d%m%y")
        seventh = "0123"[rng.randrange(4)] if born.year < 2000 else "4"
        serial = seventh + "".join(rng.choice("0123456789") for _ in range(3))
        all_digits = [int(c) for c in digits + serial]
        if sum(w * d for w, d in zip(_WEIGHTS, all_digits, strict=True)) % 11 == 0:
            out.append(f"{digits}-{serial}")
    return out


CPR_SENTENCES = (
    "CPR-nr.: {c}",
    "Mit personnummer er {c}.",
    "Patient {c} blev indlagt i går.",
    "Name: Jens Hansen, CPR {c}, address Vesterbrogade 1",
)


_RUN = re.compile(r"[+(\uff0b]*\d[\d\s\-.()/\[\]~x+]*")


def phone_texts() -> list[str]:
    """LIMA's instructions and answers, presidio's synthetic sentences, `phone_cases` and 3,000
    random strings of digits and phone punctuation: the texts the phone matching tests use."""
    lima = json.loads(gzip.decompress((SHARED / "lima" / "lima.json.gz").read_bytes()))
    synth = json.loads((SHARED / "presidio_synth" / "synth_dataset_v2.json").read_text("utf-8"))
    texts = [t for r in lima for t in (r["instruction"], r["output"]) if t]
    texts += [r["full_text"] for r in synth] + [text for _, text, _ in phone_cases()]
    rng = random.Random(7)
    alphabet = "0123456789" * 3 + " -.()+/x#ext ABC"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 24))) for _ in range(3000)]
    return texts


def digit_run_pieces(texts: list[str]) -> list[str]:
    """Every digit run of `texts` with 24 characters around it (what the phone pre-check
    matches), sorted, without repeats."""
    found = {t[max(0, m.start() - 24) : m.end() + 24] for t in texts for m in _RUN.finditer(t)}
    return sorted(found)
