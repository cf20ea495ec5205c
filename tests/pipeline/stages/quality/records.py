"""Records and frames for the quality gate tests: crafted SFT turns and pairs, real records."""

from __future__ import annotations

import gzip
import json

import polars as pl

from pipeline.records.canonical import Reject, apply_field_map, canonicalize
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.stages.quality import QualityConfig, tag_quality
from tests.conftest import SHARED

WEATHER = {"get_weather": {"city": "string", "days": "integer?"}}
PROSE = (
    "Rivers shape valleys over long periods. Water carries sediment downstream, cutting into rock "
    "and depositing silt where the current slows. Floods widen the plain, while meanders migrate "
    "across it, leaving oxbow lakes behind. Vegetation stabilises the banks and slows erosion."
)


def records_frame(records: list[dict]) -> pl.DataFrame:
    rows = []
    for i, record in enumerate(records):
        rows.append(
            {
                "record_id": f"r{i}",
                "source": "test",
                "kind": "preference" if record.get("chosen") is not None else "sft",
                "messages": record["messages"],
                "chosen": record.get("chosen"),
                "rejected": record.get("rejected"),
                "license": "mit",
                "provenance": {"source": "test", "file": "f.jsonl", "file_sha256": "0", "row": i},
            }
        )
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def sft(reply: str, prompt: str = "Explain rivers.") -> dict:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
    }


def pair(chosen: str, rejected: str) -> dict:
    return {
        "messages": [{"role": "user", "content": "Which is better?"}],
        "chosen": chosen,
        "rejected": rejected,
    }


def real_frame(path: str, kind: str, limit: int) -> pl.DataFrame:
    file = SHARED / path
    data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    text = data.decode("utf-8")
    raws = (
        [json.loads(line) for line in text.splitlines()]
        if ".jsonl" in file.name
        else json.loads(text)
    )
    records = []
    for raw in raws[:limit]:
        canonical = canonicalize(apply_field_map(raw, {}, kind), kind=kind)
        if not isinstance(canonical, Reject):
            records.append(canonical._asdict())
    return records_frame(records)


def reasons(frame: pl.DataFrame, config: QualityConfig | None = None) -> list[str | None]:
    return tag_quality(frame, config=config or QualityConfig())["quality_drop_reason"].to_list()
