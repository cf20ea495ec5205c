"""Stage sections: one validation path (pydantic over the stages' config classes), one-line errors.

Each case is a wrong value in a stage section of mixtures/demo.yaml. The CLI must report it as
one error line naming the full key path and the value received, and exit 2; the JSON Schema of
`mixgate spec-schema` must accept the demo spec and reject every case.
"""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import yaml

from flows.cli import main
from pipeline.errors import ConfigError
from pipeline.sections import DedupSection, config_from_mapping
from tests.conftest import ROOT

DEMO = ROOT / "mixtures" / "demo.yaml"

# (section value to set, the key path and the value the error line must show)
CASES = [
    ({"dedup": {"near": {"threshold": "0.8"}}}, "`dedup.near.threshold`", "'0.8'"),
    ({"dedup": {"near": {"minhash": {"unit": "token"}}}}, "`dedup.near.minhash.unit`", "'token'"),
    ({"dedup": {"near": {"treshold": 0.8}}}, "`dedup.near.treshold`", "did you mean `threshold`"),
    ({"dedup": {"near": [0.8]}}, "`dedup.near`", "[0.8]"),
    ({"dedup": {"near": {"max_bucket": 2.5}}}, "`dedup.near.max_bucket`", "2.5"),
    ({"pii": {"actions": ["EMAIL_ADDRESS"]}}, "`pii.actions`", "['EMAIL_ADDRESS']"),
    ({"pii": {"allow_values": "x@y.org"}}, "`pii.allow_values`", "'x@y.org'"),
    ({"quality": {"bogus": 1}}, "`quality.bogus`", "unknown key"),
    ({"quality": {"lengths": {"min_chars": "ten"}}}, "`quality.lengths.min_chars`", "'ten'"),
    ({"tagging": {"intent_floor": "high"}}, "`tagging.intent_floor`", "'high'"),
    ({"tagging": {"extra_intents": "poetry"}}, "`tagging.extra_intents`", "'poetry'"),
    ({"reading": ["strict"]}, "`reading`", "['strict']"),
]
# Out of range: checked by the config classes' own __post_init__ (not expressed in the schema).
RANGE_CASES = [
    ({"dedup": {"near": {"threshold": 1.5}}}, "`dedup.near.threshold`", "1.5"),
    ({"pii": {"score_threshold": 2}}, "`pii.score_threshold`", "2"),
    ({"tagging": {"difficulty_floor": 1}}, "`tagging.difficulty_floor`", "1"),
]


def _demo() -> dict:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    for item in (*data["sources"], *data.get("holdouts", [])):
        item["path"] = str(DEMO.parent / item["path"])
    return data


def _with(change: dict) -> dict:
    data = copy.deepcopy(_demo())
    data.update(change)
    return data


@pytest.mark.parametrize(("change", "path", "value"), CASES + RANGE_CASES, ids=lambda x: None)
def test_cli_reports_a_wrong_section_value_on_one_line_with_path_and_value(
    change, path, value, tmp_path, capsys
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_with(change)), encoding="utf-8")
    assert main(["build", str(spec), "--out", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if " error: " in line]
    assert len(errors) == 1, errors
    assert path in errors[0] and value in errors[0], errors[0]
    assert not (tmp_path / "out").exists()


def test_spec_schema_accepts_the_demo_and_rejects_every_wrong_value(capsys):
    assert main(["spec-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.validate(_demo(), schema)
    for change, _, _ in CASES:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(_with(change), schema)
    near = schema["$defs"]["NearDedupConfig"]
    assert near["additionalProperties"] is False and "threshold" in near["properties"]


def test_section_errors_name_the_full_path_even_from_a_dataclass_check():
    with pytest.raises(ConfigError, match=r"^`dedup\.near\.minhash\.num_perm`: .*got 1$"):
        config_from_mapping(DedupSection, {"near": {"minhash": {"num_perm": 1}}}, where="dedup")
    section = config_from_mapping(DedupSection, {"near": {"threshold": 0.9}}, where="dedup")
    assert section.near.threshold == 0.9 and section.near.minhash.num_perm == 128
