"""Identical content in two sources keeps its identity: keeper named, license conflicts reported.

The same file, `new_codealpaca`, is declared CC-BY-NC-4.0 in one source and MIT in another.
"""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from pipeline.build.run import load, run_build
from pipeline.output.report import explain, summarize
from pipeline.stages.dedup.keeper import keeper_of
from tests.conftest import SHARED

pytestmark = pytest.mark.slow


def _spec(tmp_path, *, nc_priority: int):
    data = SHARED / "codealpaca" / "new_codealpaca.json.gz"
    fields = {"instruction": "prompt", "input": "input", "output": "response"}
    source = {
        "kind": "sft",
        "path": str(data),
        "fields": fields,
        "intent": "coding",
        "difficulty": "straightforward",
    }
    spec = {
        "name": "twins",
        "seed": 1,
        "total": 100,
        "sources": [
            {**source, "name": "nc_copy", "license": "CC-BY-NC-4.0", "priority": nc_priority},
            {**source, "name": "mit_copy", "license": "MIT"},
        ],
        "license_policy": {"allow": [], "deny": [], "unknown": "deny"},
        "slices": [{"intent": "coding", "difficulty": "straightforward", "weight": 1}],
    }
    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump(spec))
    return load(path)


@pytest.fixture(scope="module")
def default_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("twins")
    return run_build(_spec(tmp, nc_priority=0), out_dir=tmp / "out")


def _dedup_rows(result, source):
    import polars as pl

    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    return ledger.filter(
        pl.col("stage").is_in(["exact_dedup", "near_dedup"]) & (pl.col("source") == source)
    )


def test_every_dropped_copy_names_its_keeper_in_the_other_source(default_build):
    rows = _dedup_rows(default_build, "nc_copy")
    assert rows.height > 4000
    keepers = [keeper_of(d)["keeper"] for d in rows.get_column("detail")]
    assert {k["source"] for k in keepers} == {"mit_copy"}
    assert {k["license"] for k in keepers} == {"MIT"}
    assert all(
        isinstance(k["row"], int) and k["file"].endswith("new_codealpaca.json.gz") for k in keepers
    )
    first = rows.row(0, named=True)
    text = explain(default_build.version_dir, f"{first['file']}:{first['row']}")
    assert "kept copy: mit_copy" in text and "license MIT" in text


def test_license_conflicts_count_every_copy_that_survived_the_earlier_gates(default_build):
    manifest = json.loads((default_build.version_dir / "manifest.json").read_text())
    conflicts = manifest["license_conflicts"]
    dropped_nc = _dedup_rows(default_build, "nc_copy").height
    assert sum(c["records"] for c in conflicts if c["dropped_source"] == "nc_copy") == dropped_nc
    assert {
        (c["kept_license"], c["dropped_license"], c["kept_less_permissive"]) for c in conflicts
    } == {("MIT", "CC-BY-NC-4.0", False)}
    # every NC copy that reached exact dedup: 4,534 of the 4,535 read (one fails an earlier gate)
    assert dropped_nc == manifest["counts"]["stages"]["exact_dedup"]["nc_copy"]["in"] == 4534
    assert "warning:" not in summarize(manifest)


def test_priority_on_the_nc_source_keeps_it_and_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="pipeline.build.run"):
        result = run_build(_spec(tmp_path, nc_priority=10), out_dir=tmp_path / "out")
    manifest = json.loads((result.version_dir / "manifest.json").read_text())
    (conflict,) = [c for c in manifest["license_conflicts"] if c["dropped_source"] == "mit_copy"]
    assert conflict["kept_source"] == "nc_copy" and conflict["kept_less_permissive"] is True
    warnings = [r.getMessage() for r in caplog.records if "more permissive MIT" in r.getMessage()]
    assert warnings and "kept from `nc_copy` under CC-BY-NC-4.0" in warnings[0]
    assert "warning:" in summarize(manifest)
