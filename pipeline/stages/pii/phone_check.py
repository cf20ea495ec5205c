"""The phone pre-check: whether presidio's `PhoneRecognizer` can match around a digit run.

A window triggered by a digit run is sent to presidio for PHONE_NUMBER only when phonenumbers'
own matcher (same regions and leniency) finds a number on the run plus `PHONE_MARGIN`
characters either side: a phone match lies within its digit run and a few characters (a leading
``(`` or ``+``, an extension), and the matcher's checks look only at the characters next to a
candidate. A region is skipped without running its matcher when no candidate holds enough digits
for it (`phone_floor`). Results are cached by slice (years and versions repeat).
"""

from __future__ import annotations

import re
from typing import cast

import phonenumbers
import phonenumbers.re_util
from phonenumbers.phonenumbermatcher import _PATTERN as _PHONE_CANDIDATE
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.stages.pii.filters import has_context
from pipeline.stages.pii.phone_floor import PLUS_FLOOR, digit_floor

PHONE_MARGIN = 24  # characters around a digit run given to the phone pre-check
_SLICE_CACHE = 100_000  # pre-check results remembered (slices are short)
_EXTENSION = re.compile(r"[ \t]*(?:ext|x|#|e)", re.IGNORECASE)

# phonenumbers compiles its metadata patterns through `re.compile` on every use; this keeps them
# (its own switch, as its Java original's RegexCache): ~3 % of the scan on LIMA, same matches.
phonenumbers.re_util.enable_pattern_cache()


def bare_without_context(text: str, start: int, end: int) -> bool:
    """Whether the digit run ``text[start:end]`` is digits only, not followed by an extension,
    with no phone context word near: every phone match inside it scores `UNFORMATTED_SCORE`."""
    return (
        text[start:end].isdigit()
        and not _EXTENSION.match(text, end)
        and not has_context(text, start, end)
    )


class PhoneCheck:
    """The pre-check of one `PhoneRecognizer` (its regions and leniency), with its slice cache."""

    def __init__(self, phone: PhoneRecognizer) -> None:
        self.phone = phone
        self.leniency = cast(int, phone.leniency)
        self._floors = (
            [(r, digit_floor(r)) for r in phone.supported_regions]
            if (phone.leniency or 0) >= phonenumbers.Leniency.VALID
            else None
        )
        self._slices: dict[str, bool] = {}

    def clear(self) -> None:
        """Forget the cached results."""
        self._slices.clear()

    def candidate(
        self, text: str, runs: tuple[tuple[int, int], ...], *, prune: bool = False
    ) -> bool:
        """Whether the recognizer can match around one of the digit `runs` of `text`; with
        `prune`, runs that `bare_without_context` holds are skipped."""
        for start, end in runs:
            if prune and bare_without_context(text, start, end):
                continue
            piece = text[max(0, start - PHONE_MARGIN) : end + PHONE_MARGIN]
            hit = self._slices.get(piece)
            if hit is None:
                hit = any(
                    phonenumbers.PhoneNumberMatcher(
                        piece, region, leniency=self.leniency
                    ).has_next()
                    for region in self.regions_to_match(piece)
                )
                if len(self._slices) >= _SLICE_CACHE:
                    self._slices.clear()
                self._slices[piece] = hit
            if hit:
                return True
        return False

    def regions_to_match(self, piece: str) -> list[str]:
        """The phone regions in which `piece` can hold a valid number: a region is skipped when
        every phonenumbers candidate in `piece` has fewer digits (and letters, read as vanity
        digits) than the fewest a valid number needs there (`phone_floor`). Same result as
        matching every region (test_phone_floor.py), at a third of the matcher runs on LIMA."""
        if self._floors is None:
            return list(self.phone.supported_regions)
        most = most_plus = 0
        for m in _PHONE_CANDIDATE.finditer(piece):
            candidate = m.group()
            count = sum(c.isdigit() or c.isalpha() for c in candidate)
            if "+" in candidate or "\uff0b" in candidate:
                most_plus = max(most_plus, count)
            else:
                most = max(most, count)
        if most_plus >= PLUS_FLOOR:
            return list(self.phone.supported_regions)
        return [region for region, floor in self._floors if max(most, most_plus) >= floor]
