"""Text normalization shared by every stage that compares text (dedup, decontamination, quality)."""

from __future__ import annotations

import unicodedata


def normalize_text(text: str) -> str:
    """Return `text` in NFKC, casefolded, with every whitespace run collapsed to one space.

    Whitespace is what ``str.split()`` splits on, the same characters as ``re``'s ``\\s``
    (both are ``Py_UNICODE_ISSPACE``; tests/pipeline/records/test_text.py checks every code
    point), so ``" ".join(text.split())`` is ``re.sub(r"\\s+", " ", text).strip()``, ~4x faster.

    >>> normalize_text("  Hello\\u00a0  WORLD\\n")
    'hello world'
    """
    if text.isascii():  # NFKC leaves ASCII as it is, and casefolds it to lowercase
        return " ".join(text.lower().split())
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
