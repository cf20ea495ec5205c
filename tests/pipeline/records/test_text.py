"""normalize_text: split/join equals the regex definition it replaced (the oracle below)."""

from __future__ import annotations

import re
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records.text import normalize_text

_WS = re.compile(r"\s+")


def _oracle(text: str) -> str:
    """The definition before issue 15: collapse ``\\s+`` runs, then strip."""
    if text.isascii():
        return _WS.sub(" ", text.lower()).strip()
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def test_str_whitespace_is_the_regex_whitespace_at_every_code_point():
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    regex = _WS.findall("".join(chr(c) for c in range(sys.maxunicode + 1)))
    assert "".join(regex) == "".join(spaces)
    assert "".join(spaces).strip() == "" and "".join(spaces).split() == []


SPECIAL = "\u2028\u2029\x1c\x1f\x85\xa0\u3000\u200b\ufeff\t\r\n\x0b\x0c \u0301\u05d0😀ﬁİß"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(SPECIAL)), max_size=80))
def test_normalize_text_equals_the_regex_definition(text):
    assert normalize_text(text) == _oracle(text)


def test_normalize_text_edge_cases():
    for text in ["", " ", "\u2028", "a\u2028b", "x" * 100_000 + "  \n y", " \x85 A\u00a0B "]:
        assert normalize_text(text) == _oracle(text)
