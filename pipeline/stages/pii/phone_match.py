"""phonenumbers' matcher with a memo of each candidate's verdict, and presidio's phone recognizer
on it.

`phonenumbers.PhoneNumberMatcher` tries each candidate of a text (and pieces of it) in
``_parse_and_verify``: first the characters next to the candidate, then ``parse`` and the
leniency's validity checks in its region. That second part depends only on the candidate, the
region and the leniency, and the same candidates recur: years, single digits, pieces of
overlapping digit runs, and the phone pre-check and presidio's recognizer try the same runs
(6,504 tries per LIMA pass, 2,278 distinct). `VerdictMatcher` remembers that verdict and calls
phonenumbers' own ``_parse_and_verify`` only for a candidate whose verdict is true (or could not
be taken), so every match it yields is one phonenumbers' matcher yields, in the same order
(`test_phone_match.py`).

`MemoPhoneRecognizer` is presidio's `PhoneRecognizer` (same name, regions, leniency, results)
whose matcher is a `VerdictMatcher`, run only in the regions `RegionFloors` keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import phonenumbers
import phonenumbers.phonenumbermatcher as pnm
from phonenumbers.phonenumbermatcher import _PATTERN as _PHONE_CANDIDATE
from phonenumbers.re_util import fullmatch
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.stages.pii.phone_floor import PLUS_FLOOR, digit_floor

VERDICTS = 100_000  # candidate verdicts remembered (candidates are short)
Verdicts = dict[tuple[str, str | None, int], bool]  # (candidate, region, leniency)


def too_few_digits(candidate: str, floor: int) -> bool:
    """Whether `candidate` has fewer digits (and letters) than `floor`, the `digit_floor` of a
    region, and is no ``+`` number of `PLUS_FLOOR` of them: then it is no valid number there."""
    count = sum(c.isdigit() or c.isalpha() for c in candidate)
    if count >= floor:
        return False
    return not (count >= PLUS_FLOOR and ("+" in candidate or "\uff0b" in candidate))


def verdict(matcher: pnm.PhoneNumberMatcher, candidate: str, floor: int = 0) -> bool | None:
    """Whether `candidate` passes the context-free part of phonenumbers' ``_parse_and_verify``
    in the matcher's region and leniency (bracket and page checks, ``parse``, the leniency's
    verification); ``None`` when that raised something other than a parse error (then the
    matcher's own code decides, and raises as it would have). A candidate `too_few_digits` for
    the region's `floor` (0: none known) is refused without parsing."""
    if floor and too_few_digits(candidate, floor):
        return False
    try:
        if not fullmatch(pnm._MATCHING_BRACKETS, candidate) or pnm._PUB_PAGES.search(candidate):
            return False
        number = phonenumbers.parse(candidate, matcher.preferred_region, keep_raw_input=True)
        return bool(pnm._verify(matcher.leniency, number, candidate, matcher))
    except phonenumbers.NumberParseException:
        return False
    except Exception:
        return None


class VerdictMatcher(pnm.PhoneNumberMatcher):
    """`PhoneNumberMatcher` that skips a candidate whose remembered `verdict` is false.

    phonenumbers' ``_parse_and_verify`` returns a match only when the context checks *and* the
    verdict pass; a false verdict therefore means no match at any offset, and the caller's
    bookkeeping (tries left) is the same as after phonenumbers' own refusal.
    """

    def __init__(
        self, text: str, region: str, *, leniency: int, verdicts: Verdicts, floor: int = 0
    ) -> None:
        super().__init__(text, region, leniency=leniency)
        self._verdicts = verdicts
        self._floor = floor  # the region's `digit_floor` (0: none), for `verdict`

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        key = (candidate, self.preferred_region, self.leniency)
        known = self._verdicts.get(key)
        if known is None:
            known = verdict(self, candidate, self._floor)
            if known is not None:
                if len(self._verdicts) >= VERDICTS:
                    self._verdicts.clear()
                self._verdicts[key] = known
        if known is False:
            return None
        return super()._parse_and_verify(candidate, offset)


class RegionFloors:
    """The regions of a phone recognizer in which a text can hold a valid number (`phone_floor`)."""

    def __init__(self, regions: Iterable[str], leniency: int | None) -> None:
        self.regions = list(regions)
        self._floors = (
            [(r, digit_floor(r)) for r in self.regions]
            if (leniency or 0) >= phonenumbers.Leniency.VALID
            else None
        )
        self.floor = dict(self._floors or ())  # region -> floor; empty below VALID leniency

    def regions_to_match(self, text: str) -> list[str]:
        """The regions in which `text` can hold a valid number: a region is skipped when every
        phonenumbers candidate in `text` has fewer digits (and letters, read as vanity digits)
        than the fewest a valid number needs there (`phone_floor`). Same matches as every
        region (test_phone_floor.py)."""
        if self._floors is None:
            return list(self.regions)
        most = most_plus = 0
        for m in _PHONE_CANDIDATE.finditer(text):
            candidate = m.group()
            count = sum(c.isdigit() or c.isalpha() for c in candidate)
            if "+" in candidate or "\uff0b" in candidate:
                most_plus = max(most_plus, count)
            else:
                most = max(most, count)
        if most_plus >= PLUS_FLOOR:
            return list(self.regions)
        return [region for region, floor in self._floors if max(most, most_plus) >= floor]


class MemoPhoneRecognizer(PhoneRecognizer):
    """presidio's `PhoneRecognizer` (its name, so the registry and results read the same) whose
    matcher remembers candidate verdicts (`verdicts`, shared with the scanner's phone pre-check)
    and runs only in the regions `RegionFloors` keeps: a skipped region has no match."""

    def __init__(self, supported_regions: Iterable[str]) -> None:
        super().__init__(supported_regions=tuple(supported_regions), name="PhoneRecognizer")
        self.verdicts: Verdicts = {}
        self.floors = RegionFloors(self.supported_regions, self.leniency)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """presidio's `PhoneRecognizer.analyze` (2.2.366), over `VerdictMatcher`."""
        results = []
        for region in self.floors.regions_to_match(text):
            matcher = VerdictMatcher(
                text,
                region,
                leniency=cast(int, self.leniency),
                verdicts=self.verdicts,
                floor=self.floors.floor.get(region, 0),
            )
            named: str | None = region  # presidio reassigns its loop variable here
            for match in matcher:
                try:
                    parsed_number = phonenumbers.parse(text[match.start : match.end])
                    named = phonenumbers.region_code_for_number(parsed_number)
                    results += [self._get_recognizer_result(match, text, named, nlp_artifacts)]
                except phonenumbers.NumberParseException:
                    results += [self._get_recognizer_result(match, text, named, nlp_artifacts)]
        return EntityRecognizer.remove_duplicates(results)
