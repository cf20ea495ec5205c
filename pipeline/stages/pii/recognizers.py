"""mixgate's additions to presidio's recognizers, and how overlapping types are reconciled.

`CardNumberRecognizer` covers payment card numbers presidio's `CreditCardRecognizer` misses: its
pattern accepts 13-17 digits and only IINs starting with 1, 3, 4, 5[0-5] or 6, so 19-digit Visa,
12-digit Maestro and 2-series Mastercard / JCB 2131 numbers go unseen. This one accepts 12-19
digits (optionally grouped by spaces or dashes) whose prefix and length match a card scheme's
issuer range, and that pass the Luhn check. It emits ``CREDIT_CARD``.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

# (first digits range low, high, number of prefix digits) -> allowed lengths
_CARD_SCHEMES: tuple[tuple[int, int, int, tuple[int, ...]], ...] = (
    (4, 4, 1, (13, 16, 19)),  # Visa
    (51, 55, 2, (16,)),  # Mastercard
    (2221, 2720, 4, (16,)),  # Mastercard 2-series
    (34, 34, 2, (15,)),  # American Express
    (37, 37, 2, (15,)),
    (300, 305, 3, (14,)),  # Diners Club
    (36, 36, 2, (14,)),
    (38, 39, 2, (14, 16)),
    (6011, 6011, 4, (16, 19)),  # Discover
    (644, 649, 3, (16, 19)),
    (65, 65, 2, (16, 19)),
    (3528, 3589, 4, (16, 17, 18, 19)),  # JCB
    (2131, 2131, 4, (15,)),
    (1800, 1800, 4, (15,)),
    (50, 50, 2, tuple(range(12, 20))),  # Maestro
    (56, 69, 2, tuple(range(12, 20))),
    (62, 62, 2, tuple(range(16, 20))),  # UnionPay
)
# Entity types that win over an overlapping PHONE_NUMBER finding (their patterns are specific,
# phone matching is not: a card or social security number also parses as a phone number).
SPECIFIC_OVER_PHONE = frozenset(
    {
        "CREDIT_CARD",
        "US_SSN",
        "IP_ADDRESS",
        "IBAN_CODE",
        "DK_CPR",
        "API_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    }
)


def luhn_ok(digits: str) -> bool:
    """Return whether a digit string passes the Luhn checksum.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_scheme_ok(digits: str) -> bool:
    """Return whether `digits` has the prefix and length of a known card scheme."""
    for low, high, width, lengths in _CARD_SCHEMES:
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


class CardNumberRecognizer(PatternRecognizer):
    """Payment card numbers by issuer range + length + Luhn (see the module docstring)."""

    PATTERNS = [Pattern("card number (issuer range)", r"\b\d(?:[ -]?\d){11,18}\b", 0.3)]
    CONTEXT = ["credit", "card", "visa", "mastercard", "amex", "debit", "cc"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            name="MixgateCardNumberRecognizer",
            patterns=self.PATTERNS,
            context=self.CONTEXT,
        )

    def validate_result(self, pattern_text: str) -> bool:
        """Accept when the digits match a card scheme and pass the Luhn check."""
        digits = "".join(ch for ch in pattern_text if ch.isdigit())
        return card_scheme_ok(digits) and luhn_ok(digits)
