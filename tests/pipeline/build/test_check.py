"""`check_spec`: every planted mistake reported at once, one line each, with its place."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.build.check import check_spec
from pipeline.build.problems import did_you_mean, read_spec_document
from tests.conftest import ROOT

PLANTED = ROOT / "tests" / "data" / "check" / "planted.yaml"
# (line, key path, a word the message must contain, the suggestion) per planted mistake.
EXPECTED = [
    (10, "sources[0].fields.instructoin", "fields present", "instruction"),
    (20, "sources[1].priorty", "unknown key", "priority"),
    (24, "sources[2].path", "file not found", "../../../data_samples/preference_pairs.jsonl"),
    (33, "sources[3].intent", "unknown intent", "educational_explanation"),
    (39, "holdouts[0].fields[0]", "holdout field", "question"),
    (43, "license_policy.unknown", "'allow' or 'deny'", None),
    (46, "dedup.near.threshold", "(0, 1)", None),
    (50, "", "not valid YAML", None),
    (51, "slices[1]", "tool_use/adversarial needs", None),
    (55, "sampling.max_repeat", "unknown key", "max_repeats"),
]


def test_every_planted_mistake_is_reported_once_with_its_place():
    """Ten planted mistakes give exactly ten errors, each at its line and key path."""
    report = check_spec(PLANTED)
    errors = sorted(report.errors, key=lambda p: p.line or 0)
    assert [(p.line, p.key) for p in errors] == [(line, key) for line, key, _, _ in EXPECTED]
    for problem, (_, _, word, hint) in zip(errors, EXPECTED, strict=True):
        assert word in problem.message
        assert problem.hint == hint
        assert problem.column is not None
        text = problem.line_text()
        assert "\n" not in text
        assert text.startswith(f"{PLANTED.as_posix()}:{problem.line}:{problem.column}: error: ")


def test_demo_spec_has_no_error_and_an_exact_supply_estimate():
    """The demo's inputs are small enough to read whole: supply is exact and matches the build."""
    report = check_spec(ROOT / "mixtures" / "demo.yaml")
    assert report.errors == []
    supply = {f"{r['intent']}/{r['difficulty']}": r for r in report.supply}
    assert all(r["exact"] for r in report.supply)
    # Figures of `make demo`'s report, "Slice supply after each stage", column `license`.
    assert supply["math/multi_step"]["supply"] == 91
    assert supply["coding/straightforward"]["supply"] == 88
    assert supply["conversation/straightforward"]["supply"] == 99
    # synthetic_max_share 0.3 of 240 = 72 synthetic records, split by quota: 16 for a 53 slice.
    assert supply["math/multi_step"]["synthetic_cap"] == 16
    assert supply["math/multi_step"]["capacity"] == (91 - 28) * 2 + 16


def test_a_mapping_that_matches_nothing_is_an_error_not_a_fallback(tmp_path):
    """`{problem: prompt, solution: response}` on a file with question/answer fields is an error,
    even though the default aliases would have read the file."""
    data = tmp_path / "gsm.jsonl"
    data.write_text('{"question": "1+1?", "answer": "2"}\n' * 3)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\nseed: 1\ntotal: 2\nsources:\n  - name: gsm\n    kind: sft\n    path: gsm.jsonl\n"
        "    fields: {problem: prompt, solution: response}\n    license: MIT\n"
        "    intent: math\n    difficulty: multi_step\n"
        "slices:\n  - {intent: math, difficulty: multi_step, weight: 1}\n"
    )
    report = check_spec(spec)
    keys = sorted(p.key for p in report.errors)
    assert keys == ["sources[0].fields.problem", "sources[0].fields.solution"]
    assert all("fields present: question, answer" in p.message for p in report.errors)


def test_shortfall_caused_by_the_synthetic_cap_names_the_cap(tmp_path):
    """A slice with enough records only before the synthetic cap: the error says the cap did it."""
    shutil.copy(ROOT / "data_samples" / "synthetic_generated.jsonl.gz", tmp_path / "syn.jsonl.gz")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\nseed: 1\ntotal: 20\nsources:\n  - name: syn\n    kind: synthetic\n"
        "    path: syn.jsonl.gz\n    fields: {prompt: prompt, completion: response}\n"
        "    generator: {field: model}\n    license: MIT\n    intent: math\n    difficulty: multi_step\n"
        "slices:\n  - {intent: math, difficulty: multi_step, weight: 1}\n"
        "sampling: {synthetic_max_share: 0.1}\n"
    )
    report = check_spec(spec)
    [error] = report.errors
    assert error.key == "slices[0]"
    assert "synthetic cap causes it" in error.message and "allows 2" in error.message
    [row] = report.supply
    assert row["capacity_before_cap"] >= 20 > row["capacity"] == 2


def test_yaml_errors_are_located_and_parsing_goes_on():
    """A syntax error names line and column; keys after it are still read."""
    doc = read_spec_document(b"name: demo\nseed: [1\ntotal: 3\n", file="x.yaml")
    [problem] = doc.problems
    assert (problem.line, problem.column) == (2, 7)
    assert doc.data == {"name": "demo", "total": 3}


def test_did_you_mean_only_suggests_close_names():
    """Suggestions are for typos, not for anything at all."""
    assert did_you_mean("max_repeat", ["max_repeats", "shortfall"]) == "max_repeats"
    assert did_you_mean("License", ["license"]) == "license"
    assert did_you_mean("zzz", ["license"]) is None


def test_missing_spec_file_is_one_problem(tmp_path):
    """A spec path that does not exist is reported, not raised."""
    report = check_spec(tmp_path / "nope.yaml")
    [problem] = report.errors
    assert "spec file not found" in problem.message


def test_relative_paths_resolve_from_the_spec_not_the_working_directory(tmp_path, monkeypatch):
    """`check` works from any working directory."""
    monkeypatch.chdir(tmp_path)
    assert check_spec(Path(ROOT / "mixtures" / "demo.yaml")).errors == []


def test_holdout_fields_are_checked_as_the_decontam_reader_reads_them(tmp_path):
    """Field paths (`turns[]`) select text: a path that selects nothing, or does not parse, is an
    error; a valid one is not."""
    (tmp_path / "bench.jsonl").write_text('{"question_id": 1, "turns": ["a b c", "d e f"]}\n')
    (tmp_path / "train.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\nseed: 1\ntotal: 1\nsources:\n  - {name: a, kind: sft, path: train.jsonl, "
        "license: MIT, intent: math, difficulty: multi_step}\nholdouts:\n"
        "  - {name: mt, path: bench.jsonl, fields: ['turns[]', 'turn[]', 'turns[0']}\n"
        "slices:\n  - {intent: math, difficulty: multi_step, weight: 1}\n"
    )
    report = check_spec(spec)
    by_key = {p.key: p for p in report.errors}
    assert sorted(by_key) == ["holdouts[0].fields[1]", "holdouts[0].fields[2]"]
    assert by_key["holdouts[0].fields[1]"].hint == "turns[]"
    assert "not valid at character" in by_key["holdouts[0].fields[2]"].message
