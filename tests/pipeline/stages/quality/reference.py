"""The quality stage's per-row definitions (c73e8a6), kept verbatim as test oracles.

`tag_quality` now runs each gate over a frame's flat text lists, and `repetition_reason` skips
work it can prove changes nothing; these are the plain definitions they must agree with.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import polars as pl

from pipeline.stages.quality.checks import (
    _HAS_ALNUM,
    _WORD,
    Failure,
    _duplicates,
    any_of,
    check_empty_reply,
    check_lengths,
    check_same_pair,
    check_tool_calls,
    find_refusal,
    iter_record_texts,
)
from pipeline.stages.quality.config import QualityConfig, RepetitionLimits
from pipeline.stages.quality.stage import GATE_ORDER

_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_BOOL_COLUMNS = ("quality_empty_reply", "quality_same_pair", "quality_refusal")


def _ngrams(words, n):
    return zip(*(words[i:] for i in range(n)))


def _dup_ngram_chars(words, n):
    seen, chars, i = set(), 0, 0
    while i + n <= len(words):
        gram = tuple(words[i : i + n])
        if gram in seen:
            chars += sum(map(len, gram)) + n - 1
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def repetition_reason(text: str, limits: RepetitionLimits) -> tuple[str, float, float] | None:
    """c73e8a6's definition, without its no-repeat shortcut."""
    if limits.skip_code and "```" in text:
        text = _CODE_FENCE.sub("\n", text)
    size = len(text)
    if not size:
        return None
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if _HAS_ALNUM.search(line)]
    if lines:
        count, chars = _duplicates(lines)
        if count / len(lines) > limits.max_dup_line_frac:
            return "dup_line_frac", count / len(lines), limits.max_dup_line_frac
        if chars / size > limits.max_dup_line_char_frac:
            return "dup_line_char_frac", chars / size, limits.max_dup_line_char_frac
    words = _WORD.findall(text.lower())
    if len(words) < limits.min_words:
        return None
    for n, limit in limits.top_ngram_max_frac:
        grams = Counter(_ngrams(words, n))
        if grams:
            gram, count = grams.most_common(1)[0]
            frac = (sum(map(len, gram)) + n - 1) * count / size if count > 1 else 0.0
            if frac > limit:
                return f"top_{n}gram_frac", frac, limit
    for n, limit in limits.dup_ngram_max_frac:
        frac = _dup_ngram_chars(words, n) / size
        if frac > limit:
            return f"dup_{n}gram_frac", frac, limit
    return None


def _check_repetition(texts, limits):
    for name, role, text in texts:
        if role == "assistant":
            found = repetition_reason(text, limits)
            if found:
                return Failure(found[0], name, round(found[1], 4), found[2])
    return None


def _run_gates(record, config, refusals, any_refusal):
    texts = list(iter_record_texts(record))
    is_pair = record.get("chosen") is not None and record.get("rejected") is not None
    return {
        "empty_reply_v1": check_empty_reply(texts) if config.empty_reply else None,
        "same_pair_v1": check_same_pair(record) if config.same_pair and is_pair else None,
        "tool_call_v1": check_tool_calls(texts, config.tool_calls)
        if config.tool_calls is not None
        else None,
        "length_bounds_v1": check_lengths(texts, config.lengths) if config.lengths else None,
        "repetition_v1": _check_repetition(texts, config.repetition) if config.repetition else None,
        "refusal_v1": find_refusal(texts, refusals, any_refusal) if refusals else None,
    }


def _column_value(rule, column, failure, config, is_pair) -> Any:
    enabled = {
        "empty_reply_v1": config.empty_reply,
        "same_pair_v1": config.same_pair and is_pair,
        "tool_call_v1": config.tool_calls is not None,
        "length_bounds_v1": bool(config.lengths),
        "repetition_v1": config.repetition is not None,
        "refusal_v1": bool(config.refusal_patterns),
    }[rule]
    if not enabled:
        return None
    if column in _BOOL_COLUMNS:
        return failure is not None
    return failure.reason if failure else None


def tag_quality(frame: pl.DataFrame, *, config: QualityConfig) -> pl.DataFrame:
    """c73e8a6's row-by-row `tag_quality` (with the plain `repetition_reason` above)."""
    refusals = [re.compile(p, re.IGNORECASE) for p in config.refusal_patterns]
    any_refusal = any_of(refusals)
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    out: dict[str, list[Any]] = {column: [] for _, column in GATE_ORDER}
    rules, reasons, details = [], [], []
    for record in frame.select(columns).iter_rows(named=True):
        failures = _run_gates(record, config, refusals, any_refusal)
        is_pair = record.get("chosen") is not None and record.get("rejected") is not None
        first = None
        for rule, column in GATE_ORDER:
            failure = failures[rule]
            out[column].append(_column_value(rule, column, failure, config, is_pair))
            droppable = rule != "refusal_v1" or config.drop_refusals
            if first is None and failure is not None and droppable:
                first = (rule, failure)
        rules.append(first[0] if first else None)
        reasons.append(first[1].reason if first else None)
        details.append(
            json.dumps(
                {"rule": first[0], **first[1]._asdict()}, sort_keys=True, separators=(",", ":")
            )
            if first
            else None
        )
    return frame.with_columns(
        *(
            pl.Series(column, values, dtype=pl.Boolean if column in _BOOL_COLUMNS else pl.String)
            for column, values in out.items()
        ),
        pl.Series("quality_drop_rule", rules, dtype=pl.String),
        pl.Series("quality_drop_reason", reasons, dtype=pl.String),
        pl.Series("quality_detail", details, dtype=pl.String),
    )
