"""Whole builds without Prefect: reproducibility, verify/rebuild, conservation, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.build.rebuild import rebuild_version
from pipeline.build.run import load, run_build
from pipeline.errors import InputChangedError, InputError, SpecError
from pipeline.output.publish import verify_version
from pipeline.output.splits import read_mixture
from tests.conftest import ROOT, SHARED

DEMO = ROOT / "mixtures" / "demo.yaml"


def _hashes(version_dir: Path) -> dict[str, str]:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    out = {e["path"]: e["sha256"] for e in manifest["outputs"]}
    out["manifest.json"] = (version_dir / "manifest.json").read_bytes()
    return out


def test_two_builds_into_different_dirs_are_byte_identical(demo_build, tmp_path):
    other = run_build(load(DEMO), out_dir=tmp_path)
    assert _hashes(demo_build.version_dir) == _hashes(other.version_dir)
    names = [
        p.relative_to(other.version_dir).as_posix()
        for p in (other.version_dir / "data").rglob("*.parquet")
    ]
    for name in ["ledger.parquet", "DATACARD.md", "README.md", "report.html", *names]:
        assert (demo_build.version_dir / name).read_bytes() == (
            other.version_dir / name
        ).read_bytes()


def test_run_json_is_the_only_file_with_wall_clock_and_host(demo_build):
    run = json.loads((demo_build.version_dir / "run.json").read_text())
    assert {"started_at", "host", "seconds"} <= set(run)
    manifest_text = (demo_build.version_dir / "manifest.json").read_text()
    assert run["host"] not in manifest_text
    assert run["started_at"][:10] not in manifest_text


def test_run_json_has_wall_and_cpu_seconds_of_every_per_file_stage(demo_build):
    run = json.loads((demo_build.version_dir / "run.json").read_text())
    stages = {"ingest", "license", "quality", "pii", "pool_prep"}
    assert set(run["stage_seconds"]) == set(run["stage_cpu_seconds"]) == stages
    assert all(v >= 0 for v in run["stage_cpu_seconds"].values())
    assert sum(run["stage_cpu_seconds"].values()) > 0


def test_verify_passes_then_fails_after_one_byte_changes(demo_build, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(demo_build.version_dir, copy)
    assert verify_version(copy) == []
    part = copy / "data" / "sft" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    assert verify_version(copy) == ["data/sft/part-00000.parquet"]


def test_rebuild_reproduces_every_sha256(demo_build, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    again = rebuild_version(demo_build.version_dir, out_dir=tmp_path)
    assert again.version_dir.name == demo_build.version_dir.name
    assert _hashes(again.version_dir) == _hashes(demo_build.version_dir)


def test_rebuild_refuses_a_changed_input(demo_build, tmp_path):
    spec_dir = tmp_path / "mixtures"
    shutil.copytree(ROOT / "mixtures", spec_dir)
    shutil.copytree(ROOT / "data_samples", tmp_path / "data_samples")
    with (tmp_path / "data_samples" / "pairs_extra.txt").open("w") as fh:
        fh.write("unrelated file, must not matter\n")
    target = tmp_path / "data_samples" / "preference_pairs.jsonl"
    target.write_bytes(target.read_bytes() + b'{"prompt": "new", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(InputChangedError, match="preference_pairs.jsonl"):
        rebuild_version(demo_build.version_dir, out_dir=tmp_path / "out", spec_dir=spec_dir)
    demo = tmp_path / "out" / "demo"
    assert not demo.exists() or not [p for p in demo.iterdir() if not p.name.startswith(".")]


def test_every_record_is_in_the_pool_or_the_ledger(demo_build):
    manifest = demo_build.manifest
    ledger = pl.read_parquet(demo_build.version_dir / "ledger.parquet")
    for source, rec in manifest["counts"]["reconciliation"].items():
        assert rec["ok"], source
        assert rec["read"] == rec["pool"] + rec["ledger"]
        assert (
            ledger.filter((pl.col("source") == source) & pl.col("row").is_not_null()).height
            == rec["ledger"]
        )
    read = sum(i["records"] for i in manifest["inputs"])
    pool = sum(r["pool"] for r in manifest["counts"]["reconciliation"].values())
    assert read == pool + ledger.filter(pl.col("row").is_not_null()).height
    # each (file, row) appears at most once across ledger rows
    keyed = ledger.filter(pl.col("row").is_not_null()).select("file", "row")
    assert keyed.n_unique() == keyed.height


def test_manifest_counts_agree_with_output_files(demo_build):
    manifest = demo_build.manifest
    rows = {e["path"]: e["rows"] for e in manifest["outputs"]}
    data = read_mixture(demo_build.version_dir)
    assert data.height == sum(v for k, v in rows.items() if k.startswith("data/"))
    assert data.height == manifest["slices"]["total"]["actual"]
    assert (
        pl.read_parquet(demo_build.version_dir / "ledger.parquet").height == rows["ledger.parquet"]
    )
    for s in manifest["slices"]["sampling"]:
        got = data.filter(
            (pl.col("intent") == s["intent"]) & (pl.col("difficulty") == s["difficulty"])
        ).height
        assert got == s["actual"]


def test_demo_ledger_shows_every_planted_problem(demo_build):
    ledger = pl.read_parquet(demo_build.version_dir / "ledger.parquet")
    reasons = set(ledger.get_column("reason").to_list())
    for reason in (
        "malformed_json",
        "wrong_type:response",
        "missing_field:prompt",
        "bad_encoding",
        "empty_text",
        "roles_not_alternating",
        "chosen_equals_rejected",
        "license_unknown",
        "exact_duplicate",
        "empty_file",
        "missing_field:model",
        "missing_field:rejected",
        "near_duplicate",
        "contaminated",
        "pii:CREDIT_CARD",
        "dup_line_frac",
    ):
        assert reason in reasons, reason
    decontam = ledger.filter(pl.col("stage") == "decontam")
    assert decontam.height == 5  # 4 embedded in longer SFT prompts, 1 verbatim synthetic prompt
    assert set(decontam.get_column("holdout").to_list()) == {"demo_eval"}
    assert decontam.get_column("holdout_row").null_count() == 0
    assert ledger.filter(pl.col("stage") == "near_dedup").height == 7
    assert demo_build.manifest["counts"]["pii_redactions"]["pool_records"] == 1
    dups = ledger.filter(pl.col("stage") == "exact_dedup")
    assert dups.get_column("dup_of").null_count() == 0


def _spec(tmp_path: Path, **overrides) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    for source in data["sources"]:
        source["path"] = str((ROOT / "mixtures" / source["path"]).resolve())
    for holdout in data.get("holdouts", []):
        holdout["path"] = str((ROOT / "mixtures" / holdout["path"]).resolve())
    data.update(overrides)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_records_go_to_ledger_and_the_build_succeeds(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        b'{"prompt": "ok", "response": "fine"}\n{oops\n{"prompt": 1, "response": "x"}\n'
        b'{"response": "no prompt"}\n{"prompt": "\xff", "response": "x"}\n'
    )
    spec = yaml.safe_load(_spec(tmp_path).read_text())
    spec["sources"].append(
        {
            "name": "bad",
            "kind": "sft",
            "path": str(bad),
            "license": "MIT",
            "intent": "conversation",
            "difficulty": "straightforward",
        }
    )
    path = tmp_path / "spec2.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_build(load(path), out_dir=tmp_path / "out")
    bad_counts = result.manifest["counts"]["stages"]["ingest"]["bad"]
    assert bad_counts["dropped_by_reason"] == {
        "bad_encoding": 1,
        "malformed_json": 1,
        "missing_field:prompt": 1,
        "wrong_type:prompt": 1,
    }


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda s: s["sources"][0].update(path="/nonexistent/file.jsonl"), InputError, "not found"),
        (lambda s: s.update(colour="blue"), SpecError, "`colour`: unknown key"),
        (lambda s: s["slices"][0].update(weight=0), SpecError, "`slices[0].weight`"),
        (lambda s: s["sources"][0].update(kind="tutorial"), SpecError, "`sources[0].kind`"),
    ],
)
def test_bad_spec_or_missing_file_fails_cleanly_without_a_version_dir(
    tmp_path, mutate, error, match
):
    spec = yaml.safe_load(_spec(tmp_path).read_text())
    mutate(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(error, match=match.replace("[", r"\[").replace("]", r"\]")):
        run_build(load(path), out_dir=tmp_path / "out")
    mixture = tmp_path / "out" / "demo"
    assert not mixture.exists() or [p for p in mixture.iterdir() if p.name != ".lock"] == []


def _real_spec(tmp_path: Path) -> Path:
    spec = {
        "name": "real",
        "seed": 3,
        "total": 300,
        "sources": [
            {
                "name": "lima",
                "kind": "sft",
                "path": str(SHARED / "lima" / "lima.json.gz"),
                "license": "CC-BY-NC-SA-4.0",
                "intent": "conversation",
                "difficulty": "straightforward",
            },
            {
                "name": "hh",
                "kind": "preference",
                "path": str(SHARED / "hh_rlhf" / "harmless-base_test.jsonl.gz"),
                "license": "MIT",
                "intent": "safety_sensitive",
                "difficulty": "adversarial",
            },
            {
                "name": "codealpaca",
                "kind": "synthetic",
                "path": str(SHARED / "codealpaca" / "code_alpaca_2k.json"),
                "generator": "text-davinci-003",
                "license": "CC-BY-NC-4.0",
                "intent": "coding",
                "difficulty": "straightforward",
            },
        ],
        "holdouts": [
            {
                "name": "gsm8k_test",
                "path": str(SHARED / "gsm8k" / "test.jsonl"),
                "fields": ["question"],
            }
        ],
        "license_policy": {"deny": ["*-NC-*"], "unknown": "deny"},
        "slices": [{"intent": "safety_sensitive", "difficulty": "adversarial", "weight": 1}],
        "sampling": {"shortfall": "error"},
    }
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_real_data_build_denies_non_commercial_sources(tmp_path):
    result = run_build(load(_real_spec(tmp_path)), out_dir=tmp_path / "out")
    ledger = pl.read_parquet(result.version_dir / "ledger.parquet")
    license_rows = ledger.filter(pl.col("stage") == "license")
    assert set(license_rows.get_column("source").unique()) == {"lima", "codealpaca"}
    assert license_rows.filter(pl.col("source") == "lima").height == 1029
    counts = result.manifest["counts"]["reconciliation"]
    assert counts["lima"]["pool"] == 0 and counts["codealpaca"]["pool"] == 0
    assert result.manifest["holdouts"][0]["records"] == 1319
    # HH-RLHF pairs that share only a first prompt stay distinct records
    hh_dups = ledger.filter((pl.col("source") == "hh") & (pl.col("stage") == "exact_dedup")).height
    assert counts["hh"]["pool"] > 2200 and hh_dups < 20


def test_manifest_has_slice_supply_after_every_stage(demo_build):
    shift = demo_build.manifest["slices"]["shift"]
    assert shift["stages"][:2] == ["ingest", "license"]
    assert {"exact_dedup", "near_dedup", "decontam"} <= set(shift["stages"])
    stages = demo_build.manifest["counts"]["stages"]
    for stage in shift["stages"]:
        after = sum(row[stage] for row in shift["rows"])
        assert after == sum(c["out"] for c in stages[stage].values()), stage
    # the unknown-license source's slice loses its 25 records at the license gate
    row = next(r for r in shift["rows"] if r["slice"] == "educational_explanation/straightforward")
    assert row["ingest"] - row["license"] == 25
    assert [r for r in shift["rows"] if r["decontam"] < r["near_dedup"]]  # decontam moved supply


def test_manifest_records_tagger_rule_sets(demo_build):
    rules = demo_build.manifest["rules"]
    assert rules["intent_tagger"] == "intent_rules_v1"
    assert rules["difficulty_tagger"] == "difficulty_rules_v1"
