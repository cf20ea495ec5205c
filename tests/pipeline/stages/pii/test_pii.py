"""PII screening: offline scanner, prefilter recall, tag/redact stages, scan-pii, no value leaks."""

from __future__ import annotations

import gzip
import json
import logging
import pickle
import random
import re
import subprocess
import sys
import threading

import polars as pl
import pytest

from pipeline.errors import ConfigError
from pipeline.records.schemas import RECORD_SCHEMA, compute_record_id
from pipeline.stages.gate import apply_gate
from pipeline.stages.pii import (
    PII_RULE,
    PiiConfig,
    PiiScanner,
    hash_value,
    prefilter,
    redact_pii,
    tag_pii,
)
from pipeline.stages.pii.engine import LANGUAGE
from pipeline.stages.pii.prefilter import find_windows
from pipeline.stages.pii.recognizers import luhn_ok
from tests.conftest import ROOT, SHARED

EMAIL = "jane.roe1987@gmail.com"
PHONE = "(212) 555-0187"
CARD = "4111 1111 1111 1111"
SSN = "536-22-8745"
IBAN = "DE89370400440532013000"
IP = "84.17.33.201"
PLANTED = (EMAIL, PHONE, CARD, SSN, IBAN, IP)


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner()


def _frame(rows: list[dict]) -> pl.DataFrame:
    records = []
    for i, row in enumerate(rows):
        messages = row["messages"]
        records.append(
            {
                "record_id": compute_record_id(messages, row.get("chosen"), row.get("rejected")),
                "source": "s",
                "kind": row.get("kind", "sft"),
                "messages": messages,
                "chosen": row.get("chosen"),
                "rejected": row.get("rejected"),
                "license": "mit",
                "provenance": {"source": "s", "file": "f.jsonl", "file_sha256": "0", "row": i},
            }
        )
    return pl.DataFrame(records, schema=RECORD_SCHEMA)


def _chat(user: str, reply: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


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


# --- stages ------------------------------------------------------------------------------------


def _planted_frame() -> pl.DataFrame:
    return _frame(
        [
            {"messages": _chat("What is a list?", "A list is an ordered collection.")},
            {
                "messages": _chat(
                    f"My mail is {EMAIL}, call {PHONE}.", "Noted, I will not share it."
                )
            },
            {"messages": _chat("Pay?", f"Use card {CARD} please.")},
            {
                "kind": "preference",
                "messages": [{"role": "user", "content": "Server?"}],
                "chosen": "Use the staging host.",
                "rejected": f"Connect to {IP}, ssn {SSN}, iban {IBAN}.",
            },
        ]
    )


def test_tag_pii_adds_findings_action_and_gate_columns(scanner):
    tagged = tag_pii(_planted_frame(), scanner=scanner)
    assert tagged["pii_action"].to_list() == [None, "redact", "drop", "drop"]
    assert tagged["pii_drop_rule"].to_list() == [None, None, PII_RULE, PII_RULE]
    assert tagged["pii_drop_reason"].to_list() == [
        None,
        None,
        "pii:CREDIT_CARD",
        "pii:IBAN_CODE,US_SSN",
    ]
    row1 = tagged["pii_findings"][1].to_list()
    assert [(f["field"], f["entity_type"]) for f in row1] == [
        ("messages[0].content", "EMAIL_ADDRESS"),
        ("messages[0].content", "PHONE_NUMBER"),
    ]
    content = tagged["messages"][1][0]["content"]
    assert row1[0]["value_hash"] == hash_value(content[row1[0]["start"] : row1[0]["end"]])
    detail = json.loads(tagged["pii_detail"][3])
    assert detail["entity_types"] == ["IBAN_CODE", "IP_ADDRESS", "US_SSN"]
    assert {f["field"] for f in detail["findings"]} == {"rejected"}


def test_flag_action_tags_without_dropping():
    config = PiiConfig(actions={"EMAIL_ADDRESS": "flag"})
    with PiiScanner(config) as scanner:
        tagged = tag_pii(_frame([{"messages": _chat(f"mail {EMAIL}", "ok")}]), scanner=scanner)
    assert tagged["pii_action"].to_list() == ["flag"]
    assert tagged["pii_drop_rule"].to_list() == [None]


def test_redact_pii_changes_only_the_redacted_spans_and_keeps_record_ids(scanner):
    frame = _planted_frame()
    redacted = redact_pii(tag_pii(frame, scanner=scanner), scanner=scanner)
    assert redacted["record_id"].to_list() == frame["record_id"].to_list()
    assert redacted["pii_redactions"].to_list() == [0, 2, 0, 1]
    before = frame["messages"][1][0]["content"]
    expected = before.replace(EMAIL, "<EMAIL_ADDRESS>").replace(PHONE, "<PHONE_NUMBER>")
    assert redacted["messages"][1][0]["content"] == expected
    assert (
        redacted["rejected"][3] == f"Connect to <IP_ADDRESS>, ssn {SSN}, iban {IBAN}."
    )  # drop types untouched
    unchanged = ["record_id", "source", "kind", "chosen", "license", "provenance"]
    assert redacted.select(unchanged).equals(frame.select(unchanged))
    assert redacted["messages"][0].to_list() == frame["messages"][0].to_list()


def test_redact_pii_tags_first_when_the_frame_is_untagged(scanner):
    redacted = redact_pii(_frame([{"messages": _chat(f"mail {EMAIL}", "ok")}]), scanner=scanner)
    assert redacted["messages"][0][0]["content"] == "mail <EMAIL_ADDRESS>"


def test_batched_tagging_and_redaction_equal_one_pass(scanner, monkeypatch):
    from pipeline.stages.pii import stage as stages

    frame = pl.concat([_planted_frame()] * 3, how="vertical")
    whole = redact_pii(tag_pii(frame, scanner=scanner), scanner=scanner)
    monkeypatch.setattr(stages, "BATCH_ROWS", 5)  # 12 rows -> batches of 5, 5, 2
    batched = redact_pii(tag_pii(frame, scanner=scanner), scanner=scanner)
    assert batched.equals(whole)
    assert batched["pii_redactions"].to_list() == [0, 2, 0, 1] * 3
    assert batched.columns == whole.columns


def test_redact_pii_without_redact_findings_keeps_every_row(scanner):
    frame = _frame([{"messages": _chat("What is a list?", "An ordered collection.")}] * 2)
    redacted = redact_pii(tag_pii(frame, scanner=scanner), scanner=scanner)
    assert redacted.drop("pii_redactions").equals(tag_pii(frame, scanner=scanner))
    assert redacted["pii_redactions"].to_list() == [0, 0]


def _variants(value: str) -> set[str]:
    return {value, "".join(ch for ch in value if ch.isalnum())}


def test_no_detected_value_reaches_ledger_detail_report_or_logs(scanner, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    frame = _planted_frame()
    tagged = tag_pii(frame, scanner=scanner)
    kept, ledger = apply_gate(tagged, stage="pii", prefix="pii")
    pool = redact_pii(kept, scanner=scanner)
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        "\n".join(
            json.dumps({"prompt": m[0]["content"], "response": m[-1]["content"]})
            for m in frame["messages"].to_list()
        )
        + "\n"
        + json.dumps(
            {"prompt": "x", "chosen": f"card {CARD}", "rejected": f"ip {IP} ssn {SSN} iban {IBAN}"}
        )
        + "\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    from flows.cli import main

    assert main(["scan-pii", str(raw), "--json", str(report)]) == 1
    out = capsys.readouterr()
    outputs = {
        "ledger": ledger.write_ndjson(),
        "pii columns": tagged.select(pl.col("^pii_.*$")).write_ndjson(),
        "redacted pool": pool.write_ndjson(),
        "scan-pii json": report.read_text("utf-8"),
        "scan-pii stdout": out.out + out.err,
        "logs": caplog.text,
    }
    assert json.loads(report.read_text("utf-8"))["summary"]["findings"] >= len(PLANTED)
    for where, text in outputs.items():
        for value in PLANTED:
            for variant in _variants(value):
                assert variant not in text, f"{where} leaks a planted value"


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
