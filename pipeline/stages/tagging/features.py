"""Length and structure features of a conversation, the non-lexical evidence the rules use.

A conversation is split into weighted *segments* (the first user turn, later user turns, the
system prompt, the replies); keyword and regex rules look at segments, feature rules at the
numbers computed here. Every feature is an integer count, so rule thresholds are exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pipeline.records.text import normalize_text

SEGMENT_KINDS = ("first_user", "later_user", "system", "reply")

_FENCED_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_SIGNATURE = re.compile(
    r"^\s*(?:def \w+\s*\(|class \w+\s*[(:]|(?:async )?function \w+\s*\(|#include\s*<"
    r"|(?:public|private|protected|static)\s+[\w<>\[\]]+\s+\w+\s*\(|fn \w+\s*\(|func \w+\s*\()",
    re.MULTILINE,
)
_CODE_LINE_FORMS = (
    r"[ \t]*(?:def |class |import |from \S+ import |#include|return\b|public |private |"
    r"function\b|const |let |var |for\s*\(|while\s*\(|if\s*\(|print\(|console\.|SELECT\b|>>> )"
    r".*",
    r".*[;{}][ \t]*",
    r"[ \t]{4,}\S+[ \t]*=[ \t]*\S.*",
)
_CODE_LINE = re.compile("^(?:" + "|".join(_CODE_LINE_FORMS) + ")$", re.MULTILINE)
# what a line matching the first form starts with (after [ \t]*): a literal prefix of each keyword
_CODE_LINE_STARTS = (
    "def ", "class ", "import ", "from ", "#include", "return", "public ", "private ",
    "function", "const ", "let ", "var ", "for", "while", "if", "print(", "console.", "SELECT",
    ">>> ",
)  # fmt: skip
_CODE_LINE_WITH_BREAK = re.compile("^(?:" + "|".join(_CODE_LINE_FORMS) + ")$\n?", re.MULTILINE)
_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*[+#]*")
_EQUATION = re.compile(
    # 3 + 4, 2*(5, 10 - 3; not ranges or dates such as 9-10, 2022-01-01
    r"(?<![\d.\-/:])\d+(?:\.\d+)?(?:\s*[+*/^×÷]\s*|\s+[-−]\s+)\(?\d+(?:\.\d+)?(?![\d\-/:])"
    r"|\b[a-z]\s*\^\s*\d"  # x^2
    r"|\b[a-z]\s*(?:=|<|>|≤|≥)\s*[-+(]?\s*[\da-z]\b"  # x = 4z, y > 2
    r"|\b[a-z]\s*\(\s*[a-z\d]\s*\)\s*="  # f(x) =
    r"|\|\s*[a-z]\s*[-+]",  # |x + 5|
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\$?\d+(?:[.,]\d+)*%?")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]\s|[-*•]\s|step \d+)", re.IGNORECASE | re.MULTILINE)
_WORD = re.compile(r"\w+")
_JOINED_TOKEN = re.compile(r"[-'’.+#]")  # a token holding one of these is more than one \w+ run
# Exact prefilters: every match of a pattern holds a character of its ``_NEEDS`` class (same
# engine, same flags, so also exact on non-ASCII text); most prose skips the costly scan.
_EQUATION_NEEDS = re.compile(r"[\d^=<>|≤≥]", re.IGNORECASE)  # one per branch of _EQUATION
_NUMBER_NEEDS = re.compile(r"\d")
_LIST_ITEM_NEEDS = re.compile(r"[\d\-*•]", re.IGNORECASE | re.MULTILINE)  # `step \d+`: a digit

FEATURE_NAMES = (
    "code_blocks",
    "code_lines",
    "code_signatures",
    "equations",
    "reply_equations",
    "numbers",
    "prompt_questions",
    "prompt_steps",
    "reply_steps",
    "prompt_chars",
    "context_chars",
    "first_prompt_words",
    "user_turns",
)


_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """`functools.cached_property` without its lock (Python 3.11 takes an RLock shared by every
    instance on each first access; a segment belongs to one thread): the value computed on first
    access is stored in the instance's ``__dict__``, which later lookups find first."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = instance.__dict__[self.name] = self.fn(instance)
        return value


@dataclass(frozen=True)
class Segment:
    """One piece of a conversation: its kind, raw text and normalized words.

    `words` (space-joined) and `ngrams` (word n-grams up to `max_n`) are derived on first use:
    the tagger finds its phrases from `tokens` (`pipeline.stages.tagging.index`), and the n-gram
    set stays the readable reference (`score_rules`) it is tested against.
    """

    kind: str
    text: str
    tokens: tuple[str, ...]
    max_n: int

    @classmethod
    def from_text(cls, kind: str, text: str, *, max_n: int) -> Segment:
        """Build a segment whose word n-grams go up to `max_n` words."""
        return cls(kind, text, tuple(tokenize(text)), max_n)

    @cached_property
    def words(self) -> str:
        """The tokens joined by single spaces (what a prefix keyword such as ``summar*`` scans)."""
        return " ".join(self.tokens)

    @cached_property
    def lowered(self) -> str:
        """``text.lower()``, what literal prefilters look in."""
        return self.text.lower()

    @cached_property
    def runs(self) -> set[str] | None:
        """The lowercased ``\\w+`` runs of an ASCII text (None otherwise): whole-word filters.

        Each run lies whole in one token, so without a token holding ``-'.+#`` the runs are
        the tokens themselves.
        """
        if not self.text.isascii():
            return None
        if _JOINED_TOKEN.search(self.words):
            return set(_WORD.findall(self.words))
        return set(self.tokens)

    @cached_property
    def ngrams(self) -> frozenset[str]:
        """Every run of 1 to `max_n` consecutive tokens (`ngram_set`)."""
        return ngram_set(self.tokens, self.max_n)


def tokenize(text: str) -> list[str]:
    """Split normalized (NFKC, casefolded) text into words; ``c++``, ``don't`` stay whole.

    An ASCII text skips `normalize_text`'s whitespace collapse: tokens never hold whitespace,
    so they are those of ``text.lower()``.

    >>> tokenize("Write C++ code, don't stop!")
    ['write', 'c++', 'code', "don't", 'stop']
    """
    if text.isascii():
        return _TOKEN.findall(text.lower())
    return _TOKEN.findall(normalize_text(text).replace("’", "'"))


def ngram_set(tokens: Sequence[str], max_n: int) -> frozenset[str]:
    """Return every run of 1 to `max_n` consecutive tokens, joined by single spaces."""
    grams = set(tokens)
    for n in range(2, max_n + 1):
        grams.update(map(" ".join, zip(*(tokens[i:] for i in range(n)))))  # tokens[i : i + n]
    return frozenset(grams)


def split_segments(
    messages: Sequence[Mapping[str, str]], chosen: str | None = None, *, max_n: int = 4
) -> tuple[Segment, ...]:
    """Split a conversation into segments; `chosen` counts as a reply, `rejected` is ignored."""
    segments: list[Segment] = []
    seen_user = False
    for message in messages:
        role, text = message["role"], message["content"] or ""
        if role == "user":
            kind = "later_user" if seen_user else "first_user"
            seen_user = True
        elif role == "system":
            kind = "system"
        else:
            kind = "reply"
        segments.append(Segment.from_text(kind, text, max_n=max_n))
    if chosen:
        segments.append(Segment.from_text("reply", chosen, max_n=max_n))
    return tuple(segments)


def strip_code(text: str) -> str:
    r"""Return `text` without fenced code blocks and code-looking lines (the prose part).

    >>> strip_code("Fix this:\n```\nx = 1 + 2\n```\nthanks")
    'Fix this:\n\nthanks'
    """
    if "```" in text:
        text = _FENCED_BLOCK.sub("", text)
    return _CODE_LINE_WITH_BREAK.sub("", text) if _may_have_code_lines(text) else text


def _may_have_code_lines(text: str) -> bool:
    """False only if no line of `text` can match `_CODE_LINE` (an exact prefilter).

    The second and third forms need one of ``;{}=``; the first needs a line that starts, after
    spaces and tabs, with a keyword of `_CODE_LINE_STARTS` (``^`` is a line start: after "\\n").
    A regex scan costs ~15 ns per character even where it fails at once; prose skips it.
    """
    if ";" in text or "{" in text or "}" in text or "=" in text:
        return True
    return any(line.lstrip(" \t").startswith(_CODE_LINE_STARTS) for line in text.split("\n"))


def _count(pattern: re.Pattern[str], text: str, needs: re.Pattern[str]) -> int:
    """``len(pattern.findall(text))``, skipping the scan when `text` lacks what any match needs."""
    return len(pattern.findall(text)) if needs.search(text) else 0


def _word_count(segment: Segment) -> int:
    """``len(_WORD.findall(segment.text))``, from the tokens when the text is ASCII.

    The tokens of an ASCII text are those of ``text.lower()`` (same ``\\w`` runs); every run
    lies in one token, and a token holds one run plus one per ``-``, ``'`` or ``.`` in it (the
    only separators on ASCII text), which appear nowhere else in `Segment.words`.
    """
    if not segment.text.isascii():
        return len(_WORD.findall(segment.text))
    words = segment.words
    return len(segment.tokens) + words.count("-") + words.count("'") + words.count(".")


def compute_features(segments: Sequence[Segment]) -> dict[str, int]:
    """Return the named integer features (see `FEATURE_NAMES`) of a conversation.

    Equations, numbers, questions and list items are counted in the prose only (code removed).
    The counts are those of the plain ``findall`` calls; the ``_NEEDS`` prefilters only skip
    texts where a pattern cannot match (tests/pipeline/stages/tagging/test_fast_path.py).
    """
    prompts = [s.text for s in segments if s.kind != "reply"]
    users = [s for s in segments if s.kind in ("first_user", "later_user")]
    replies = [strip_code(s.text) for s in segments if s.kind == "reply"]
    raw_prompt = "\n".join(prompts)
    prompt_text = strip_code(raw_prompt)
    every_text = "\n".join(s.text for s in segments)
    first = next((s for s in users if s.kind == "first_user"), None)
    return {
        "code_blocks": every_text.count("```") // 2,  # = len(re.findall("```", every_text)) // 2
        "code_lines": len(_CODE_LINE.findall(every_text))
        if _may_have_code_lines(every_text)
        else 0,
        "code_signatures": len(_SIGNATURE.findall(every_text)),
        "equations": _count(_EQUATION, prompt_text, _EQUATION_NEEDS),
        "reply_equations": max((_count(_EQUATION, r, _EQUATION_NEEDS) for r in replies), default=0),
        "numbers": _count(_NUMBER, prompt_text, _NUMBER_NEEDS),
        "prompt_questions": prompt_text.count("?"),
        "prompt_steps": _count(_LIST_ITEM, prompt_text, _LIST_ITEM_NEEDS),
        "reply_steps": max((_count(_LIST_ITEM, r, _LIST_ITEM_NEEDS) for r in replies), default=0),
        "prompt_chars": len(raw_prompt),
        "context_chars": len(every_text),
        "first_prompt_words": 0 if first is None else _word_count(first),
        "user_turns": len(users),
    }
