"""Ingest: records become canonical rows with provenance, or ledger rows; labels come from the source."""

from __future__ import annotations

import json

import polars as pl
import pytest

from pipeline.build.config import check_label_in
from pipeline.errors import ConfigError
from pipeline.spec import SourceSpec
from pipeline.stages.ingest import ingest_file
from tests.conftest import ROOT

ALLOWED = {
    "intent": frozenset({"math", "coding", "conversation"}),
    "difficulty": frozenset({"straightforward", "multi_step"}),
}


def _check(value, axis, source, field):
    return check_label_in(value, axis, source, field, allowed=ALLOWED)


def _write(tmp_path, rows):
    path = tmp_path / "src.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_records_carry_provenance_and_equal_content_has_equal_id(tmp_path):
    path = _write(tmp_path, [{"prompt": "p", "response": "r"}, {"prompt": "p", "response": "r"}])
    source = SourceSpec(name="s", kind="sft", path="src.jsonl", license="MIT")
    result = ingest_file(path, source=source, base_dir=tmp_path, check=_check)
    rows = result.records.to_dicts()
    assert rows[0]["record_id"] == rows[1]["record_id"]
    assert [r["provenance"]["row"] for r in rows] == [0, 1]
    assert rows[0]["provenance"]["file"] == "src.jsonl"
    assert result.file.records == 2 and result.ledger.height == 0


def test_field_label_is_mapped_and_overrides_the_tagger(tmp_path):
    path = _write(
        tmp_path,
        [
            {"prompt": "2+2?", "response": "4", "cat": "arith"},
            {"prompt": "hi", "response": "hello"},
        ],
    )
    source = SourceSpec(
        name="s",
        kind="sft",
        path="src.jsonl",
        license="MIT",
        intent={"field": "cat", "map": {"arith": "math"}},
    )
    result = ingest_file(path, source=source, base_dir=tmp_path, check=_check)
    assert result.records.get_column("intent").to_list() == ["math", None]  # None: tagger fills it


def test_unmapped_label_value_is_an_error_naming_source_field_and_value(tmp_path):
    path = _write(tmp_path, [{"prompt": "q", "response": "a", "cat": "poetry"}])
    source = SourceSpec(
        name="bench",
        kind="sft",
        path="src.jsonl",
        license="MIT",
        intent={"field": "cat", "map": {"arith": "math"}},
    )
    with pytest.raises(ConfigError, match=r"source `bench`.*`cat`.*'poetry'"):
        ingest_file(path, source=source, base_dir=tmp_path, check=_check)


def test_constant_label_outside_the_taxonomy_is_an_error(tmp_path):
    path = _write(tmp_path, [{"prompt": "q", "response": "a"}])
    source = SourceSpec(name="s", kind="sft", path="src.jsonl", license="MIT", intent="astrology")
    with pytest.raises(ConfigError, match="'astrology'.*not in the taxonomy"):
        ingest_file(path, source=source, base_dir=tmp_path, check=_check)


def test_synthetic_generator_from_a_field_or_ledger_reason(tmp_path):
    path = _write(
        tmp_path,
        [{"prompt": "q", "response": "a", "model": "m-7b"}, {"prompt": "q2", "response": "a2"}],
    )
    source = SourceSpec(
        name="g", kind="synthetic", path="src.jsonl", license="MIT", generator={"field": "model"}
    )
    result = ingest_file(path, source=source, base_dir=tmp_path, check=_check)
    assert result.records.get_column("generator").to_list() == ["m-7b"]
    assert result.ledger.select("row", "stage", "reason").rows() == [
        (1, "ingest", "missing_field:model")
    ]


def test_tagger_labels_only_what_the_source_left_empty():
    from pipeline.build.config import build_config
    from pipeline.build.plan import FileTask
    from pipeline.build.run import load
    from pipeline.build.shards import process_file
    from pipeline.io.files import file_sha256

    loaded = load(ROOT / "mixtures" / "demo.yaml")
    config = build_config(loaded.spec, base_dir=loaded.base_dir)
    source = loaded.spec.sources[0]  # intent from `category` via a map, difficulty by the tagger
    path = (loaded.base_dir / source.path).resolve()
    outcome = process_file(
        FileTask(source, path, loaded.base_dir, file_sha256(path)), config=config
    )
    frame = outcome.records
    assert set(frame.get_column("tag_intent_source").unique()) == {"source"}
    assert set(frame.get_column("tag_difficulty_source").unique()) == {"tagger"}
    assert frame.get_column("tag_difficulty_rule").null_count() == 0


ODD_TEXT = [
    "",
    "plain",
    "e\u0301 \u00e9 \ufb01 \u212a",
    "\u05e9\u05dc\u05d5\u05dd \u202e rtl",
    "emoji \U0001f600 \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "line\u2028sep \x85 \u00a0",
    'q"uote\\ \t\n',
    "x" * 70_000,
]


def _dict_frame(path, source, base_dir, sha):
    """The frame as ingest first built it: one dict per record, `pl.DataFrame(dicts)` (oracle)."""
    from pipeline.io.readers import iter_rows
    from pipeline.records.canonical import Reject
    from pipeline.records.schemas import RECORD_SCHEMA
    from pipeline.stages.ingest import canonical_row

    records = []
    for row, raw in iter_rows(path):
        result = canonical_row(raw, source=source, check=_check) if isinstance(raw, dict) else None
        if result is None or isinstance(result, Reject):
            continue
        result["provenance"] = {
            "source": source.name,
            "file": path.name,
            "file_sha256": sha,
            "row": row,
        }
        records.append(result)
    return pl.DataFrame(records, schema=RECORD_SCHEMA)


@pytest.mark.parametrize("batch_rows", [512, 3])
@pytest.mark.parametrize("kind", ["sft", "preference", "synthetic"])
def test_records_frame_equals_the_frame_built_from_dicts(tmp_path, kind, batch_rows, monkeypatch):
    monkeypatch.setattr("pipeline.stages.ingest._BATCH_ROWS", batch_rows)
    rows = []
    for i, text in enumerate(ODD_TEXT):
        rows += [
            {
                "prompt": text or "p",
                "response": f"r{i} {text}",
                "model": text or None,
                "cat": "arith",
            },
            {
                "messages": [
                    {"role": "user", "content": f"u {text}"},
                    {"from": "gpt", "value": text},
                ]
            },
            {"prompt": f"p {text}", "chosen": f"c{i} {text}", "rejected": f"d{i}"},
            {"prompt": None, "response": text},  # a reject between kept rows
        ]
    path = tmp_path / "src.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{bad\n")
    source = SourceSpec(
        name="s",
        kind=kind,
        path="src.jsonl",
        license="MIT",
        intent={"field": "cat", "map": {"arith": "math"}},
        difficulty="multi_step",
        **({"generator": {"field": "model"}} if kind == "synthetic" else {}),
    )
    result = ingest_file(path, source=source, base_dir=tmp_path, check=_check, sha256="f" * 64)
    expected = _dict_frame(path, source, tmp_path, "f" * 64)
    assert result.records.height > 0 and result.ledger.height > 0
    assert result.records.schema == expected.schema
    assert result.records.equals(expected, null_equal=True)
    assert result.records.to_dicts() == expected.to_dicts()
