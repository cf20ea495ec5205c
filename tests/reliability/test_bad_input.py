"""Acceptance 1 of issue 11: the bad-input matrix.

Every class of `tests.reliability.badinput` is planted among good records, all in one build.
The build must succeed; each bad record gets a ledger reason (each unusable file a whole-file
ledger row); no good record is in the ledger; and an independent oracle
(`tests.reliability.oracle`, readers written in the test) counts every input record and finds it
in the pool or the ledger.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.build.run import load, run_build
from tests.reliability.badinput import CLASSES, plant, source_entry
from tests.reliability.oracle import count_sources

# The matrix inflates a 1 GiB gzip bomb three times (twice by the build, once by the oracle) and
# writes a 50 MB line: ~45 s on a loaded 2-core box, so it runs in `make test`, not `test-fast`.
pytestmark = pytest.mark.slow


def _spec(root: Path, planted, **extra) -> Path:
    spec = {
        "name": "matrix",
        "seed": 5,
        "total": 20,
        "sources": [source_entry(p, root) for p in planted],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
        **extra,
    }
    path = root / "matrix.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    planted = plant(root / "in")
    result = run_build(load(_spec(root / "in", planted)), out_dir=root / "out", cache=None)
    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    return planted, result, ledger


@pytest.mark.slow
def test_the_matrix_has_at_least_twenty_classes():
    assert len(CLASSES) >= 20


@pytest.mark.parametrize("name", list(CLASSES))
def test_each_class_gets_its_reason_and_keeps_its_good_records(matrix, name):
    planted, _, ledger = matrix
    case = next(p for p in planted if p.name == name)
    rows = ledger.filter(pl.col("source") == name)
    record_rows = rows.filter(pl.col("row").is_not_null())
    reasons = set(record_rows.get_column("reason"))
    assert reasons <= case.reasons, f"{name}: unexpected reasons {reasons - case.reasons}"
    if case.reasons and name != "truncated_gzip":
        assert reasons, f"{name}: no ledger row for the planted records"
    issues = rows.filter(pl.col("row").is_null())
    if case.file_issue:
        assert case.file_issue in set(issues.get_column("reason")), f"{name}: {issues.rows()}"
    else:
        assert issues.height == 0, f"{name}: unexpected file issues {issues.rows()}"
    dropped = {(Path(f).name, r) for f, r in record_rows.select("file", "row").iter_rows()}
    for file_name, good in case.good_rows.items():
        lost = [r for r in good if (file_name, r) in dropped]
        assert not lost, f"{name}: good rows {lost} of {file_name} are in the ledger"


def test_independent_oracle_finds_every_record_in_the_pool_or_the_ledger(matrix):
    planted, result, ledger = matrix
    counts = count_sources({p.name: p.files for p in planted})
    reconciliation = result.manifest["counts"]["reconciliation"]
    for name, count in counts.items():
        entry = reconciliation[name]
        assert count.counted == entry["pool"] + entry["ledger"], (name, count, entry)
        issues = ledger.filter((pl.col("source") == name) & pl.col("row").is_null())
        issue_files = {Path(f).name for f in issues.get_column("file")}
        assert set(count.unreadable) <= issue_files, (name, count.unreadable, issue_files)


def test_manifest_lists_the_file_issues(matrix):
    planted, result, _ = matrix
    listed = {(i["source"], i["reason"]) for i in result.manifest["counts"]["file_issues"]}
    for case in planted:
        if case.file_issue:
            assert (case.name, case.file_issue) in listed
    json.dumps(result.manifest)  # the manifest stays plain JSON
