"""Shape and context filters for findings on real text (phone numbers, e-mails, IPs, cards).

`reject_reason(entity, text, start, end)` says why a raw finding is not what its entity type
claims (``None``: keep it). The rules were written against the labelled findings in
tests/data/pii_labels/ (maths, code, tables and URLs from six real datasets).

Phone numbers
-------------

`phonenumbers` (behind presidio's `PhoneRecognizer`) accepts any digit run that is a *valid*
number in one of the configured regions: German numbers may have 4 digits, so ``1680``,
``360-270`` or a Unix timestamp are valid phone numbers to it. On real text (maths solutions,
code, tables, résumés) most such matches are not phone numbers. `judge_phone` looks at the
match and the characters around it and returns why a match is not a phone number, or ``None``;
`phone_score` scores the survivors:

- 0.4 (`FORMATTED_SCORE`) for a formatted number (``+``, brackets or separators);
- 0.3 (`UNFORMATTED_SCORE`) for a bare digit run (``1633972405``): below the default threshold,
  so it needs a context word;
- +0.35 (`CONTEXT_BOOST`) when a context word (`CONTEXT_WORDS`: phone, tel, call, mobile, ...
  in English, Danish, German, French, Spanish, Portuguese, Chinese, Japanese and Arabic) stands
  within `CONTEXT_BEFORE` characters before or `CONTEXT_AFTER` after the match.

>>> text = "Total: 34500-33000 = $<<34500-33000=1500>>1500. Call me at (215) 204-3120."
>>> judge_phone(text, 7, 18), judge_phone(text, 24, 35), judge_phone(text, 60, 74)
('arithmetic', 'arithmetic', None)
>>> phone_score(text, 60, 74)
0.75
"""

from __future__ import annotations

import re

FORMATTED_SCORE = 0.4
UNFORMATTED_SCORE = 0.3
CONTEXT_BOOST = 0.35
CONTEXT_BEFORE = 48
CONTEXT_AFTER = 24

CONTEXT_WORDS = (
    # English
    "phone",
    "tel",
    "tel.",
    "telephone",
    "call",
    "calling",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "dial",
    "hotline",
    "helpline",
    "whatsapp",
    "sms",
    "text me",
    "reach me",
    "contact",
    # Danish / Norwegian / Swedish, German, French, Spanish / Portuguese
    "telefon",
    "tlf",
    "tlf.",
    "mobil",
    "ring",
    "ringe",
    "kontakt",
    "handy",
    "rufnummer",
    "anrufen",
    "téléphone",
    "tél",
    "portable",
    "appeler",
    "teléfono",
    "telefono",
    "móvil",
    "movil",
    "celular",
    "telefone",
    "ligue",
    "contato",
    "contacto",
    "whats",
    # Chinese, Japanese, Arabic (matched as substrings: no word boundaries in these scripts)
    "電話",
    "电话",
    "手機",
    "手机",
    "聯絡",
    "联系",
    "携帯",
    "電話番号",
    "連絡",
    "هاتف",
    "جوال",
    "اتصل",
    "الهاتف",
)
_LATIN_CONTEXT = [
    w for w in CONTEXT_WORDS if w.isascii() or (w[0].isalpha() and ord(w[0]) < 0x2E80)
]
_CJK_CONTEXT = [w for w in CONTEXT_WORDS if w not in _LATIN_CONTEXT]
_CONTEXT = re.compile(
    r"(?i)(?<![^\W\d_])(?:"
    + "|".join(re.escape(w) for w in sorted(_LATIN_CONTEXT, key=len, reverse=True))
    + r")(?![^\W\d_])|"
    + "|".join(re.escape(w) for w in _CJK_CONTEXT)
)

_OPERATORS = "=+*/×÷^<>%"
_SPACED_OPERATOR = re.compile(r"\d\s+[-–−+*/×÷=]\s+\d|[)]\s*[-+*/×÷=]")
_TABLE_GAP = re.compile(r"\d(?: {2,}|\t|\n)\S")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_DOT_SPACE = re.compile(r"\d[.,]\s")
_UNFORMATTED = _DIGITS = re.compile(r"\d+")
_DECIMAL_AFTER = re.compile(r"[.,]\d")
_HOST_END = re.compile(r"[/:?#]")
_DATE = re.compile(
    r"(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|1[0-2])[-/.](?:19|20)?\d\d"
    r"|(?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)\d\d"
    r"|(?:19|20)\d\d\s*(?:[-–/]|to)\s*(?:(?:19|20)\d\d|\d\d)"
)
_LIST_MARKER = re.compile(r"\d{1,2}[.)]\s")
_CURRENCY_BEFORE = re.compile(
    r"(?i)(?:[$€£¥₹₩]|\b(?:usd|eur|gbp|inr|rs\.?|dkk|kr\.?|sek|nok|r\$|sar|nt\$|jpy))\s*$"
)
_CURRENCY_AFTER = re.compile(
    r"(?i)^\s*(?:%|percent|(?:million|billion|thousand|trillion|dollars?|euros?|pounds|yen|"
    r"usd|eur|gbp|dkk|kroner|kr|rupees|reais|riyals?|sar|元|円|万|亿)\b)"
)
_VERSION_BEFORE = re.compile(
    r"(?i)\b(?:v|ver|version|build|release|rev|revision|firmware|kernel|fingerprint|patch|"
    r"sdk|api level)\s*[:=#]?\s*$"
)
_KEYED_BEFORE = re.compile(
    r"""(?i)\b([\w.-]*?(?:id|no|nr|num|key|hash|token|build|job|order|ticket|invoice|ref|
    serial|seed|port|pid|uid|ts|timestamp|time|epoch|code|sku|isbn|zip|postal|account|acct|
    amount|price|total|size|count|version|checksum|crc|nonce|salt))\s*["'\]]?\s*(?:[:=#]|=>|:=)\s*["'\[(]?\s*$""",
    re.X,
)
_OPTION_BEFORE = re.compile(r"(?:^|\s)\(?[A-Ea-e][).:]\s*$")
_PHONEY_KEY = re.compile(r"(?i)phone|tel|mobile|cell|fax|contact|whats")


def _prev_char(text: str, start: int) -> str:
    return text[start - 1] if start > 0 else ""


def _prev_nonspace(text: str, start: int) -> tuple[str, int]:
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return (text[i], i) if i >= 0 else ("", -1)


def _next_nonspace(text: str, end: int) -> str:
    i = end
    while i < len(text) and text[i] in " \t":
        i += 1
    return text[i] if i < len(text) else ""


def _line_before(text: str, start: int, width: int = 40) -> str:
    lo = max(0, start - width, text.rfind("\n", 0, start) + 1)
    return text[lo:start]


def _inside_calc(text: str, start: int) -> bool:
    """Whether `start` lies inside a GSM8K-style ``<<a*b=c>>`` calculator annotation."""
    opened = text.rfind("<<", max(0, start - 80), start)
    return opened >= 0 and text.rfind(">>", opened, start) < 0


def judge_phone(text: str, start: int, end: int) -> str | None:
    """Return why ``text[start:end]`` is not a phone number (a short reason), or ``None``."""
    value = text[start:end]
    digits = sum(ch.isdigit() for ch in value)
    prev, after = _prev_char(text, start), text[end : end + 2]
    before_ns, at = _prev_nonspace(text, start)
    next_ns = _next_nonspace(text, end)
    if _inside_calc(text, start) or _SPACED_OPERATOR.search(value):
        return "arithmetic"
    if next_ns and next_ns in _OPERATORS:
        return "arithmetic"
    if before_ns and before_ns in _OPERATORS:
        key = _line_before(text, at, 24)
        if not (before_ns == "=" and _PHONEY_KEY.search(key)):
            return "arithmetic or assignment"
    if before_ns and before_ns in "-–−" and at > 0 and text[at - 1] in "0123456789 ":
        return "arithmetic"
    if prev and ((prev.isascii() and prev.isalnum()) or prev in "_#@/\\$€£¥"):
        return "inside a token"
    if prev in (".", ",") and start > 1 and text[start - 2].isdigit():
        return "decimal number"
    if after[:1] and ((after[0].isascii() and after[0].isalnum()) or after[0] in "_@%$€/\\"):
        return "inside a token"
    if _DECIMAL_AFTER.match(after):
        return "inside a token"
    singles = sum(len(g) == 1 for g in _DIGITS.findall(value.replace("(0)", "")))
    if _TABLE_GAP.search(value) or singles >= 2:
        return "number sequence or table"
    if _DECIMAL.fullmatch(value) or _DOT_SPACE.search(value):
        return "decimal number"
    if _DATE.fullmatch(value.strip("()")):
        return "date"
    if _LIST_MARKER.match(value):
        return "numbered list"
    line = _line_before(text, start)
    if _CURRENCY_BEFORE.search(line) or _CURRENCY_AFTER.match(text[end : end + 16]):
        return "amount"
    if _VERSION_BEFORE.search(line):
        return "version or build"
    keyed = _KEYED_BEFORE.search(line)
    if keyed and not _PHONEY_KEY.search(keyed.group(1)):
        return "id in key=value"
    if digits < 10 and _OPTION_BEFORE.search(line):
        return "option list"
    return None


def has_context(text: str, start: int, end: int) -> bool:
    """Whether a phone context word stands near ``text[start:end]``."""
    lo = max(0, start - CONTEXT_BEFORE)
    return bool(_CONTEXT.search(text, lo, start) or _CONTEXT.search(text, end, end + CONTEXT_AFTER))


def phone_score(text: str, start: int, end: int) -> float:
    """Score a phone match that `judge_phone` accepted (see the module docstring)."""
    value = text[start:end]
    base = UNFORMATTED_SCORE if _UNFORMATTED.fullmatch(value) else FORMATTED_SCORE
    return round(base + (CONTEXT_BOOST if has_context(text, start, end) else 0.0), 4)


_IP_VERSION_BEFORE = re.compile(
    r"(?i)(?:§|\b(?:v|ver|version|release|git|python|node|npm|pip|java|gcc|kernel|build|"
    r"firmware|section|chapter|rfc|ios|android|macos|windows))\s*[:=]?\s*$"
)


def judge_email(text: str, start: int, end: int) -> str | None:
    """Return why an e-mail match is not an e-mail address, or ``None``.

    >>> judge_email("see https://maps.example/place/@37.33,-121.8", 10, 37)
    'inside a URL'
    """
    value = text[start:end]
    local, _, domain = value.rpartition("@")
    if "/" in local or not any(ch.isalpha() for ch in domain.rpartition(".")[2]):
        return "inside a URL"
    return None


def judge_ip(text: str, start: int, end: int) -> str | None:
    """Return why an IP match is not an address, or ``None`` (version, section, slice).

    >>> judge_ip("git 1.7.7.3 on a Mac", 4, 11), judge_ip("a[1::-1]", 2, 5)
    ('version or section number', 'slice or too few groups')
    """
    value = text[start:end]
    if ":" in value:
        if sum(1 for g in value.split(":") if g) < 2:
            return "slice or too few groups"
        return None
    if _IP_VERSION_BEFORE.search(_line_before(text, start, 24)):
        return "version or section number"
    return None


def judge_card(text: str, start: int, end: int) -> str | None:
    """Return why a card match is not a card number: printed cards group digits by 3 to 6.

    >>> judge_card("# 6 12 18 24 30 36 42 48 54 60", 2, 30)
    'number sequence'
    """
    groups = _DIGITS.findall(text[start:end])
    if len(groups) > 1 and any(len(g) < 3 for g in groups):
        return "number sequence"
    return None


# Top-level domains a schemeless host must end with to count as a URL (``github.com``). Short
# country codes that are also file extensions or attribute names (``.py``, ``.sh``, ``.cr``,
# ``.sl``, ``.id``, ``.in``, ``.at``, ``.me``) are left out: ``main.py``, ``time.sl(eep)``,
# ``document.cr(eateElement)``, ``self.id`` are code.
WEB_TLDS = frozenset(
    [
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "mil",
        "int",
        "io",
        "ai",
        "dev",
        "app",
        "info",
        "uk",
        "de",
        "fr",
        "jp",
        "cn",
        "ru",
        "br",
        "au",
        "ca",
        "eu",
        "nl",
        "ch",
        "se",
        "dk",
        "fi",
        "pl",
        "tw",
        "kr",
        "es",
    ]
)
_CODE_ROOTS = frozenset(
    [
        "logging",
        "java",
        "javax",
        "self",
        "this",
        "console",
        "math",
        "json",
        "np",
        "pd",
        "os",
        "sys",
        "re",
        "torch",
        "android",
        "system",
        "std",
        "window",
        "document",
    ]
)
_SCHEME = re.compile(r"(?i)^[a-z][a-z0-9+.\-]*://|^www\.")


def judge_url(text: str, start: int, end: int) -> str | None:
    """Return why a URL match is code rather than a URL, or ``None``.

    A match with a scheme or ``www.`` is a URL; a schemeless one must end in a web TLD
    (`WEB_TLDS`), be written in lower case, not start with a common code namespace
    (`_CODE_ROOTS`) and not be glued to code (a ``.``, ``(`` or identifier character around it).

    >>> judge_url("el = document.createElement('a')", 5, 16), judge_url("see github.com", 4, 14)
    ('code-like token', None)
    """
    value = text[start:end]
    if _SCHEME.match(value):
        return None
    host = _HOST_END.split(value, maxsplit=1)[0]
    tld = host.rsplit(".", 1)[-1].lower()
    prev = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if (
        tld not in WEB_TLDS
        or prev in "._$"
        or (after.isascii() and after.isalnum())
        or after == "("
    ):
        return "code-like token"
    if host != host.lower() or host.split(".", 1)[0].lower() in _CODE_ROOTS:
        return "code-like token"  # System.Net, ASP.NET, logging.info, java.io
    return None


_JUDGES = {
    "PHONE_NUMBER": judge_phone,
    "EMAIL_ADDRESS": judge_email,
    "IP_ADDRESS": judge_ip,
    "CREDIT_CARD": judge_card,
    "URL": judge_url,
}


def reject_reason(entity: str, text: str, start: int, end: int) -> str | None:
    """Return why the `entity` finding ``text[start:end]`` is a false hit, or ``None``."""
    judge = _JUDGES.get(entity)
    return judge(text, start, end) if judge is not None else None
