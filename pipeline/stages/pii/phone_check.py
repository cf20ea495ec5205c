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

import phonenumbers.re_util
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.stages.pii.filters import has_context
from pipeline.stages.pii.phone_match import RegionFloors, VerdictMatcher, Verdicts

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
    """The pre-check of one `PhoneRecognizer` (its regions and leniency), with its slice cache
    and the recognizer's candidate verdicts (`phone_match.VerdictMatcher`), when it keeps them."""

    def __init__(self, phone: PhoneRecognizer) -> None:
        self.phone = phone
        self.leniency = cast(int, phone.leniency)
        self._floors = RegionFloors(phone.supported_regions, phone.leniency)
        self._verdicts: Verdicts = getattr(phone, "verdicts", {})
        self._slices: dict[str, bool] = {}

    def clear(self) -> None:
        """Forget the cached results (and the candidate verdicts)."""
        self._slices.clear()
        self._verdicts.clear()

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
                    VerdictMatcher(
                        piece,
                        region,
                        leniency=self.leniency,
                        verdicts=self._verdicts,
                        floor=self._floors.floor.get(region, 0),
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
        """The phone regions in which `piece` can hold a valid number
        (`phone_match.RegionFloors`): a third of the matcher runs on LIMA."""
        return self._floors.regions_to_match(piece)
