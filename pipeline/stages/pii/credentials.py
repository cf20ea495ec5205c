"""Secrets and credentials in text: API keys, private keys, passwords in URLs and code.

Entity types (`SECRET_ENTITIES`, default action ``drop``: a redacted key still teaches a model
the shape of a key):

- ``API_KEY``: cloud and SaaS keys with a fixed prefix or shape, and JSON Web Tokens. The
  patterns come from detect-secrets' plugins (`DETECT_SECRETS_PLUGINS`: AWS, GitHub, GitLab,
  Slack, Stripe, OpenAI, SendGrid, PyPI, Square, Discord, Telegram, Mailchimp, Twilio,
  Azure storage, JWT with its formal validation) plus those it lacks (`EXTRA_KEY_RULES`:
  Google API keys, Hugging Face, Anthropic, newer OpenAI project keys, GitHub fine-grained
  tokens, Stripe test / restricted keys, Slack webhooks).
- ``PRIVATE_KEY``: a PEM / OpenSSH / PGP private-key block, from ``-----BEGIN`` to the matching
  ``END`` line (or to the end of the text when the block is cut).
- ``CREDENTIAL``: the password in ``scheme://user:password@host`` URLs, ``Password=...`` in
  connection strings, and a high-entropy literal assigned to a name like ``password``,
  ``secret``, ``token`` or ``api_key`` in code or config.

detect-secrets' own scanner (``scan_line``: every plugin, its filters and heuristics, line by line)
runs at ~40 LIMA records/s here, 50x too slow for screening; only its patterns are used, each
behind gate substrings that every match contains (`PLUGIN_GATES`, `EXTRA_KEY_RULES`), so most
texts never reach a regex. A match counts only as a whole token
(not inside a longer run of key characters, e.g. a base64 image) and not when it looks like a
documentation placeholder (`is_placeholder`: ``EXAMPLE``, ``xxxx``, ``your_key``, ``<token>``, a
repeated character, ...).

>>> text = 'client = Client(api_key="sk_live_' + "4eC39HqLyjWDarjtT1zdp7dc" + '")'
>>> find_secrets(text)
[('API_KEY', 25, 57)]
>>> find_secrets("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE  # from the AWS docs")
[]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

import polars as pl
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

SECRET_ENTITIES = frozenset({"API_KEY", "CREDENTIAL", "PRIVATE_KEY"})

DETECT_SECRETS_PLUGINS = (
    AWSKeyDetector,
    AzureStorageKeyDetector,
    DiscordBotTokenDetector,
    GitHubTokenDetector,
    GitLabTokenDetector,
    JwtTokenDetector,
    MailchimpDetector,
    OpenAIDetector,
    PypiTokenDetector,
    SendGridDetector,
    SlackDetector,
    SquareOAuthDetector,
    StripeDetector,
    TelegramBotTokenDetector,
    TwilioKeyDetector,
)
# (gate substrings, pattern): a pattern runs only on a text that contains one of its gates
# (case-sensitive), so most texts never reach the regexes; every match contains a gate.
EXTRA_KEY_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("AIza",), r"AIza[0-9A-Za-z_\-]{35}"),  # Google API key
    (("hf_",), r"hf_[A-Za-z0-9]{34,}"),  # Hugging Face
    (("sk-ant-",), r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,}"),  # Anthropic
    (("sk-",), r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{40,}"),  # OpenAI (project keys)
    (("github_pat_",), r"github_pat_[A-Za-z0-9_]{70,}"),  # GitHub fine-grained token
    (("k_test_", "k_live_"), r"[rs]k_(?:test|live)_[0-9a-zA-Z]{24,}"),  # Stripe
    (("xox",), r"xox[abposr]-[0-9A-Za-z\-]{20,}"),  # Slack tokens with letters in every part
    (("hooks.slack.com",), r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}"),
    (("npm_",), r"npm_[A-Za-z0-9]{36}"),  # npm (detect-secrets' pattern spans the .npmrc line)
    (("eyJ",), r"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),  # JWT + signature
)
_BOT = ("bot_token", "BOT_TOKEN", "bot token", "Bot token", ".run(")
PLUGIN_GATES: dict[type, tuple[str, ...]] = {
    AWSKeyDetector: ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    AzureStorageKeyDetector: ("AccountKey=",),
    DiscordBotTokenDetector: ("discord", "Discord", "DISCORD", *_BOT),
    GitHubTokenDetector: ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    GitLabTokenDetector: (
        "glpat-",
        "gldt-",
        "glft-",
        "glsoat-",
        "glrt-",
        "GR1348941",
        "glcbt-",
        "glimt-",
    ),
    JwtTokenDetector: ("eyJ",),
    MailchimpDetector: ("-us",),
    OpenAIDetector: ("T3BlbkFJ",),
    PypiTokenDetector: ("pypi-",),
    SendGridDetector: ("SG.",),
    SlackDetector: ("xox", "hooks.slack.com"),
    SquareOAuthDetector: ("sq0csp-",),
    StripeDetector: ("k_live_",),
    TelegramBotTokenDetector: ("telegram", "Telegram", "TeleBot", "telebot", *_BOT),
    TwilioKeyDetector: ("AC", "SK"),
}
# detect-secrets' patterns (only the first AWS pattern: the second needs a quoted 40-char value
# near "aws", which the assignment rule covers with an entropy check), then mixgate's.
_KEY_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (PLUGIN_GATES[plugin], re.compile(p.pattern))
    for plugin in DETECT_SECRETS_PLUGINS
    for p in (plugin.denylist[:1] if plugin is AWSKeyDetector else plugin.denylist)
) + tuple((gates, re.compile(p)) for gates, p in EXTRA_KEY_RULES)
_ALL_GATES = frozenset(g for gates, _ in _KEY_RULES for g in gates)
# The gates grouped by a character they contain ("" = no such character): a text without the
# character holds none of its group, so most texts need ~25 substring scans instead of ~50
# (LIMA: the gate check -35 % CPU; the result is the same set).
_GATE_KEYS = ("_", "-", ".", "=", "3", "J", "x", "K", "z", "B")
_GATE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (
        key,
        tuple(sorted(g for g in _ALL_GATES if next((k for k in _GATE_KEYS if k in g), "") == key)),
    )
    for key in (*_GATE_KEYS, "")
)
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9+_\-]")

_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----.*?(?:-----END \1-----|\Z)",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@[\w.\-\[\]]+")
# ADO / ODBC / JDBC connection strings: ``...;Password=secret;...`` (a ``;`` on one side).
_CONN_PASSWORD = re.compile(
    r"(?i)(?:(?<=;)\s*(?:password|pwd)=([^;'\"\s{}]+)|\b(?:password|pwd)=([^;'\"\s{}]+)(?=;))"
)
_KEYWORD = re.compile(
    r"password|passwd|pwd|secret|token|api_?key|apikey|access_?key|auth_?key|private_?key|"
    r"credential",
    re.IGNORECASE,
)
_KEYWORD_LOWER = re.compile(_KEYWORD.pattern)  # its pattern is lower-case ASCII
# in the lower-cased text; every `_KEYWORD` match contains one
_KEYWORD_GATES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "accesskey",
    "access_key",
    "authkey",
    "auth_key",
    "privatekey",
    "private_key",
    "credential",
)
# each `_KEYWORD_GATES` entry contains one of these: a text without them needs no finer check
_KEYWORD_HINTS = ("passw", "pwd", "secret", "token", "key", "credential")
# after a keyword: the rest of the name, an assignment, a quoted literal
_QUOTED_VALUE = re.compile(
    r"""[\w.\-]*["'\]]?\s*(?::=|=>|=|:|,)\s*[rb]?(["'`])([^"'`\s]{8,200})\1"""
)
# .env / shell: ``[export ]NAME_WITH_KEYWORD=value`` alone on its line (upper-case names)
_ENV_PREFIX = re.compile(r"[ \t]*(?:export[ \t]+)?[A-Z0-9_]*")
_ENV_VALUE = re.compile(r"""[A-Z0-9_]*[ \t]*[=:][ \t]*([^\s"'`#]{8,200})[ \t]*(?=\n|\r|$)""")
_PLACEHOLDER = re.compile(
    r"(?i)example|sample|dummy|fake|placeholder|redacted|your[_\-]?|my[_\-]?(?:api|secret|token|"
    r"key|pass)|changeme|change_me|insert|replace|xxxx|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%s|"
    r"\benv\b|environ|getenv|process\.env|\bnull\b|\bnone\b|password|secret\b|token\b"
)
_IDENTIFIER = re.compile(r"[A-Za-z_]+(?:[.\-][A-Za-z_]+)*(?:\(\))?")  # a name, not a literal
_SEQUENCE = re.compile(r"(.)\1{5,}|0123456|123456789|abcdef", re.IGNORECASE)
_CHAR_CLASSES = tuple(re.compile(p) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
_LEET = str.maketrans("013457@$", "oleastas")  # "eXamPl3T0K3n" is an example token
MIN_ENTROPY = 3.0  # bits per character of an assigned literal (a typical 12+ char secret: > 3.5)


def entropy(value: str) -> float:
    """Shannon entropy of `value` in bits per character.

    >>> round(entropy("aaaa"), 2), round(entropy("abcd"), 2)
    (0.0, 2.0)
    """
    counts = Counter(value)
    n = len(value)
    return sum(c / n * math.log2(n / c) for c in counts.values()) if n else 0.0


def is_placeholder(value: str) -> bool:
    """Whether a matched key looks like documentation: ``EXAMPLE``, ``xxxx``, a repeated run, ...

    >>> is_placeholder("AKIAIOSFODNN7EXAMPLE"), is_placeholder("ghp_" + "x" * 36)
    (True, True)
    """
    body = value.split("_", 1)[-1] if value.startswith(("ghp_", "gho_", "hf_")) else value
    if _PLACEHOLDER.search(value) or _PLACEHOLDER.search(value.translate(_LEET)):
        return True
    if len(set(body)) < 8:
        return True
    return _SEQUENCE.search(value) is not None


def _is_secret_literal(value: str) -> bool:
    classes = sum(bool(p.search(value)) for p in _CHAR_CLASSES)
    return (
        len(value) >= 8
        and classes >= 2
        and entropy(value) >= MIN_ENTROPY
        and not is_placeholder(value)
        and not _IDENTIFIER.fullmatch(value)
    )


def _standalone(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return not (_TOKEN_CHAR.match(before) or _TOKEN_CHAR.match(after))


def _keys(text: str) -> Iterable[tuple[str, int, int]]:
    present = {
        g for key, gates in _GATE_GROUPS if key in text for g in gates if g in text
    }  # == {g for g in _ALL_GATES if g in text}
    if not present:
        return
    for gates, pattern in _KEY_RULES:
        if present.isdisjoint(gates):
            continue
        for m in pattern.finditer(text):
            start, end = m.span()
            value = m.group()
            if value.startswith("eyJ") and not JwtTokenDetector.is_formally_valid(value):
                continue
            if _standalone(text, start, end) and not is_placeholder(value):
                yield "API_KEY", start, end


def _assignments(text: str, lower: str) -> Iterable[tuple[str, int, int]]:
    """High-entropy literals assigned to a password / secret / token / key name."""
    if not any(h in lower for h in _KEYWORD_HINTS) or not any(g in lower for g in _KEYWORD_GATES):
        return
    # ASCII: the same spans in the lower-cased text without IGNORECASE (8x faster in `re`)
    keywords = _KEYWORD_LOWER.finditer(lower) if text.isascii() else _KEYWORD.finditer(text)
    for m in keywords:
        quoted = _QUOTED_VALUE.match(text, m.end())
        if quoted and _is_secret_literal(quoted.group(2)):
            yield "CREDENTIAL", quoted.start(2), quoted.end(2)
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[m.start() : m.end()].isupper() and _ENV_PREFIX.fullmatch(
            text, line_start, m.start()
        ):
            bare = _ENV_VALUE.match(text, m.end())
            if bare and _is_secret_literal(bare.group(1)):
                yield "CREDENTIAL", bare.start(1), bare.end(1)


def _credentials(text: str) -> Iterable[tuple[str, int, int]]:
    if "PRIVATE KEY" in text:
        for m in _PEM.finditer(text):
            yield "PRIVATE_KEY", m.start(), m.end()
    lower = text.lower()
    patterns = []
    if "://" in text and "@" in text:
        patterns.append(_URL_PASSWORD)
    if "password=" in lower or "pwd=" in lower:
        patterns.append(_CONN_PASSWORD)
    for pattern in patterns:
        for m in pattern.finditer(text):
            group = m.lastindex or 1
            value = m.group(group)
            if len(value) >= 4 and not is_placeholder(value) and not value.startswith("$"):
                yield "CREDENTIAL", m.start(group), m.end(group)
    yield from _assignments(text, lower)


# Every text in which `find_secrets` can find anything holds one of these substrings (`_keys`:
# a gate; `_credentials`: ``PRIVATE KEY``, ``://``, and in the lower-cased text ``password=``,
# ``pwd=`` or a keyword gate). ``İ`` and the Kelvin sign are the only characters whose
# ``str.lower()`` holds an ASCII letter they are not, so a text holding neither contains an ASCII
# string after lower-casing exactly when it contains it ignoring ASCII case.
_EXACT_GATES = sorted({*_ALL_GATES, "PRIVATE KEY", "://", "\u0130", "\u212a"})
_LOWER_GATES = sorted({"password=", "pwd=", *_KEYWORD_GATES})


def secret_candidates(texts: list[str]) -> list[bool]:
    """Whether each text can hold a secret: ``False`` only when `find_secrets` finds nothing in it.

    One pass over the whole list (polars' Aho-Corasick ``contains_any``) instead of ~40
    substring scans per text: on LIMA 91 of 2,164 texts remain. A list that cannot be encoded as
    UTF-8 (a lone surrogate) is answered ``True`` throughout, i.e. every text is checked fully.

    >>> secret_candidates(["see the docs", "export API_KEY=abc", "AKIA..."])
    [False, True, True]
    """
    try:
        column = pl.Series(texts, dtype=pl.String)
    except UnicodeEncodeError:
        return [True] * len(texts)
    return secret_gate(column).to_list()


def secret_gate(texts: pl.Series) -> pl.Series:
    """`secret_candidates` of a text column (null texts: ``False``)."""
    exact = texts.str.contains_any(_EXACT_GATES)
    lower = texts.str.contains_any(_LOWER_GATES, ascii_case_insensitive=True)
    return (exact | lower).fill_null(False)


def find_secrets(
    text: str, entities: Iterable[str] = SECRET_ENTITIES
) -> list[tuple[str, int, int]]:
    """Return ``(entity_type, start, end)`` of the secrets in `text`, sorted, overlaps merged.

    A span found as two types keeps the more specific one (PRIVATE_KEY > API_KEY > CREDENTIAL).
    """
    wanted = set(entities) & set(SECRET_ENTITIES)
    if not wanted:
        return []
    rank = {"PRIVATE_KEY": 0, "API_KEY": 1, "CREDENTIAL": 2}
    found = sorted(
        (f for f in (*_keys(text), *_credentials(text)) if f[0] in wanted),
        key=lambda f: (f[1], rank[f[0]], -f[2]),
    )
    kept: list[tuple[str, int, int]] = []
    for entity, start, end in found:
        if kept and start < kept[-1][2]:
            last = kept[-1]
            if rank[entity] < rank[last[0]]:
                kept[-1] = (entity, last[1], max(end, last[2]))
            else:
                kept[-1] = (last[0], last[1], max(end, last[2]))
            continue
        kept.append((entity, start, end))
    return kept
