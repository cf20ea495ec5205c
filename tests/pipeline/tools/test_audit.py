"""`mixgate audit`: known overlaps on real data, no false alarms, exit codes, JSON report."""

from __future__ import annotations

import gzip
import json

import pytest

from flows.cli import main
from pipeline.stages.decontam.match import DecontamConfig
from pipeline.tools.audit import audit_files, iter_string_leaves
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


def test_alpaca_eval_contains_exactly_its_selfinstruct_and_vicuna_rows(tmp_path):
    source = json.load(gzip.open(ALPACA_EVAL, "rt"))
    for holdout, dataset, n_items in (
        (SELF_INSTRUCT, "selfinstruct", 252),
        (VICUNA, "vicuna", 80),
    ):
        report = audit_files([ALPACA_EVAL], [holdout], config=DecontamConfig(), cache_dir=tmp_path)
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
    assert finding["field"] == "messages[0].content" and finding["method"] == "aligned"
    assert finding["holdout_turn"] is None
    assert set(finding) == {
        "holdout_turn",
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


# --- issue 10: holdout items are the prompt side by default ---------------------------------

_QUESTION = "Which river flows through the ancient city of Thebes in southern Egypt today?"


def _qa_holdout(tmp_path):
    """A TruthfulQA-like CSV: the question is the prompt; answers and the source URL are not."""
    path = tmp_path / "qa.csv"
    path.write_text(
        "Type,Question,Best Answer,Source\n"
        f'Adversarial,{_QUESTION},"The Nile flows through Luxor, the site of Thebes",'
        "https://en.wikipedia.org/wiki/Thebes\n"
        "Adversarial,What happens if you crack your knuckles a lot?,Nothing in particular "
        "happens if you crack your knuckles a lot,https://en.wikipedia.org/wiki/Cracking_joints\n"
    )
    return path


def test_csv_holdout_uses_the_question_column_not_the_answers(tmp_path, capsys):
    holdout = _qa_holdout(tmp_path)
    data = tmp_path / "train.jsonl"
    data.write_text(
        json.dumps({"instruction": f"Answer briefly. {_QUESTION}", "output": "The Nile."})
        + "\n"
        # the answer text alone, copied: not a prompt-side copy, so not contamination
        + json.dumps(
            {
                "instruction": "Say something.",
                "output": "The Nile flows through Luxor, "
                "the site of Thebes; https://en.wikipedia.org/wiki/Thebes",
            }
        )
        + "\n"
    )
    out = tmp_path / "r.json"
    code = main(
        ["audit", "--data", str(data), "--holdout", str(holdout), "--no-cache", "--json", str(out)]
    )
    assert code == 1
    report = json.loads(out.read_text())
    assert [(f["data_row"], f["holdout_row"], f["field"]) for f in report["findings"]] == [
        (0, 0, "instruction")
    ]
    assert report["summary"]["holdouts"][0]["fields"] == ["Question"]
    assert "qa: items from Question" in capsys.readouterr().out


def test_holdout_without_a_prompt_field_exits_two_naming_its_fields(tmp_path, capsys):
    holdout = tmp_path / "labels.jsonl"
    holdout.write_text(json.dumps({"id": 1, "label": "yes", "url": "http://x"}) + "\n")
    code = main(["audit", "--data", str(GSM8K_TEST), "--holdout", str(holdout), "--no-cache"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no prompt-like field" in err and "`id`, `label`, `url`" in err
    assert "--holdout-field" in err


def test_unreadable_holdout_rows_are_counted_and_strict_exits_two(tmp_path, capsys):
    holdout = tmp_path / "h.jsonl"
    holdout.write_text(json.dumps({"question": _QUESTION}) + "\n{not json\n")
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "nothing to see"}) + "\n")
    out = tmp_path / "r.json"
    args = [
        "audit",
        "--data",
        str(data),
        "--holdout",
        str(holdout),
        "--no-cache",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    assert "1 unreadable row(s)" in capsys.readouterr().out
    summary = json.loads(out.read_text())["summary"]
    assert summary["holdout_unreadable_rows"] == 1
    assert summary["holdouts"][0]["unreadable_rows"] == 1
    assert main([*args, "--strict"]) == 2


def test_mt_bench_turns_are_separate_items_and_a_first_turn_copy_is_found(tmp_path):
    mt_bench = SHARED / "fastchat_bench" / "mt_bench_question.jsonl"
    first = json.loads(mt_bench.open().readline())["turns"][0]
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": first}) + "\n")
    report = audit_files([data], [mt_bench], config=DecontamConfig())
    assert [(f["holdout_row"], f["holdout_turn"]) for f in report.findings] == [(0, 0)]
    assert report.summary["holdouts"][0]["fields"] == ["turns[]"]
    only_first = audit_files(
        [data], [mt_bench], config=DecontamConfig(), holdout_fields=["turns[0]"]
    )
    assert only_first.summary["holdouts"][0]["items"] == 80


def test_two_processes_find_exactly_what_one_finds_in_the_same_order():
    from pipeline.stages.decontam.holdouts import collect_items
    from pipeline.stages.decontam.index import HoldoutIndex
    from pipeline.tools.audit import match_fields, read_holdouts

    config = DecontamConfig()
    source = json.load(gzip.open(ALPACA_EVAL, "rt"))
    fields = [
        (i, name, text)
        for i, record in enumerate(source)
        for name, text in iter_string_leaves(record)
    ]
    index = HoldoutIndex.build(
        collect_items(read_holdouts([SELF_INSTRUCT, VICUNA], fields=None)), config=config
    )
    one = match_fields(fields, index=index, config=config, workers=1)
    assert len({f.record for f in one}) > 300  # the copied self-instruct and vicuna rows
    for workers in (2, 3):
        assert match_fields(fields, index=index, config=config, workers=workers, min_chars=0) == one
