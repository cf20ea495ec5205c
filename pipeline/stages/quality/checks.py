"""The quality checks on one record, as plain functions (each returns a reason code or nothing).

A record's texts are seen as ``(field, role, text)``: ``messages[i].content`` with the turn's role,
and ``chosen`` / ``rejected`` as replies (role ``assistant``).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from pipeline.records.text import normalize_text
from pipeline.stages.quality.config import LengthBounds, RepetitionLimits

_ROLE_GROUP = {"system": "system", "user": "prompt", "assistant": "reply"}
_TOOL_TAG = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_TOOL_FENCE = re.compile(r"```tool_call[ \t]*\n(.*?)```", re.DOTALL)
_WORD = re.compile(r"\w+")
_HAS_ALNUM = re.compile(r"\w")
# bytes.translate table: ASCII letters to lower case, digits and "_" kept, every other byte blank
_ASCII_WORDS = bytes(
    ord(chr(c).lower()) if c < 128 and (chr(c).isalnum() or c == ord("_")) else ord(" ")
    for c in range(256)
)
_GROUP_REFERENCE = re.compile(r"\\\d|\(\?P=|\(\?\(")
_JSON_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


class Failure(NamedTuple):
    """A failed check: the reason code and the evidence (field, measured value, limit)."""

    reason: str
    field: str
    value: Any = None
    limit: Any = None


def iter_record_texts(record: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield ``(field, role, text)`` of a canonical record; chosen/rejected are replies."""
    for i, message in enumerate(record.get("messages") or ()):
        yield f"messages[{i}].content", message["role"], message["content"] or ""
    for name in ("chosen", "rejected"):
        if record.get(name) is not None:
            yield name, "assistant", record[name]


def approx_tokens(text: str) -> int:
    """Approximate a token count as ``ceil(chars / 4)``.

    >>> approx_tokens("abcdefgh"), approx_tokens("abcdefghi")
    (2, 3)
    """
    return math.ceil(len(text) / 4)


def check_empty_reply(texts: list[tuple[str, str, str]]) -> Failure | None:
    """Fail on the first reply that is empty or only whitespace."""
    for name, role, text in texts:
        if role == "assistant" and not text.strip():
            return Failure("empty_reply", name)
    return None


def check_same_pair(record: Mapping[str, Any]) -> Failure | None:
    """Fail a preference pair whose replies are equal after `normalize_text`."""
    chosen, rejected = record.get("chosen"), record.get("rejected")
    if (
        chosen is not None
        and rejected is not None
        and normalize_text(chosen) == normalize_text(rejected)
    ):
        return Failure("chosen_equals_rejected", "chosen")
    return None


def check_lengths(
    texts: list[tuple[str, str, str]], bounds: Mapping[str, LengthBounds]
) -> Failure | None:
    """Fail on the first text outside its field group's character or approximate-token bounds."""
    for name, role, text in texts:
        limits = bounds.get(_ROLE_GROUP.get(role, ""))
        if limits is None:
            continue
        group = _ROLE_GROUP[role]
        for unit, size in (("chars", len(text)), ("tokens", approx_tokens(text))):
            low, high = getattr(limits, f"min_{unit}"), getattr(limits, f"max_{unit}")
            if low is not None and size < low:
                return Failure(f"too_short:{group}_{unit}", name, size, low)
            if high is not None and size > high:
                return Failure(f"too_long:{group}_{unit}", name, size, high)
    return None


def _duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _ngrams(words: list[Any], n: int) -> Iterator[tuple[Any, ...]]:
    return zip(*(words[i:] for i in range(n)))  # words[i : i + n] for each start i, in order


def _dup_ngram_chars(words: list[Any], n: int) -> int:
    if len(set(_ngrams(words, n))) == max(0, len(words) - n + 1):
        return 0  # no n-gram occurs twice: the common case, decided without the walk
    seen: set[tuple[Any, ...]] = set()
    chars, i = 0, 0
    while i + n <= len(words):
        gram = tuple(words[i : i + n])
        if gram in seen:
            chars += sum(map(len, gram)) + n - 1
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def _without_code(text: str) -> str:
    """Replace each fenced block (```` ``` ```` to the next ```` ``` ````, or the end) by a newline.

    What ``re.sub(r"```.*?(?:```|\\Z)", "\\n", text, flags=re.DOTALL)`` does, by `str.find`:
    the lazy regex tries to stop at every character of a block (5x slower).

    >>> _without_code("a```x```b```y")
    'a\\nb\\n'
    """
    parts: list[str] = []
    at = 0
    while (start := text.find("```", at)) >= 0:
        end = text.find("```", start + 3)
        parts += (text[at:start], "\n")
        at = len(text) if end < 0 else end + 3
    parts.append(text[at:])
    return "".join(parts)


def _words(text: str, at_least: int = 0) -> list[str] | list[bytes]:
    r"""Return the ``\w+`` words of ``text.lower()``; ASCII texts as bytes, by a table (same words).

    For ASCII, ``\w`` is ``[A-Za-z0-9_]`` and lower-casing maps only ``A-Z``, so blanking every
    other byte and splitting on blanks gives the same words, in order, with the same lengths:
    4x cheaper than the regex. Repetition measures use only word equality and lengths. An ASCII
    text with fewer than `at_least` - 1 blanks has fewer than `at_least` words (a blank follows
    each word but the last): ``[]`` then, without splitting.

    >>> _words("Hi, it's A_b2!"), _words("Ünïcode wörds"), _words("a b c", at_least=4)
    ([b'hi', b'it', b's', b'a_b2'], ['ünïcode', 'wörds'], [])
    """
    if text.isascii():
        blanked = text.encode("ascii").translate(_ASCII_WORDS)
        return blanked.split() if blanked.count(b" ") + 1 >= at_least else []
    return _WORD.findall(text.lower())


def _repeats(words: list[Any], n: int) -> bool:
    """Whether some n-gram of `words` occurs twice (every longer repeated gram contains one)."""
    return len(set(_ngrams(words, n))) < max(0, len(words) - n + 1)


def _top_ngram_reason(
    words: list[Any], size: int, limits: RepetitionLimits
) -> tuple[str, float, float] | None:
    """The first top n-gram limit exceeded (n ascending), skipping an n that provably passes.

    An n-gram occurs at most as often as its prefix, so the top count of a shorter n (`cap`)
    bounds this n's, and its characters are at most n longest words and n - 1 spaces: when
    that product is within the limit, so is the measure (no count needed; exact in floats,
    as division by `size` is monotonic).
    """
    cap, longest = None, max(map(len, words))
    for n, limit in limits.top_ngram_max_frac:
        if cap is not None and cap * (n * longest + n - 1) / size <= limit:
            continue
        grams = Counter(_ngrams(words, n))
        if grams:
            gram, count = grams.most_common(1)[0]
            frac = (sum(map(len, gram)) + n - 1) * count / size if count > 1 else 0.0
            if frac > limit:
                return f"top_{n}gram_frac", frac, limit
            cap = count
    return None


def repetition_reason(text: str, limits: RepetitionLimits) -> tuple[str, float, float] | None:
    """Return ``(reason, fraction, limit)`` for the first exceeded repetition limit, else None.

    Line checks always run; n-gram checks need at least ``limits.min_words`` words. Fractions
    are of the text's characters after fenced code is removed (when ``limits.skip_code``).
    Every measure is 0 (so under any limit) without a repeat: one line can't repeat a line, and
    when no n-gram of the smallest n measured repeats, no longer one does either.
    """
    if limits.skip_code and "```" in text:
        text = _without_code(text)
    size = len(text)
    if not size:
        return None
    if "\n" in text:
        lines = [line.strip() for line in text.split("\n")]
        lines = [line for line in lines if _HAS_ALNUM.search(line)]
        count, chars = _duplicates(lines)
        if lines and count / len(lines) > limits.max_dup_line_frac:
            return "dup_line_frac", count / len(lines), limits.max_dup_line_frac
        if lines and chars / size > limits.max_dup_line_char_frac:
            return "dup_line_char_frac", chars / size, limits.max_dup_line_char_frac
    sizes = [n for n, _ in (*limits.top_ngram_max_frac, *limits.dup_ngram_max_frac)]
    if not sizes:
        return None
    words = _words(text, limits.min_words)
    if len(words) < limits.min_words or not _repeats(words, min(sizes)):
        return None
    found = _top_ngram_reason(words, size, limits)
    if found:
        return found
    for n, limit in limits.dup_ngram_max_frac:
        frac = _dup_ngram_chars(words, n) / size
        if frac > limit:
            return f"dup_{n}gram_frac", frac, limit
    return None


def check_repetition(texts: list[tuple[str, str, str]], limits: RepetitionLimits) -> Failure | None:
    """Fail on the first reply whose line or n-gram repetition exceeds a limit."""
    for name, role, text in texts:
        if role == "assistant":
            found = repetition_reason(text, limits)
            if found:
                return Failure(found[0], name, round(found[1], 4), found[2])
    return None


def tool_call_problem(text: str, tools: Mapping[str, Mapping[str, str]]) -> str | None:
    """Return the reason code of the first bad tool call in `text`, else None.

    A tool call is the JSON object inside ``<tool_call>...</tool_call>`` or a fenced block
    opened with ```` ```tool_call ````, shaped ``{"name": str, "arguments": object}``
    (``arguments`` may also be a string holding a JSON object). When `tools` is non-empty, the
    name must be declared and the arguments must match: every argument declared without ``?``
    present, no undeclared argument, each value of its JSON type.
    """
    if text.count("<tool_call>") != text.count("</tool_call>"):
        return "tool_call_unclosed"
    for body in [*_TOOL_TAG.findall(text), *_TOOL_FENCE.findall(text)]:
        try:
            call = json.loads(body)
        except ValueError:
            return "tool_call_invalid_json"
        arguments = call.get("arguments") if isinstance(call, dict) else None
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return "tool_call_invalid_json"
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("name"), str)
            or not isinstance(arguments, dict)
        ):
            return "tool_call_bad_shape"
        if tools:
            problem = _schema_problem(call["name"], arguments, tools)
            if problem:
                return problem
    return None


def _schema_problem(
    name: str, arguments: dict[str, Any], tools: Mapping[str, Mapping[str, str]]
) -> str | None:
    schema = tools.get(name)
    if schema is None:
        return "tool_call_unknown_tool"
    for arg, kind in schema.items():
        if arg not in arguments:
            if not kind.endswith("?"):
                return "tool_call_missing_argument"
        elif not _JSON_TYPE_CHECKS[kind.rstrip("?")](arguments[arg]):
            return "tool_call_wrong_type"
    if set(arguments) - set(schema):
        return "tool_call_unexpected_argument"
    return None


def check_tool_calls(
    texts: list[tuple[str, str, str]], tools: Mapping[str, Mapping[str, str]]
) -> Failure | None:
    """Fail on the first reply holding a malformed or schema-violating tool call."""
    for name, role, text in texts:
        if role == "assistant" and "tool_call" in text:
            problem = tool_call_problem(text, tools)
            if problem:
                return Failure(problem, name)
    return None


def any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    """Return one regex that matches where any of `patterns` (all of the same flags) does.

    >>> any_of([re.compile("ab"), re.compile("c+d")]).pattern
    '(?:ab)|(?:c+d)'
    """
    if (
        not patterns
        or len({p.flags for p in patterns}) != 1
        or any(_GROUP_REFERENCE.search(p.pattern) for p in patterns)
    ):
        return None  # a numbered reference would point elsewhere in the alternation
    try:
        return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), patterns[0].flags)
    except re.error:  # inline global flags, a group name used twice
        return None


def find_refusal(
    texts: list[tuple[str, str, str]],
    patterns: list[re.Pattern[str]],
    any_pattern: re.Pattern[str] | None = None,
) -> Failure | None:
    """Return the first reply matching a refusal / boilerplate pattern, as a `Failure`.

    `any_pattern` (`any_of(patterns)`) rules out most replies in one search; the pattern named
    is still the first of `patterns` that matches.
    """
    for name, role, text in texts:
        if role == "assistant" and (any_pattern is None or any_pattern.search(text)):
            for pattern in patterns:
                if pattern.search(text):
                    return Failure("refusal", name, value=pattern.pattern)
    return None
