"""Secrets and credentials in text: API keys, private keys, passwords in URLs and code.

Entity types (`SECRET_ENTITIES`, default action ``drop``: a redacted key still teaches a model
the shape of a key):

- ``API_KEY``: cloud and SaaS keys with a fixed prefix or shape, and JSON Web Tokens. The
  patterns come from detect-secrets' plugins (`DETECT_SECRETS_PLUGINS`: AWS, GitHub, GitLab,
  Slack, Stripe, OpenAI, SendGrid, PyPI, Square, Discord, Telegram, Mailchimp, Twilio,
  Azure storage, JWT with its formal validation) plus those it lacks (`EXTRA_KEY_PATTERNS`:
  Google API keys, Hugging Face, Anthropic, newer OpenAI project keys, GitHub fine-grained
  tokens, Stripe test / restricted keys, Slack webhooks).
- ``PRIVATE_KEY``: a PEM / OpenSSH / PGP private-key block, from ``-----BEGIN`` to the matching
  ``END`` line (or to the end of the text when the block is cut).
- ``CREDENTIAL``: the password in ``scheme://user:password@host`` URLs, ``Password=...`` in
  connection strings, and a high-entropy literal assigned to a name like ``password``,
  ``secret``, ``token`` or ``api_key`` in code or config.

detect-secrets' own scanner (``scan_line``: every plugin, its filters and heuristics, line by line)
runs at ~40 LIMA records/s here, 50x too slow for screening; only its patterns are used, in one
combined pass per text behind a cheap trigger (`TRIGGER`). A match counts only as a whole token
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
EXTRA_KEY_PATTERNS = (
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"hf_[A-Za-z0-9]{34,}",  # Hugging Face
    r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{80,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{40,}",  # OpenAI (project / service keys)
    r"github_pat_[A-Za-z0-9_]{70,}",  # GitHub fine-grained token
    r"[rs]k_(?:test|live)_[0-9a-zA-Z]{24,}",  # Stripe secret / restricted keys
    r"xox[abposr]-[0-9A-Za-z\-]{20,}",  # Slack tokens with letters in every part
    r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,}",
    r"AKIA[0-9A-Z]{16}",
    r"npm_[A-Za-z0-9]{36}",  # npm access token (detect-secrets' pattern spans the whole .npmrc line)
    r"eyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+",  # JWT with its signature
)
# detect-secrets' patterns (only the first AWS pattern: the second needs a quoted 40-char value
# near "aws", which `_ASSIGNMENT` covers with an entropy check).
# The extra patterns come first: at one position the first alternative that matches wins, and
# they are the longer forms (a JWT with its signature, sk-proj- keys).
_KEY_PATTERNS = EXTRA_KEY_PATTERNS + tuple(
    p.pattern
    for plugin in DETECT_SECRETS_PLUGINS
    for p in (plugin.denylist[:1] if plugin is AWSKeyDetector else plugin.denylist)
)
_KEY = re.compile("|".join(f"(?:{p})" for p in _KEY_PATTERNS))
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
_ASSIGNMENT = re.compile(
    r"""(?ix)
    \b[\w.\-]*(?:password|passwd|pwd|secret|token|api_?key|apikey|access_?key|auth_?key|
       private_?key|client_?secret|credentials?)[\w.\-]*
    ["'\]]?\s*(?::=|=>|=|:|,)\s*[rb]?(["'`])(?P<value>[^"'`\s]{8,200})\1
    |
    ^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY)
    [A-Z0-9_]*\s*[=:]\s*(?P<bare>[^\s"'`#]{8,200})\s*$
    """,
    re.MULTILINE,
)
TRIGGER = re.compile(
    r"(?i)AKIA|A3T|ABIA|ACCA|ASIA|gh[pousr]_|github_pat|gl[a-z]*-|GR1348941|xox|hooks\.slack|"
    r"[rs]k_(?:live|test)|sk-|AIza|hf_|eyJ|SG\.|npm_|_authToken|pypi-|sq0csp|AccountKey|"
    r"\bAC[a-z0-9]{32}|\bSK[a-z0-9]{32}|-us\d|:[0-9A-Za-z_\-]{35}|[MNO][A-Za-z\d_\-]{23,25}\.|"
    r"PRIVATE KEY|://[^\s@/]+:[^\s@/]+@|pass|pwd|secret|token|api_?key|access_?key|auth|credential"
)
_PLACEHOLDER = re.compile(
    r"(?i)example|sample|dummy|fake|placeholder|redacted|your[_\-]?|my[_\-]?(?:api|secret|token|"
    r"key|pass)|changeme|change_me|insert|replace|xxxx|\*\*\*|\.\.\.|<[^>]*>|\$\{|\{\{|%s|"
    r"\benv\b|environ|getenv|process\.env|\bnull\b|\bnone\b|password|secret\b|token\b"
)
_IDENTIFIER = re.compile(r"[A-Za-z_]+(?:[.\-][A-Za-z_]+)*(?:\(\))?")  # a name, not a literal
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
    return re.search(r"(.)\1{5,}|0123456|123456789|abcdef", value, re.I) is not None


def _is_secret_literal(value: str) -> bool:
    classes = sum(
        bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]")
    )
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
    for m in _KEY.finditer(text):
        start, end = m.span()
        value = m.group()
        if value.startswith("eyJ") and not JwtTokenDetector.is_formally_valid(value):
            continue
        if _standalone(text, start, end) and not is_placeholder(value):
            yield "API_KEY", start, end


def _credentials(text: str) -> Iterable[tuple[str, int, int]]:
    for m in _PEM.finditer(text):
        yield "PRIVATE_KEY", m.start(), m.end()
    for pattern in (_URL_PASSWORD, _CONN_PASSWORD):
        for m in pattern.finditer(text):
            group = m.lastindex or 1
            value = m.group(group)
            if len(value) >= 4 and not is_placeholder(value) and not value.startswith("$"):
                yield "CREDENTIAL", m.start(group), m.end(group)
    for m in _ASSIGNMENT.finditer(text):
        group = "value" if m.group("value") is not None else "bare"
        if _is_secret_literal(m.group(group)):
            yield "CREDENTIAL", m.start(group), m.end(group)


def find_secrets(
    text: str, entities: Iterable[str] = SECRET_ENTITIES
) -> list[tuple[str, int, int]]:
    """Return ``(entity_type, start, end)`` of the secrets in `text`, sorted, overlaps merged.

    A span found as two types keeps the more specific one (PRIVATE_KEY > API_KEY > CREDENTIAL).
    """
    wanted = set(entities) & set(SECRET_ENTITIES)
    if not wanted or not TRIGGER.search(text):
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
