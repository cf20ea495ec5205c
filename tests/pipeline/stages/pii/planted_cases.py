"""Planted PII values and canonical record frames shared by the PII tests."""

from __future__ import annotations

import polars as pl

from pipeline.records.schemas import RECORD_SCHEMA, compute_record_id

EMAIL = "jane.roe1987@gmail.com"
PHONE = "(212) 555-0187"
CARD = "4111 1111 1111 1111"
SSN = "536-22-8745"
IBAN = "DE89370400440532013000"
IP = "84.17.33.201"
PLANTED = (EMAIL, PHONE, CARD, SSN, IBAN, IP)


def record_frame(rows: list[dict]) -> pl.DataFrame:
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


def chat(user: str, reply: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
