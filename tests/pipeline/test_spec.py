"""Mixture spec validation: unknown keys, bad values and kinds give one-line errors naming the field."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import SpecError
from pipeline.spec import load_spec, parse_spec, spec_json_schema

BASE = {
    "name": "t",
    "seed": 1,
    "total": 10,
    "sources": [{"name": "a", "kind": "sft", "path": "a.jsonl", "license": "MIT"}],
    "slices": [{"intent": "math", "difficulty": "straightforward", "weight": 1}],
}


def _with(**changes):
    spec = json.loads(json.dumps(BASE))
    spec.update(changes)
    return spec


def test_minimal_spec_parses_and_weights_normalize():
    spec = parse_spec(
        _with(
            slices=[
                {"intent": "math", "difficulty": "straightforward", "weight": 1},
                {"intent": "coding", "difficulty": "straightforward", "weight": 3},
            ]
        )
    )
    weights = spec.slice_weights()
    assert weights[("coding", "straightforward")] == pytest.approx(0.75)
    assert sum(weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "field", "got"),
    [
        ({"bogus": 1}, "`bogus`", "unknown key"),
        (
            {"slices": [{"intent": "m", "difficulty": "s", "weight": 0}]},
            "`slices[0].weight`",
            "got 0",
        ),
        (
            {"slices": [{"intent": "m", "difficulty": "s", "weight": -2}]},
            "`slices[0].weight`",
            "got -2",
        ),
        (
            {"sources": [{"name": "a", "kind": "sfft", "path": "a", "license": "MIT"}]},
            "`sources[0].kind`",
            "got 'sfft'",
        ),
        ({"sampling": {"shortfall": "maybe"}}, "`sampling.shortfall`", "got 'maybe'"),
        (
            {"sources": [{"name": "a", "kind": "sft", "path": "a", "license": "MIT", "colour": 1}]},
            "`sources[0].colour`",
            "unknown key",
        ),
    ],
)
def test_bad_spec_is_one_line_naming_field_and_value(change, field, got):
    with pytest.raises(SpecError) as info:
        parse_spec(_with(**change), origin="mixtures/t.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("mixtures/t.yaml: ")
    assert field in message
    assert got in message


def test_synthetic_source_requires_generator():
    source = {"name": "g", "kind": "synthetic", "path": "g.jsonl", "license": "MIT"}
    with pytest.raises(SpecError, match="generator"):
        parse_spec(_with(sources=[source]))


def test_duplicate_slice_is_rejected():
    s = {"intent": "m", "difficulty": "s", "weight": 1}
    with pytest.raises(SpecError, match="slice may appear once"):
        parse_spec(_with(slices=[s, s]))


def test_missing_and_invalid_yaml_files_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_json_schema_lists_every_top_level_key():
    props = spec_json_schema()["properties"]
    for key in (
        "name",
        "seed",
        "total",
        "sources",
        "holdouts",
        "license_policy",
        "slices",
        "sampling",
    ):
        assert key in props
    assert spec_json_schema()["additionalProperties"] is False
