"""PII screening: configuration, the offline scanner (detection, cache, pickling, pool), scan-pii.

Prefilter: test_prefilter.py; stages and value leaks: test_stage.py."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading

import pytest

from pipeline.errors import ConfigError
from pipeline.stages.pii import (
    PII_RULE,
    PiiConfig,
    PiiScanner,
)
from pipeline.stages.pii.engine import LANGUAGE
from pipeline.stages.pii.recognizers import luhn_ok
from tests.conftest import ROOT
from tests.pipeline.stages.pii.planted_cases import (
    CARD,
    EMAIL,
    IBAN,
    IP,
    PHONE,
    SSN,
)

# --- configuration -----------------------------------------------------------------------------


def test_config_rejects_unknown_action_naming_the_entity():
    with pytest.raises(
        ConfigError, match=r"`actions\[EMAIL_ADDRESS\]`.*drop, redact, flag.*'erase'"
    ):
        PiiConfig(actions={"EMAIL_ADDRESS": "erase"})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"thresholds": {"URL": 0.5}}, "thresholds"),
        ({"allow_ip_networks": ("not-a-net",)}, "allow_ip_networks"),
        ({"allow_patterns": ("(",)}, "allow_patterns"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"`{field}"):
        PiiConfig(**kwargs)


def test_config_slug_names_the_rule_and_changes_with_the_config():
    assert PiiConfig().slug.startswith(PII_RULE)
    assert PiiConfig().slug == PiiConfig().slug
    assert PiiConfig().slug != PiiConfig(score_threshold=0.5).slug


def test_ner_entity_without_nlp_model_is_a_config_error():
    with pytest.raises(ConfigError, match="nlp_model"):
        PiiScanner(PiiConfig(actions={"PERSON": "flag"}))


def test_missing_nlp_model_is_a_one_line_config_error_and_nothing_is_downloaded():
    with pytest.raises(ConfigError, match="never downloads") as info:
        PiiScanner(PiiConfig(nlp_model="en_core_web_nonexistent_xyz"))
    assert "\n" not in str(info.value)


# --- detection ---------------------------------------------------------------------------------


def test_scanner_finds_each_planted_entity_type(scanner):
    text = f"Mail {EMAIL}, phone {PHONE}, card {CARD}, ssn {SSN}, iban {IBAN}, server {IP}."
    found = {f.entity_type: text[f.start : f.end] for f in scanner.scan(text)}
    assert found == {
        "EMAIL_ADDRESS": EMAIL,
        "PHONE_NUMBER": PHONE,
        "CREDIT_CARD": CARD,
        "US_SSN": SSN,
        "IBAN_CODE": IBAN,
        "IP_ADDRESS": IP,
    }


def test_allow_list_skips_documentation_addresses_and_example_domains(scanner):
    text = (
        "Use admin@example.com or ops@mail.example.org, hosts 192.0.2.7, 203.0.113.9 and 127.0.0.1."
    )
    assert scanner.scan(text) == ()
    assert [f.entity_type for f in scanner.scan("host 8.8.4.4 and bob@corp.io")] == [
        "IP_ADDRESS",
        "EMAIL_ADDRESS",
    ]


def test_allow_values_and_patterns_skip_matching_values():
    config = PiiConfig(allow_values=("10.0.0.1",), allow_patterns=(r"bob@.*",))
    with PiiScanner(config) as scanner:
        assert scanner.scan("ip 10.0.0.1, mail bob@corp.io") == ()


def test_card_number_needs_luhn_and_issuer_range(scanner):
    valid_19_digit_visa = "4131034282458809939"
    assert luhn_ok(valid_19_digit_visa)
    assert [f.entity_type for f in scanner.scan(f"card {valid_19_digit_visa}")] == ["CREDIT_CARD"]
    assert not any(f.entity_type == "CREDIT_CARD" for f in scanner.scan("card 4131034282458809938"))


def test_phone_match_overlapping_a_card_is_reported_as_the_card_only(scanner):
    text = "pay with 4992 8196 7782 0891 today"
    assert [f.entity_type for f in scanner.detect(text)].count("PHONE_NUMBER") == 1
    assert [f.entity_type for f in scanner.scan(text)] == ["CREDIT_CARD"]


def test_per_entity_threshold_overrides_the_global_one():
    text = f"reach me at {PHONE}"  # uncontexted phone numbers score 0.4
    with PiiScanner(PiiConfig(thresholds={"PHONE_NUMBER": 0.9})) as strict:
        assert strict.scan(text) == ()


def test_cache_returns_stored_findings_without_rescanning(scanner, monkeypatch):
    text = f"unique text for the cache test {EMAIL}"
    first = scanner.scan(text)
    monkeypatch.setattr(scanner, "analyze_text", lambda t: pytest.fail("cache miss"))
    assert scanner.scan(text) == first
    assert scanner.scan_texts([text, text]) == [first, first]


def test_scan_texts_returns_cached_findings_even_when_the_cache_fills_mid_call():
    with PiiScanner(cache_size=2) as small:
        cached = small.scan_texts([f"mail {EMAIL}"])
        found = small.scan_texts([f"mail {EMAIL}", "a", "b", "c", f"mail {EMAIL}"])
    assert found[0] == found[4] == cached[0]
    assert [len(f) for f in found] == [1, 0, 0, 0, 1]


def test_scanner_pickles_as_config_and_rebuilds_its_engine(scanner):
    data = pickle.dumps(scanner)
    assert len(data) < 10_000
    clone = pickle.loads(data)
    assert clone.config == scanner.config
    assert clone.scan(f"x {EMAIL}") == scanner.scan(f"x {EMAIL}")


def test_scan_texts_in_two_worker_processes_matches_in_process(scanner):
    texts = [
        f"row {i} mail user{i}@corp.io phone {PHONE}" if i % 3 == 0 else f"row {i}"
        for i in range(300)
    ]
    with PiiScanner(workers=2) as pooled:
        method = "fork" if threading.active_count() == 1 else "spawn"  # other tests' threads
        assert pooled.scan_texts(texts) == [scanner.analyze_text(t) for t in texts]
        assert pooled._pool._mp_context.get_start_method() == method


@pytest.mark.slow
def test_pool_is_spawned_when_another_thread_runs(scanner):
    """Forking a process that runs threads is unsafe: the pool spawns its workers then."""
    texts = [f"row {i} mail user{i}@corp.io" for i in range(300)]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with PiiScanner(workers=2) as pooled:
            assert pooled.scan_texts(texts) == [scanner.analyze_text(t) for t in texts]
            assert pooled._pool._mp_context.get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()


# --- scan-pii command ----------------------------------------------------------------------------


def test_scan_pii_exit_codes_and_no_prefect_import(tmp_path):
    clean = tmp_path / "clean.jsonl"
    clean.write_text('{"prompt": "hi", "response": "hello there"}\n', encoding="utf-8")
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_text(
        json.dumps({"prompt": f"mail {EMAIL}", "response": "ok"}) + "\n", encoding="utf-8"
    )
    code = (
        "import sys; from flows.cli import main; "
        f"codes = [main(['scan-pii', {str(clean)!r}]), main(['scan-pii', {str(dirty)!r}, '--kind', 'sft']), "
        f"main(['scan-pii', {str(tmp_path / 'missing.jsonl')!r}])]; "
        "print(codes, 'prefect' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[0, 1, 2] False"
    assert proc.stderr.strip().splitlines() == [
        f"mixgate: error: input file not found: {tmp_path / 'missing.jsonl'}"
    ]


def test_scan_pii_reports_row_field_and_offsets_in_auto_mode(tmp_path, capsys):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"a": "nothing"}\n\n'
        + json.dumps({"a": "x", "history": [["q", f"to {EMAIL}"]]})
        + "\nnot json\n",
        encoding="utf-8",
    )
    report = tmp_path / "r.json"
    from flows.cli import main

    assert main(["scan-pii", str(path), "--json", str(report)]) == 1
    data = json.loads(report.read_text("utf-8"))
    assert data["findings"] == [
        {
            "file": str(path),
            "row": 2,
            "field": "history[0][1]",
            "entity_type": "EMAIL_ADDRESS",
            "start": 3,
            "end": 3 + len(EMAIL),
            "score": 1.0,
        }
    ]
    assert data["summary"]["rows_skipped"] == {"malformed_json": 1}


def test_scan_pii_bad_kind_is_a_usage_error(capsys):
    from flows.cli import main

    with pytest.raises(SystemExit) as info:
        main(["scan-pii", "x.jsonl", "--kind", "chat"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_lazy_nlp_artifacts_give_presidios_findings(monkeypatch):
    """spaCy runs on a window only when presidio reads the artifacts (a finding to enhance);
    the findings and scores are those of presidio's own eager call."""
    scanner = PiiScanner(PiiConfig(actions={"IP_ADDRESS": "flag", "PHONE_NUMBER": "flag"}))
    analyzer = scanner._analyzer
    calls = []
    real = analyzer.nlp_engine.process_text
    monkeypatch.setattr(
        analyzer.nlp_engine, "process_text", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    assert scanner.detect("In 2019 we sold 1500 units of part 4711.") == ()
    assert calls == []
    text = "the server ip is 8.8.4.4 and the gateway ip 9.9.9.9"
    eager = {
        (r.entity_type, r.start, r.end, round(float(r.score), 4))
        for r in analyzer.analyze(text, language=LANGUAGE, entities=["IP_ADDRESS"])
    }
    calls.clear()
    assert set(scanner.detect(text)) == eager
    assert calls == [1]
    assert any(score > 0.6 for *_, score in eager)  # the context word raised the score
