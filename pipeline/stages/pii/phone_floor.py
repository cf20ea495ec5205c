"""The fewest digits a text must hold for phonenumbers to find a *valid* number in a region.

The phone pre-check (`phone_check.PhoneCheck`) runs phonenumbers' matcher once per region
on every digit run that survives the prefilter; on real text nearly all of them are years,
amounts and version strings that no region accepts, so each costs one matcher run per region.
A region can be skipped without running its matcher when no candidate holds enough digits:

- a valid number's national significant number (NSN) has one of its region's possible lengths
  (the metadata's general description holds the union over number types);
- the NSN is made of the candidate's digits (letters count too: phonenumbers reads three or more
  letters as vanity digits) minus prefixes, except that a national-prefix transform rule may add
  digits (e.g. SM's ``0549\\1``), counted against the floor;
- written without ``+``, a number is read in the region's national format (NSN of a region
  sharing its calling code) or after its international (IDD) prefix, followed by any calling
  code and that country's NSN; with ``+``, by any calling code and its NSN (`PLUS_FLOOR`).

>>> digit_floor("US"), digit_floor("DE"), PLUS_FLOOR
(7, 4, 5)
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

_GROUP_REFERENCE = re.compile(r"\\\d|\$\d")


def _metadata(calling_code: int) -> list[PhoneMetadata]:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code, ())
    found = (PhoneMetadata.metadata_for_region_or_calling_code(calling_code, r) for r in regions)
    return [m for m in found if m is not None]


def _added_digits(metadata: PhoneMetadata | None) -> int:
    """Digits a national-prefix transform rule may insert (its text minus group references)."""
    rule = metadata.national_prefix_transform_rule if metadata is not None else None
    return len(_GROUP_REFERENCE.sub("", rule)) if rule else 0


def _shortest_nsn(calling_code: int) -> int:
    lengths = [
        min((n for n in m.general_desc.possible_length if n > 0), default=1)
        for m in _metadata(calling_code)
        if m.general_desc is not None
    ]
    return min(lengths, default=1)


def _country_floor(calling_code: int) -> int:
    """Fewest digits of calling code + NSN for any number of `calling_code`."""
    added = max((_added_digits(m) for m in _metadata(calling_code)), default=0)
    return len(str(calling_code)) + _shortest_nsn(calling_code) - added


PLUS_FLOOR = min(_country_floor(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _shortest_match(pattern: str) -> int:
    return re._parser.parse(pattern).getwidth()[0]  # type: ignore[attr-defined]


@cache
def digit_floor(region: str) -> int:
    """Fewest digits (and letters) a candidate without ``+`` needs to be valid in `region`;
    0 (never skip) for a region phonenumbers has no metadata for."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return 0
    code = metadata.country_code
    main = PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    national = _shortest_nsn(code) - max(_added_digits(metadata), _added_digits(main))
    idd = metadata.international_prefix
    international = (_shortest_match(idd) if idd else 0) + PLUS_FLOOR
    return max(0, min(national, international))
