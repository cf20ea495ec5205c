"""Holdout files into prompt-side items: field detection by name, field paths, errors."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import ConfigError
from pipeline.stages.decontam.holdouts import (
    default_paths,
    holdout_parts,
    parse_field_path,
    read_holdout_file,
)
from tests.conftest import SHARED


def _parts(record, *paths):
    return holdout_parts(record, [parse_field_path(p) for p in paths])


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["question_id", "category", "turns"], ["turns[]"]),
        (["Type", "Question", "Best Answer", "Source"], ["Question"]),
        (
            ["id", "motivation_app", "instruction", "instances"],
            ["instruction", "instances[].input"],
        ),
        (["instruction", "input", "output"], ["instruction", "input"]),
        (["task_id", "prompt", "canonical_solution", "test", "entry_point"], ["prompt"]),
        (["question", "answer"], ["question"]),
        (["messages"], ["messages[role=user]"]),
        (["id", "label", "url"], []),
    ],
)
def test_prompt_fields_are_found_by_name_never_answers_ids_or_urls(keys, expected):
    assert [p.text for p in default_paths(keys)] == expected


def test_field_paths_select_nested_values_and_split_turns():
    record = {
        "turns": ["first turn", "second turn"],
        "instances": [{"input": "in0", "output": "out0"}, {"input": "in1", "output": "out1"}],
        "instruction": "Do it.",
        "messages": [
            {"role": "user", "content": "u0"},
            {"role": "assistant", "content": "a0"},
            {"role": "user", "content": "u1"},
        ],
    }
    assert _parts(record, "turns[]") == [(0, "first turn"), (1, "second turn")]
    assert _parts(record, "turns[1]") == [(None, "second turn")]
    assert _parts(record, "instruction", "instances[].input") == [
        (0, "Do it.\nin0"),
        (1, "Do it.\nin1"),
    ]
    assert _parts(record, "messages[role=user]") == [(0, "u0"), (2, "u1")]
    assert _parts(record, "TURNS[0]") == [(None, "first turn")]  # names are case-insensitive
    assert _parts(record, "nothing") == []


@pytest.mark.parametrize("bad", ["turns[", "[0]", "a..b", "turns[-1]"])
def test_a_bad_field_path_is_a_one_line_config_error(bad):
    with pytest.raises(ConfigError, match="field path") as raised:
        parse_field_path(bad)
    assert "\n" not in str(raised.value)


def test_self_instruct_items_are_instruction_and_input_without_outputs():
    path = SHARED / "self_instruct" / "user_oriented_instructions.jsonl"
    read = read_holdout_file(path, holdout="si", label="si")
    first = json.loads(path.open().readline())
    assert read.fields == ("instruction", "instances[].input")
    assert len(read.items) == 252 and read.items[0].turn is None
    assert read.items[0].text == f"{first['instruction']}\n{first['instances'][0]['input']}"
    assert first["instances"][0]["output"] not in read.items[0].text


def test_a_named_field_that_matches_nothing_lists_the_fields_present(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n")
    with pytest.raises(ConfigError, match=r"`prompt`.*fields present: `question`, `answer`"):
        read_holdout_file(path, holdout="h", label="h", fields=["prompt"])


def test_unreadable_rows_are_counted_not_skipped_silently(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"question": "What is two plus two, in words?"}\n{oops\n[1, 2]\n')
    read = read_holdout_file(path, holdout="h", label="h")
    assert (read.rows, read.unreadable_rows, len(read.items)) == (3, 2, 1)
    assert read.summary()["unreadable_rows"] == 2
