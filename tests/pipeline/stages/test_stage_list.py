"""The stage list is the one source of the build's sequence: the manifest and the docs follow it."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.build.run import load, run_build
from pipeline.stages import STAGES, gate_stages, ledger_order, stage, stage_table
from tests.conftest import ROOT

DOC = ROOT / "docs" / "architecture.md"
TABLE = re.compile(r"<!-- stage-table:start -->\n(.*?)\n<!-- stage-table:end -->", re.S)


def _doc_table() -> str:
    found = TABLE.search(DOC.read_text(encoding="utf-8"))
    assert found, "docs/architecture.md lost its stage-table markers"
    return found.group(1)


def test_docs_table_is_generated_from_the_list():
    assert _doc_table() == stage_table(), "regenerate with `python -m pipeline.stages`"


@pytest.mark.slow
def test_manifest_stage_order_docs_table_and_list_agree(tmp_path):
    result = run_build(load(ROOT / "mixtures" / "demo.yaml"), out_dir=tmp_path)
    manifest = json.loads((result.version_dir / "manifest.json").read_text(encoding="utf-8"))
    in_docs = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", _doc_table(), re.M)
    assert in_docs == [s.name for s in STAGES]
    assert manifest["slices"]["shift"]["stages"] == list(ledger_order())
    assert set(manifest["counts"]["stages"]) == set(ledger_order())
    assert list(ledger_order()) == [s for s in in_docs if stage(s).ledger]
    assert set(manifest["rules"]) == {k for s in STAGES for k in s.rules}


def test_rule_ids_come_from_the_stage_modules_and_are_versioned():
    ids = {k: v for s in STAGES for k, v in s.rule_ids().items() if v is not None}
    assert set(ids) == {"read", "schema", "pii", "exact_dedup", "near_dedup", "decontam", "sampler"}
    assert all(re.search(r"_v\d+$", v) for v in ids.values()), ids


def test_every_declared_function_exists_and_gate_stages_have_prefixes():
    for decl in STAGES:
        assert callable(decl.function_object()), decl.name
    assert [s.name for s in gate_stages("file")] == ["license", "quality", "pii"]
    assert [s.name for s in gate_stages("pool")] == ["exact_dedup", "near_dedup", "decontam"]
    prefixes = [s.prefix for s in STAGES if s.prefix]
    assert len(set(prefixes)) == len(prefixes)


def test_stage_names_are_compared_nowhere_outside_the_list():
    names = "|".join(s.name for s in STAGES if s.name not in ("tagging", "sample"))
    compared = re.compile(rf"""(==|!=|\bin\b|\[)\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    offenders = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        if path == ROOT / "pipeline" / "stages" / "__init__.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if compared.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_build_binds_a_function_to_every_declared_gate_stage():
    from pipeline.build.config import build_config

    loaded = load(ROOT / "mixtures" / "demo.yaml")
    config = build_config(loaded.spec, base_dir=loaded.base_dir)
    assert list(config.stages) == [s.name for s in (*gate_stages("file"), *gate_stages("pool"))]
