"""`mixgate audit`: known overlaps on real data, no false alarms, exit codes, JSON report."""

from __future__ import annotations

import gzip
import json

import pytest

from flows.cli import main
from pipeline.tools.audit import audit_files, holdout_text, iter_string_leaves
from pipeline.stages.decontam.match import DecontamConfig
from tests.conftest import SHARED

ALPACA_EVAL = SHARED / "alpaca_eval" / "gpt4_model_outputs.json.gz"
SELF_INSTRUCT = SHARED / "self_instruct" / "user_oriented_instructions.jsonl"
VICUNA = SHARED / "fastchat_bench" / "vicuna_bench_question.jsonl"
GSM8K_TEST = SHARED / "gsm8k" / "test.jsonl"


def _rows_of(report, holdout_file) -> tuple[set[int], set[int]]:
    found = [f for f in report.findings if f["holdout_file"] == str(holdout_file)]
    return {f["data_row"] for f in found}, {f["holdout_row"] for f in found}


def test_string_leaves_are_named_by_their_path():
    record = {"messages": [{"role": "user", "content": "hi"}], "n": 3, "tags": ["a"]}
    assert list(iter_string_leaves(record)) == [
        ("messages[0].role", "user"),
        ("messages[0].content", "hi"),
        ("tags[0]", "a"),
    ]


def test_holdout_text_joins_selected_fields_in_record_order():
    record = {"id": "t1", "instruction": "Do X.", "instances": [{"input": "a", "output": "b"}]}
    assert holdout_text(record, ["instances", "instruction"]) == "Do X.\na\nb"
    assert holdout_text(record, None) == "t1\nDo X.\na\nb"


def test_alpaca_eval_contains_exactly_its_selfinstruct_and_vicuna_rows(tmp_path):
    source = json.load(gzip.open(ALPACA_EVAL, "rt"))
    for holdout, field, dataset, n_items in (
        (SELF_INSTRUCT, "instruction", "selfinstruct", 252),
        (VICUNA, "turns", "vicuna", 80),
    ):
        report = audit_files(
            [ALPACA_EVAL],
            [holdout],
            config=DecontamConfig(),
            holdout_fields=[field],
            cache_dir=tmp_path,
        )
        data_rows, holdout_rows = _rows_of(report, holdout)
        assert data_rows == {i for i, r in enumerate(source) if r["dataset"] == dataset}
        assert holdout_rows == set(range(n_items))


def test_gsm8k_train_reports_at_most_the_two_same_template_test_items():
    report = audit_files(
        [SHARED / "gsm8k" / "train.jsonl.gz"],
        [GSM8K_TEST],
        config=DecontamConfig(),
        holdout_fields=["question"],
    )
    _, holdout_rows = _rows_of(report, GSM8K_TEST)
    assert len(holdout_rows) <= 2
    assert report.summary["records_scanned"] == 7473


def test_lima_against_gsm8k_test_is_clean_and_exits_zero(tmp_path, capsys):
    code = main(
        [
            "audit",
            "--data",
            str(SHARED / "lima" / "lima.json.gz"),
            "--holdout",
            str(GSM8K_TEST),
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert "gsm8k/test" in capsys.readouterr().out


def test_contamination_exits_one_and_writes_the_json_report(tmp_path):
    data = tmp_path / "train.jsonl"
    question = json.loads(GSM8K_TEST.open().readline())["question"]
    data.write_text(
        "\n".join(
            [
                json.dumps({"prompt": "hello there general kenobi"}),
                "",
                json.dumps({"messages": [{"role": "user", "content": question}]}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "report.json"
    args = [
        "audit",
        "--data",
        str(data),
        "--holdout",
        str(GSM8K_TEST),
        "--holdout-field",
        "question",
        "--json",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 1
    report = json.loads(out.read_text())
    (finding,) = report["findings"]
    assert finding["data_row"] == 2 and finding["holdout_row"] == 0  # 0-based line numbers
    assert finding["field"] == "messages[0].content" and finding["method"] == "containment"
    assert set(finding) == {
        "data_file",
        "data_row",
        "record_id",
        "field",
        "holdout_file",
        "holdout_row",
        "score",
        "method",
    }
    assert report["summary"]["holdouts"][0]["items_found"] == 1
    assert report["summary"]["index_cached"] is False
    assert main(args) == 1
    assert json.loads(out.read_text())["summary"]["index_cached"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "/no/such/file.jsonl"], "does not exist"),
        (["--data", str(GSM8K_TEST), "--threshold", "2"], "`threshold`"),
        (["--data", str(GSM8K_TEST), "--holdout-field", "nope"], "nope"),
    ],
)
def test_bad_input_or_option_value_exits_two_with_one_line(extra, message, capsys):
    assert main(["audit", "--holdout", str(GSM8K_TEST), "--no-cache", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unknown_kind_is_a_usage_error_exiting_two(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["audit", "--holdout", str(GSM8K_TEST), "--data", str(GSM8K_TEST), "--kind", "weird"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
