"""National identifiers presidio lacks, and presidio's own country recognizers by name.

`DkCprRecognizer` finds Danish CPR numbers (``DDMMYY-SSSS``) as entity type ``DK_CPR``. The first
six digits must be a real date of birth (the 7th digit and the year give the century, as the CPR
office defines it). The modulus-11 check (weights 4 3 2 7 6 5 4 3 2 1) held for every number
issued before October 2007; numbers issued since may fail it, so a number that fails it is kept
only with a low score that a context word (``cpr``, ``personnummer``, ...) must raise. Scores:

| shape | mod-11 ok | mod-11 fails |
|---|---|---|
| ``DDMMYY-SSSS`` (dash or space) | 0.65 | 0.3 |
| ``DDMMYYSSSS`` | 0.4 | 0.1 |

plus presidio's context boost (+0.35) for a context word before the number.

`country_recognizer(name)` instantiates one of presidio's predefined pattern recognizers by class
name (e.g. ``EsNifRecognizer``, ``ItFiscalCodeRecognizer``, ``InAadhaarRecognizer``) for English
text, so a spec can turn on country identifiers presidio does not load for English by default.

>>> r = DkCprRecognizer()
>>> [(x.entity_type, x.start, x.end, x.score) for x in r.analyze("CPR: 070761-4285", ["DK_CPR"])]
[('DK_CPR', 5, 16, 0.65)]
>>> cpr_date_ok("310299-1234"), mod11_ok("0707614285")
(False, True)
"""

from __future__ import annotations

import datetime
import difflib

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer import predefined_recognizers as predefined

from pipeline.errors import ConfigError

_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
# Recognizers that need a model, a service or another language's NLP: not offered by name.
_NOT_OFFERED = (
    "SpacyRecognizer",
    "StanzaRecognizer",
    "TransformersRecognizer",
    "HuggingFaceNerRecognizer",
    "GLiNERRecognizer",
    "MedicalNERRecognizer",
    "AzureAILanguageRecognizer",
    "AzureHealthDeidRecognizer",
    "AzureOpenAILangExtractRecognizer",
    "BasicLangExtractRecognizer",
    "LangExtractRecognizer",
)


def _century(year: int, seventh: int) -> int | None:
    """The CPR office's century rule (7th digit and two-digit year)."""
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if year <= 36 else 1900
    return 2000 if year <= 57 else 1800


def cpr_date_ok(value: str) -> bool:
    """Whether the digits of `value` start with a real date of birth (DDMMYY + century digit)."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) != 10:
        return False
    day, month, year = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    century = _century(year, int(digits[6]))
    try:
        datetime.date(century + year, month, day)  # type: ignore[operator]
    except ValueError:
        return False
    return True


def mod11_ok(value: str) -> bool:
    """The CPR modulus-11 check on the ten digits of `value`."""
    digits = [int(ch) for ch in value if ch.isdigit()]
    return len(digits) == 10 and sum(w * d for w, d in zip(_WEIGHTS, digits, strict=True)) % 11 == 0


class DkCprRecognizer(PatternRecognizer):
    """Danish CPR numbers (see the module docstring)."""

    PATTERNS = [
        Pattern("cpr (separated)", r"(?<![\d-])[0-3]\d[01]\d\d\d[- ]\d{4}(?![\d-])", 0.65),
        Pattern("cpr (plain)", r"(?<![\d-])[0-3]\d[01]\d{7}(?![\d-])", 0.4),
    ]
    CONTEXT = ["cpr", "cpr-nr", "cprnr", "personnummer", "personnr", "cpr-nummer", "personal"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="DK_CPR",
            name="MixgateDkCprRecognizer",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language="en",
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        """Reject a number that does not start with a real date of birth (``None``: keep the
        pattern's score; presidio would raise a ``True`` to 1.0)."""
        return None if cpr_date_ok(pattern_text) else False

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Presidio's pattern analysis, then the score penalty for failing modulus-11."""
        results: list[RecognizerResult] = super().analyze(
            text, entities, nlp_artifacts, regex_flags
        )
        for r in results:
            if not mod11_ok(text[r.start : r.end]):
                r.score = round(r.score - 0.35, 4) if r.score > 0.5 else 0.1
        return results


def offered_recognizers() -> list[str]:
    """Names of presidio's predefined pattern recognizers a spec may enable."""
    return sorted(
        name
        for name in dir(predefined)
        if name.endswith("Recognizer")
        and name not in _NOT_OFFERED
        and isinstance(getattr(predefined, name), type)
        and issubclass(getattr(predefined, name), EntityRecognizer)
    )


def country_recognizer(name: str) -> EntityRecognizer:
    """Instantiate presidio's predefined recognizer `name` for English text.

    Raises
    ------
    ConfigError
        `name` is not one of `offered_recognizers()` (with a did-you-mean).
    """
    offered = offered_recognizers()
    if name not in offered:
        close = difflib.get_close_matches(name, offered, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        msg = (
            f"`recognizers` entries must be presidio pattern recognizer class names such as "
            f"EsNifRecognizer, ItFiscalCodeRecognizer, InAadhaarRecognizer; got {name!r}{hint}"
        )
        raise ConfigError(msg)
    cls = getattr(predefined, name)
    try:
        return cls(supported_language="en")
    except TypeError:
        return cls()
