"""Secrets and credentials: a seeded planted set (recall) and 200 look-alikes (false hits)."""

from __future__ import annotations

import pytest

from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.stages.pii.config import DEFAULT_ACTIONS
from pipeline.stages.pii.credentials import SECRET_ENTITIES, find_secrets, is_placeholder
from tests.pipeline.stages.pii.secret_cases import lookalike_negatives, planted_cases


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner(PiiConfig())


def _hits(findings, text: str, secret: str) -> bool:
    start = text.index(secret)
    end = start + len(secret)
    return any(
        f.entity_type in SECRET_ENTITIES and f.start < end and start < f.end for f in findings
    )


def test_planted_set_covers_at_least_twelve_kinds_in_several_languages():
    cases = planted_cases()
    assert len({kind for kind, _, _ in cases}) >= 12
    assert len(cases) >= 30


def test_planted_secrets_are_found_with_recall_at_least_095(scanner):
    cases = planted_cases()
    missed = [kind for kind, text, secret in cases if not _hits(scanner.scan(text), text, secret)]
    assert 1 - len(missed) / len(cases) >= 0.95, missed


def test_every_planted_secret_is_covered_entirely(scanner):
    """The finding spans the whole secret, so redaction or a drop leaves none of it behind."""
    for kind, text, secret in planted_cases():
        start = text.index(secret)
        spans = [(f.start, f.end) for f in scanner.scan(text) if f.entity_type in SECRET_ENTITIES]
        assert any(s <= start and start + len(secret) <= e for s, e in spans), kind


def test_lookalikes_give_at_most_two_false_hits(scanner):
    negatives = lookalike_negatives()
    assert len(negatives) == 200
    false_hits = [
        t[:40] for t in negatives if any(f.entity_type in SECRET_ENTITIES for f in scanner.scan(t))
    ]
    assert len(false_hits) <= 2, false_hits


def test_secret_types_default_to_drop():
    for entity in SECRET_ENTITIES:
        assert DEFAULT_ACTIONS[entity] == "drop"


@pytest.mark.parametrize(
    "text",
    [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        'token = "ghp_' + "x" * 36 + '"',
        'password = os.environ["DB_PASSWORD"]',
        "postgres://user:password@localhost/app",
        'api_key = "<your-api-key>"',
        "sha256: " + "ab12" * 16,
    ],
)
def test_documentation_placeholders_are_not_secrets(text):
    assert find_secrets(text) == []


def test_placeholder_check_sees_through_leetspeak():
    assert is_placeholder("eXamPl3T0K3n")
    assert not is_placeholder("q8Lr2VwX9tKz3mPb")


def test_private_key_block_is_one_finding_from_begin_to_end():
    body = "MIIEowIBAAKCAQEA7" + "Qx9" * 30
    text = f"key = '''-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----'''"
    [(entity, start, end)] = find_secrets(text)
    assert entity == "PRIVATE_KEY"
    assert text[start:end].startswith("-----BEGIN") and text[start:end].endswith("KEY-----")


def _case_variants(text: str) -> list[str]:
    """`text` as written, upper- and title-cased, and with Kelvin signs / dotted capital I
    (the non-ASCII letters whose lower case holds an ASCII letter) in place of k / i."""
    return [
        text,
        text.upper(),
        text.title(),
        text.replace("k", "\u212a").replace("K", "\u212a"),
        text.replace("i", "\u0130").replace("I", "\u0130"),
    ]


def test_secret_candidates_rejects_only_texts_without_secrets():
    """The one-pass gate of `PiiScanner.analyze_texts`: a text it rejects has no finding."""
    from pipeline.stages.pii.credentials import secret_candidates

    texts = [text for _, text, _ in planted_cases()] + lookalike_negatives()
    texts += ["password = 'Xk9#vL2q!z'", "TOKEN=ab12CD34ef56", "p\u212aey='Zq8#Lm2!xV4'"]
    texts = [variant for text in texts for variant in _case_variants(text)]
    gates = secret_candidates(texts)
    assert sum(gates) < len(texts)  # it does reject some
    for text, gate in zip(texts, gates, strict=True):
        if not gate:
            assert find_secrets(text) == [], text
    assert secret_candidates(["a\ud800b", "plain"]) == [True, True]  # not UTF-8: check fully


def test_keyword_search_in_lower_case_equals_the_case_insensitive_search():
    from pipeline.stages.pii import credentials

    pattern = credentials._KEYWORD.pattern
    assert pattern.isascii() and pattern == pattern.lower()
    texts = [t for _, t, _ in planted_cases()] + lookalike_negatives()
    texts = [v for t in texts for v in _case_variants(t) if v.isascii()]
    for text in texts:
        assert [m.span() for m in credentials._KEYWORD_LOWER.finditer(text.lower())] == [
            m.span() for m in credentials._KEYWORD.finditer(text)
        ]
