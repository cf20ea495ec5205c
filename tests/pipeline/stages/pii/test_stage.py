"""PII stages: `tag_pii` / `redact_pii` columns, batching, and no detected value in any output."""

from __future__ import annotations

import json
import logging

import polars as pl

from pipeline.stages.gate import apply_gate
from pipeline.stages.pii import (
    PII_RULE,
    PiiConfig,
    PiiScanner,
    hash_value,
    redact_pii,
    tag_pii,
)
from tests.pipeline.stages.pii.planted_cases import (
    CARD,
    EMAIL,
    IBAN,
    IP,
    PHONE,
    PLANTED,
    SSN,
    chat,
    record_frame,
)

# --- stages ------------------------------------------------------------------------------------


def _planted_frame() -> pl.DataFrame:
    return record_frame(
        [
            {"messages": chat("What is a list?", "A list is an ordered collection.")},
            {"messages": chat(f"My mail is {EMAIL}, call {PHONE}.", "Noted, I will not share it.")},
            {"messages": chat("Pay?", f"Use card {CARD} please.")},
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
        tagged = tag_pii(record_frame([{"messages": chat(f"mail {EMAIL}", "ok")}]), scanner=scanner)
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
    redacted = redact_pii(
        record_frame([{"messages": chat(f"mail {EMAIL}", "ok")}]), scanner=scanner
    )
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
    frame = record_frame([{"messages": chat("What is a list?", "An ordered collection.")}] * 2)
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
