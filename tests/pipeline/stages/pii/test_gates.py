"""Batch gates of the PII scanner: a text they rule out is one `analyze_text` finds nothing in.

The oracle is the per-text definition (`find_windows`, `PiiScanner.analyze_text`), run on real
text (LIMA, presidio's synthetic set), crafted edge cases and hypothesis-generated strings.
"""

from __future__ import annotations

import gzip
import json
import re

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.stages.pii import PiiConfig, PiiScanner, prefilter
from pipeline.stages.pii.credentials import find_secrets, secret_candidates, secret_gate
from tests.conftest import SHARED

ODD = [
    "",
    "\u2028line\u2029sep",
    "call \u0661\u0662\u0663\u0664\u0665\u0666\u0667",  # Arabic-Indic digits: `re`'s \d
    "\uff10\uff11\uff12\uff13 fullwidth",
    "e\u0301mail\uff20example",  # combining mark, fullwidth at-sign
    "\u05e9\u05dc\u05d5\u05dd 054-123-4567 \u05e9\u05dc\u05d5\u05dd",  # RTL around a number
    "\U0001f600 jane@corp.io \U0001f600",
    "host fe80::1ff:fe23 and \u00b9\u00b2\u00b3 (superscripts are not \\d)",
    "x" * 200_000 + " 212-555-0187",  # huge
    "AKIA" + "Q" * 16 + " password='hunter2hunter2X9'",
    "\ud800 lone surrogate 555 0187",
]


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner()


def _real_texts() -> list[str]:
    lima = json.loads(gzip.decompress((SHARED / "lima" / "lima.json.gz").read_bytes()))
    synth = json.loads((SHARED / "presidio_synth" / "synth_dataset_v2.json").read_text("utf-8"))
    texts = [t for r in lima for t in (r["instruction"], r["input"], r["output"]) if t]
    return texts + [r["full_text"] for r in synth]


def test_trigger_chars_are_what_re_reads_as_a_digit_plus_at_and_colon():
    digits = re.findall(r"\d", "".join(map(chr, range(0x110000))))
    assert prefilter._trigger_chars() == ["@", ":", *digits]


def test_a_text_the_trigger_gate_rules_out_has_no_triggered_window():
    texts = [t for t in _real_texts() + ODD if "\ud800" not in t]
    gate = prefilter.trigger_gate(pl.Series(texts)).to_list()
    entities = prefilter.TRIGGERED_ENTITIES
    for text, maybe in zip(texts, gate, strict=True):
        assert maybe or prefilter.find_windows(text, entities) == [], text[:80]
    assert gate.count(False) > len(texts) // 3  # and it rules out a fair share of real text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",))), max_size=8))
def test_trigger_gate_never_rules_out_a_trigger_in_generated_text(texts):
    gate = prefilter.trigger_gate(pl.Series(texts, dtype=pl.String)).to_list()
    for text, maybe in zip(texts, gate, strict=True):
        assert maybe or not prefilter._trigger_spans(text, prefilter.TRIGGERED_ENTITIES)


def test_secret_gate_of_a_column_is_secret_candidates():
    texts = _real_texts()[:3000] + ODD[:-1]
    assert secret_gate(pl.Series(texts)).to_list() == secret_candidates(texts)
    for text, maybe in zip(texts, secret_candidates(texts), strict=True):
        assert maybe or find_secrets(text) == []


def test_may_find_rules_out_only_texts_without_findings(scanner):
    texts = _real_texts() + ODD[:-1]
    maybe = scanner.may_find(pl.Series(texts)).to_list()
    for text, m in zip(texts, maybe, strict=True):
        assert m or scanner.analyze_text(text) == (), text[:80]
    assert pl.Series(maybe).sum() < len(texts) * 0.6


def test_may_find_keeps_every_text_when_an_entity_type_has_no_trigger():
    with PiiScanner(PiiConfig(actions={"EMAIL_ADDRESS": "drop", "URL": "flag"})) as wide:
        assert wide.may_find(pl.Series(["plain words", None])).to_list() == [True, True]


def test_scan_texts_equals_analyze_text_on_every_text(scanner):
    texts = _real_texts()[:1500] + ODD + ["plain", "plain", "mail jane@corp.io"] * 2
    scanner.clear_cache()
    assert scanner.scan_texts(texts) == [scanner.analyze_text(t) for t in texts]
    assert scanner.scan_texts(texts) == [scanner.analyze_text(t) for t in texts]  # cached


def _digit_map_by_regex(text: str) -> prefilter.DigitMap:
    first = prefilter._first_digit(text)
    return (
        prefilter._digit_map(text, first) if first >= 0 else prefilter.DigitMap([], [], frozenset())
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("0123456789 .-()+:@abAZ13\u0663\u00ad\u2028\n\x00é"))
        | st.text(),
        max_size=8,
    )
)
def test_digit_maps_give_the_regex_searchs_spans_on_generated_text(texts):
    entities = prefilter.TRIGGERED_ENTITIES
    for text, found in zip(texts, prefilter.digit_maps(texts), strict=True):
        assert found.runs == _digit_map_by_regex(text).runs
        assert sorted(prefilter._trigger_spans(text, entities, found)) == sorted(
            prefilter._trigger_spans(text, entities)
        )


def test_digit_maps_give_the_regex_searchs_windows_on_real_text(monkeypatch):
    from tests.pipeline.stages.pii.test_prefilter import _random_texts, _sample_texts

    texts = _real_texts() + _sample_texts() + _random_texts(10_000) + ODD
    entities = frozenset(PiiConfig().entities)
    monkeypatch.setattr(prefilter, "_CHUNK_CHARS", 50_000)  # many joins, texts longer than one
    for text, found in zip(texts, prefilter.digit_maps(texts), strict=True):
        assert found.runs == _digit_map_by_regex(text).runs, text[:80]
        assert prefilter.find_windows(text, entities, found) == prefilter.find_windows(
            text, entities
        ), text[:80]
