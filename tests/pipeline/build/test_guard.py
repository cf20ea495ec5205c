"""A record that breaks a per-file stage is a ledger row; a broken stage is one clean line."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.build.guard import GUARD_RULE, guarded, sanitized
from pipeline.errors import InternalError

SECRET = "jane.roe@mailhost.dk"


def _frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_id": [f"id{i}" for i in range(len(texts))],
            "text": texts,
            "provenance": [{"source": "s", "file": "f.jsonl", "row": i} for i in range(len(texts))],
        }
    )


def _stage(frame: pl.DataFrame) -> pl.DataFrame:
    for text in frame.get_column("text"):
        if "BOOM" in text:
            msg = f"cannot tag {text!r}"
            raise ValueError(msg)
    return frame.with_columns(pl.col("text").str.len_chars().alias("n"))


def test_rows_that_fail_alone_become_ledger_rows_and_the_rest_go_on():
    frame = _frame(["a", f"BOOM {SECRET}", "bb", "ccc", "BOOM", "d"])
    kept, out, ledger = guarded(_stage, frame, stage="quality")
    assert out.get_column("record_id").to_list() == ["id0", "id2", "id3", "id5"]
    assert kept.height == out.height
    assert ledger.select("row", "stage", "rule_id", "reason").rows() == [
        (1, "quality", GUARD_RULE, "stage_error:ValueError"),
        (4, "quality", GUARD_RULE, "stage_error:ValueError"),
    ]


def test_a_stage_failing_on_every_row_is_an_internal_error_without_record_text():
    with pytest.raises(InternalError) as caught:
        guarded(_stage, _frame([f"BOOM {SECRET}", "BOOM"]), stage="pii")
    text = str(caught.value) + "".join(getattr(caught.value, "__notes__", []))
    assert "stage `pii` failed (source `s`, file `f.jsonl`, row 0): ValueError" in str(caught.value)
    assert SECRET not in text and caught.value.__cause__ is None


def test_sanitized_withholds_the_message():
    def boom():
        msg = f"bad value {SECRET}"
        raise KeyError(msg)

    with pytest.raises(InternalError, match=r"stage `x` failed: KeyError") as caught:
        sanitized("x", boom)
    assert SECRET not in str(caught.value) + "".join(caught.value.__notes__)
