"""`QualityConfig`: the quality gates to run and their limits (each gate can be switched off)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from pipeline.errors import ConfigError

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
LENGTH_FIELDS = ("system", "prompt", "reply")
DEFAULT_REFUSAL_PATTERNS = (
    r"\bas an ai(?: language)? model\b",
    r"\bas an ai assistant\b",
    r"\bi(?: am|[’']m) (?:just )?an ai\b",
    r"\bi (?:cannot|can[’']t|can not|won[’']t) (?:help|assist) (?:you )?with (?:that|this)\b",
    r"\bi(?:[’']m| am) (?:sorry|afraid),? but i "
    r"(?:cannot|can[’']t|can not|won[’']t|am unable to|am not able to)\b",
    r"\bi(?:[’']m| am) (?:unable|not able) to (?:help|assist|provide|comply)\b",
    r"\bi (?:cannot|can[’']t|must decline to) (?:comply|fulfill|provide) "
    r"(?:with )?(?:that|this|your)\b",
)


def _reject(name: str, allowed: str, value: object) -> NoReturn:
    msg = f"`{name}` must be {allowed}; got {value!r}"
    raise ConfigError(msg)


@dataclass(frozen=True)
class LengthBounds:
    """Length limits for one field group; ``None`` means no limit.

    Tokens are approximated as ``ceil(chars / 4)`` (the usual English BPE ratio), so token limits
    need no tokenizer and give the same answer everywhere.
    """

    min_chars: int | None = None
    max_chars: int | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("min_chars", "max_chars", "min_tokens", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                _reject(name, "a non-negative integer or None", value)
        for unit in ("chars", "tokens"):
            low, high = getattr(self, f"min_{unit}"), getattr(self, f"max_{unit}")
            if low is not None and high is not None and low > high:
                msg = f"`min_{unit}` must be <= `max_{unit}`; got {low} > {high}"
                raise ConfigError(msg)


@dataclass(frozen=True)
class RepetitionLimits:
    """Gopher-style repetition limits for replies (Rae et al. 2021's measures, as in datatrove).

    Fractions above a limit fail the gate. The defaults target *degenerate generations* (loops)
    in chat data and are looser than Gopher's web-page limits (`gopher` returns those), which
    drop ~3% of LIMA's human-written answers. Fenced code blocks are left out when `skip_code`
    (code repeats lines legitimately), and lines without a letter or digit (``}``) are ignored.
    N-gram measures need at least `min_words` words.
    """

    max_dup_line_frac: float = 0.50
    max_dup_line_char_frac: float = 0.40
    top_ngram_max_frac: tuple[tuple[int, float], ...] = ((2, 0.30), (3, 0.30), (4, 0.30))
    dup_ngram_max_frac: tuple[tuple[int, float], ...] = ((5, 0.40), (10, 0.35))
    min_words: int = 50
    skip_code: bool = True

    @classmethod
    def gopher(cls) -> RepetitionLimits:
        """Gopher's original web-text limits (MassiveText quality filter)."""
        return cls(
            max_dup_line_frac=0.30,
            max_dup_line_char_frac=0.20,
            top_ngram_max_frac=((2, 0.20), (3, 0.18), (4, 0.16)),
            dup_ngram_max_frac=((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)),
            skip_code=False,
        )

    def __post_init__(self) -> None:
        for name in ("max_dup_line_frac", "max_dup_line_char_frac"):
            _check_fraction(name, getattr(self, name))
        for name in ("top_ngram_max_frac", "dup_ngram_max_frac"):
            pairs = tuple(sorted(dict(getattr(self, name)).items()))
            object.__setattr__(self, name, pairs)
            for n, frac in pairs:
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    _reject(f"{name} n", "an integer >= 1", n)
                _check_fraction(f"{name}[{n}]", frac)
        if (
            isinstance(self.min_words, bool)
            or not isinstance(self.min_words, int)
            or self.min_words < 0
        ):
            _reject("min_words", "a non-negative integer", self.min_words)
        if not isinstance(self.skip_code, bool):
            _reject("skip_code", "true or false", self.skip_code)


@dataclass(frozen=True)
class QualityConfig:
    """The quality gates to run (validated); ``None`` / ``False`` switches a gate off.

    Parameters
    ----------
    empty_reply
        Fail records with an empty or whitespace-only reply (``empty_reply_v1``).
    same_pair
        Fail preference records whose chosen and rejected are equal after `normalize_text`
        (``same_pair_v1``).
    tool_calls
        Check tool calls in replies (``tool_call_v1``): ``None`` = off; a mapping (possibly empty)
        of tool name -> ``{argument: json type}``; a type ending in ``?`` marks an optional
        argument. With an empty mapping only the JSON and the ``{name, arguments}`` shape are
        checked.
    lengths
        Field group (``system`` | ``prompt`` | ``reply``) -> `LengthBounds` (``length_bounds_v1``).
    repetition
        `RepetitionLimits` for replies (``repetition_v1``), or ``None``.
    refusal_patterns
        Case-insensitive regexes marking refusal / boilerplate replies (tag ``quality_refusal``).
    drop_refusals
        Also fail records tagged as refusals (``refusal_v1``); default: tag only.
    """

    empty_reply: bool = True
    same_pair: bool = True
    tool_calls: Mapping[str, Mapping[str, str]] | None = None
    lengths: Mapping[str, LengthBounds] = field(
        default_factory=lambda: {
            "reply": LengthBounds(max_tokens=16_384),
            "prompt": LengthBounds(max_tokens=16_384),
        }
    )
    repetition: RepetitionLimits | None = field(default_factory=RepetitionLimits)
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSAL_PATTERNS
    drop_refusals: bool = False

    def __post_init__(self) -> None:
        for name in ("empty_reply", "same_pair", "drop_refusals"):
            if not isinstance(getattr(self, name), bool):
                _reject(name, "true or false", getattr(self, name))
        for group, bounds in dict(self.lengths).items():
            if group not in LENGTH_FIELDS:
                _reject("lengths", f"keyed by {', '.join(LENGTH_FIELDS)}", group)
            if not isinstance(bounds, LengthBounds):
                _reject(f"lengths[{group}]", "a LengthBounds", bounds)
        if self.repetition is not None and not isinstance(self.repetition, RepetitionLimits):
            _reject("repetition", "a RepetitionLimits or None", self.repetition)
        if self.tool_calls is not None:
            for tool, args in dict(self.tool_calls).items():
                for arg, kind in dict(args).items():
                    if kind.rstrip("?") not in JSON_TYPES:
                        _reject(
                            f"tool_calls[{tool}][{arg}]",
                            f"one of {', '.join(JSON_TYPES)} (optionally + ?)",
                            kind,
                        )
        object.__setattr__(self, "refusal_patterns", tuple(self.refusal_patterns))
        for pattern in self.refusal_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"`refusal_patterns` entries must be valid regexes; got {pattern!r} ({exc})"
                raise ConfigError(msg) from None


def _check_fraction(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        _reject(name, "a number in [0, 1]", value)
