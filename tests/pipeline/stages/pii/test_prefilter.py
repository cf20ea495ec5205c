"""PII prefilter: trigger spans and windows equal their defining searches and whole-text analysis."""

from __future__ import annotations

import gzip
import json
import random
import re

from pipeline.stages.pii import (
    PiiConfig,
    prefilter,
)
from pipeline.stages.pii.engine import LANGUAGE
from pipeline.stages.pii.prefilter import find_windows
from tests.conftest import SHARED


def test_prefilter_sends_nothing_to_presidio_for_text_without_candidates():
    entities = frozenset(PiiConfig().entities)
    assert find_windows("A plain sentence, no digits or at-signs at all.", entities) == []
    assert find_windows("", entities) == []


def _sample_texts() -> list[str]:
    synth = json.loads((SHARED / "presidio_synth" / "synth_dataset_v2.json").read_text("utf-8"))
    lima = json.loads(gzip.decompress((SHARED / "lima" / "lima.json.gz").read_bytes()))
    crafted = [
        "ssn " + "x " * 200 + "536-22-8745",  # context word far before the number
        "call +49 30 1234567 or 1640",  # German formats, a 4-digit valid number
        "fe80::1ff:fe23:4567:890a and ::1 and 2001:db8::7",
        "wallet 1BoatSLRHtKNngkdXEeobR76b53LETtpyT tail",
        "IBAN: GB82 WEST 1234 5698 7654 32.",
        "mail:" + "a" * 300 + "@b.com",
    ]
    return [r["full_text"] for r in synth] + [r["output"] for r in lima[:150]] + crafted


def _whole_text_trigger_spans(text: str) -> list[tuple[int, int, str]]:
    """The oracle: every trigger pattern of the prefilter searched over the whole text."""
    spans = []
    for match in prefilter._DIGIT_RUN.finditer(text):
        digits = sum(map(str.isdigit, match.group()))
        spans += [(*match.span(), e) for e, n in prefilter._MIN_DIGITS.items() if digits >= n]
    for entity, pattern in prefilter._TRIGGERS.items():
        spans += [(m.start(), m.end(), entity) for m in pattern.finditer(text)]
    return sorted(spans)


def _random_texts(n: int) -> list[str]:
    rng = random.Random(12)
    pieces = [
        "1",
        "3",
        "0",
        "9",
        "12",
        "311",
        "bc1",
        "BC1",
        "x",
        "DK",
        "GB82",
        ".",
        ":",
        "::",
        "-",
        " ",
        "  ",
        "\n",
        "@",
        "a",
        "f",
        "Z",
        "q" * 30,
        " " * 60,
        "1" * 26,
        "-0102",
        "010203",
        "1234",
    ]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 120))) for _ in range(n)]


def test_trigger_search_near_digits_equals_the_whole_text_search():
    """`_trigger_spans` searches the digit-holding patterns only near digits: same spans."""
    lima = json.loads(gzip.decompress((SHARED / "lima" / "lima.json.gz").read_bytes()))
    texts = [t for r in lima for t in (r["instruction"], r["input"], r["output"]) if t]
    texts += _sample_texts() + _random_texts(20_000)
    texts += ["0102031234" + " " * k + "1" * 26 for k in range(40, 70)]  # cluster edges
    texts += [re.sub("0", "-", t) for t in texts[-30:]]
    for text in texts:
        got = sorted(prefilter._trigger_spans(text, prefilter.TRIGGERED_ENTITIES))
        assert got == _whole_text_trigger_spans(text), text[:80]


def test_fast_trigger_patterns_find_the_defining_patterns_spans():
    """`_RUN_CORE` stepped back over ``+``/``(`` finds `_DIGIT_RUN`'s runs, `_CLUSTER` finds
    `_DIGIT_CLUSTER`'s clusters, and the DK_CPR near-digit pattern finds the trigger's matches,
    also with prefixes glued to runs and runs glued to each other."""
    rng = random.Random(5)
    pieces = [
        "+",
        "(",
        "\uff0b",
        "\uff08",
        "++",
        "(+",
        "1",
        "23",
        "0",
        "3",
        "-",
        " ",
        ".",
        ")",
        "x",
        "\n",
        "4567",
        "010203",
        "-1234",
        " " * 27,
        "a" * 30,
    ]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 80))) for _ in range(20_000)]
    texts += _random_texts(5_000)
    cpr = prefilter._NEAR_DIGITS["DK_CPR"][0]
    for text in texts:
        assert [m.span() for m in prefilter._CLUSTER.finditer(text)] == [
            m.span() for m in prefilter._DIGIT_CLUSTER.finditer(text)
        ], text
        assert [m.span() for m in cpr.finditer(text)] == [
            m.span() for m in prefilter._TRIGGERS["DK_CPR"].finditer(text)
        ], text
        runs = [s for s in prefilter._trigger_spans(text, frozenset({"PHONE_NUMBER"}))]
        assert runs == [(*m.span(), "PHONE_NUMBER") for m in prefilter._DIGIT_RUN.finditer(text)]


def _windows_span_by_span(text: str, entities: frozenset[str]) -> list[prefilter.Window]:
    """The definition of `find_windows`: widen every trigger span, merge overlapping windows."""
    windows: list[prefilter.Window] = []
    spans = sorted(prefilter._trigger_spans(text, entities & prefilter.TRIGGERED_ENTITIES))
    for start, end, entity in spans:
        lo, hi = prefilter._widen(text, start, end)
        runs = ((start, end),) if entity == "PHONE_NUMBER" else ()
        if windows and lo <= windows[-1].end:
            last = windows[-1]
            windows[-1] = prefilter.Window(
                last.start, max(last.end, hi), last.entities | {entity}, last.phone_runs + runs
            )
        else:
            windows.append(prefilter.Window(lo, hi, frozenset({entity}), runs))
    untriggered = entities - prefilter.TRIGGERED_ENTITIES - {"API_KEY", "CREDENTIAL", "PRIVATE_KEY"}
    if untriggered:
        windows.append(prefilter.Window(0, len(text), untriggered))
    return windows


def test_find_windows_equals_widening_every_span():
    """`find_windows` skips widening spans inside the open window: same windows."""
    rng = random.Random(3)
    pieces = ["1234", "+", "(", "a@b", " ", "\n", "x" * 50, "word ", "192.168.1.1", "GB82", "::"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 200))) for _ in range(5_000)]
    texts += _sample_texts()
    for entities in (frozenset(PiiConfig().entities), frozenset({"PHONE_NUMBER", "URL"})):
        for text in texts:
            assert find_windows(text, entities) == _windows_span_by_span(text, entities), text


def test_prefilter_windows_find_exactly_what_whole_text_analysis_finds(scanner):
    """Windowed detection loses nothing (and invents nothing) against presidio on whole texts."""
    entities = list(scanner.config.entities)
    analyzer = scanner._analyzer
    for text in _sample_texts():
        whole = {
            (r.entity_type, r.start, r.end, round(float(r.score), 4))
            for r in analyzer.analyze(text, language=LANGUAGE, entities=entities)
        }
        assert set(scanner.detect(text)) == whole, text[:80]


def test_pruning_bare_digit_runs_changes_no_kept_finding(scanner):
    """`analyze_text` skips bare digit runs without a context word; what it keeps is unchanged."""
    texts = [
        *_sample_texts(),
        "Call 6505551234 now",
        "id 6505551234",
        "year 1685 and 2019",
        "dial 0301234567 x12",
        "5551234 ext. 89 is the desk",
    ]
    for text in texts:
        assert scanner.analyze_text(text) == scanner.analyze_text(text, prune=False), text[:80]
