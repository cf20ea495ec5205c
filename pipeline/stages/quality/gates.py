"""Each quality gate over a whole frame: row -> the first failure of the row's texts.

The per-record checks of `pipeline.stages.quality.checks` stay the definition: a gate picks
the texts that can fail cheaply and exactly (a length outside the bounds, a reply holding
``tool_call``, a reply a refusal pattern can match), then runs the check on each, one text at a
time, in the record's text order. A check's verdict on a record is its first failing text's,
so the first failure per row found this way is the record's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from pipeline.stages.quality.checks import (
    _ROLE_GROUP,
    Failure,
    check_empty_reply,
    check_lengths,
    check_repetition,
    check_same_pair,
    check_tool_calls,
    find_refusal,
)
from pipeline.stages.quality.config import LengthBounds, QualityConfig
from pipeline.stages.quality.refusal import RefusalFinder
from pipeline.stages.quality.screen import repetition_candidates
from pipeline.stages.quality.texts import FrameTexts, frame_texts

Check = Callable[[list[tuple[str, str, str]]], Failure | None]


def _first_failures(
    texts: FrameTexts, candidates: Iterable[int], check: Check
) -> dict[int, Failure]:
    """Row -> the failure of its first candidate text (indices ascending) that `check` fails."""
    found: dict[int, Failure] = {}
    rows, fields, roles, values = texts
    for i in candidates:
        if rows[i] not in found:
            failure = check([(fields[i], roles[i], values[i])])
            if failure is not None:
                found[rows[i]] = failure
    return found


def length_window(bounds: LengthBounds) -> tuple[int, float]:
    """The character lengths that pass every bound of `bounds` (``low <= n <= high``).

    Tokens are ``ceil(n / 4)``, so ``tokens < t`` iff ``n < 4t - 3`` and ``tokens > t`` iff
    ``n > 4t``.

    >>> length_window(LengthBounds(min_chars=2, min_tokens=2, max_tokens=3))
    (5, 12)
    """
    low = max(bounds.min_chars or 0, 4 * bounds.min_tokens - 3 if bounds.min_tokens else 0)
    high = min(
        math.inf if bounds.max_chars is None else bounds.max_chars,
        math.inf if bounds.max_tokens is None else 4 * bounds.max_tokens,
    )
    return low, high


def _outside_lengths(texts: FrameTexts, roles: np.ndarray, config: QualityConfig) -> list[int]:
    """Indices of the texts whose role's group is bounded and whose length is outside."""
    lengths = np.fromiter(map(len, texts.texts), dtype=np.int64, count=len(texts.texts))
    outside = np.zeros(len(lengths), dtype=bool)
    for role, group in _ROLE_GROUP.items():
        if group in config.lengths:
            low, high = length_window(config.lengths[group])
            outside |= (roles == role) & ((lengths < low) | (lengths > high))
    return np.flatnonzero(outside).tolist()


def first_words_differ(chosen: str, rejected: str) -> bool:
    """True when two ASCII replies' first words differ, case aside: then `normalize_text` differs.

    For ASCII, `normalize_text` is the lower-cased words (``str.split``'s whitespace is ``\\s``'s)
    joined by single spaces. Rules out most pairs before normalizing both whole replies.

    >>> first_words_differ("Yes.  OK", "yes. ok"), first_words_differ("Sure", " No")
    (False, True)
    """
    if not (chosen.isascii() and rejected.isascii()):
        return False
    return [w.lower() for w in chosen.split(None, 1)[:1]] != [
        w.lower() for w in rejected.split(None, 1)[:1]
    ]


def _same_pairs(frame: pl.DataFrame) -> dict[int, Failure]:
    """Row -> `check_same_pair`'s failure, for the preference pairs (both replies present)."""
    if "chosen" not in frame.columns or "rejected" not in frame.columns:
        return {}
    found: dict[int, Failure] = {}
    pairs = zip(frame["chosen"].to_list(), frame["rejected"].to_list(), strict=True)
    for row, (chosen, rejected) in enumerate(pairs):
        if chosen is not None and rejected is not None and not first_words_differ(chosen, rejected):
            failure = check_same_pair({"chosen": chosen, "rejected": rejected})
            if failure is not None:
                found[row] = failure
    return found


def run_gates(frame: pl.DataFrame, config: QualityConfig) -> dict[str, dict[int, Failure]]:
    """Rule id -> {row: its first failure}, for the gates `config` switches on."""
    texts = frame_texts(frame)
    roles = np.array(texts.roles, dtype=object)
    replies = np.flatnonzero(roles == "assistant").tolist()
    values = texts.texts
    failures: dict[str, dict[int, Failure]] = {}
    if config.empty_reply:
        empty = [i for i in replies if not values[i].strip()]
        failures["empty_reply_v1"] = _first_failures(texts, empty, check_empty_reply)
    if config.same_pair:
        failures["same_pair_v1"] = _same_pairs(frame)
    if config.tool_calls is not None:
        tools = config.tool_calls
        calls = [i for i in replies if "tool_call" in values[i]]
        failures["tool_call_v1"] = _first_failures(
            texts, calls, lambda one: check_tool_calls(one, tools)
        )
    if config.lengths:
        failures["length_bounds_v1"] = _first_failures(
            texts,
            _outside_lengths(texts, roles, config),
            lambda one: check_lengths(one, config.lengths),
        )
    if config.repetition:
        limits = config.repetition
        failures["repetition_v1"] = _first_failures(
            texts,
            repetition_candidates(values, replies, limits),
            lambda one: check_repetition(one, limits),
        )
    if config.refusal_patterns:
        finder = RefusalFinder(config.refusal_patterns)
        failures["refusal_v1"] = _first_failures(
            texts,
            finder.candidates(values, replies),
            lambda one: find_refusal(one, finder.patterns, finder.any_pattern),
        )
    return failures
