"""Text normalization shared by every stage that compares text (dedup, decontamination, quality)."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Return `text` in NFKC, casefolded, with every whitespace run collapsed to one space.

    >>> normalize_text("  Hello\\u00a0  WORLD\\n")
    'hello world'
    """
    if text.isascii():  # NFKC leaves ASCII as it is, and casefolds it to lowercase
        return _WS.sub(" ", text.lower()).strip()
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
