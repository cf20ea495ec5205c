"""Acceptance 5 of issue 11: planted PII never leaks, and no manifest field reverses a hash.

Records carrying an e-mail address, a phone number, a card number, an IBAN and an API key are
built by the real CLI (`mixgate build`, Prefect, a fresh ``$PREFECT_HOME``) twice: once
successfully, once failing inside the PII stage on those records (``MIXGATE_FAULT=raise:pii``
makes the stage raise an exception that quotes the record, as careless code would). Every
output file (Parquet decoded), the console, and everything under ``$PREFECT_HOME`` (Prefect's
SQLite database and WAL, logs, result storage) are searched for each value, also with its
separators stripped.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import xxhash
import yaml

from tests.conftest import ROOT

PHONE = "+1 415 555 2671"
PLANTED = {
    "email": "jane.roe@mailhost.dk",
    "phone": PHONE,
    "card": "4111 1111 1111 1111",
    "iban": "DE89 3704 0044 0532 0130 00",
    "api_key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
}
pytestmark = [pytest.mark.flow, pytest.mark.slow]


def _variants(value: str) -> set[str]:
    return {value, value.replace(" ", ""), value.replace(" ", "-")}


def _inputs(root: Path) -> Path:
    rows = [
        {
            "prompt": f"Please summarise note {i} about the garden shed.",
            "response": f"Note {i} says the shed needs paint before winter.",
        }
        for i in range(30)
    ]
    rows.append(
        {
            "prompt": f"Mail {PLANTED['email']} or call {PHONE} about card {PLANTED['card']}.",
            "response": f"Pay to IBAN {PLANTED['iban']} with key {PLANTED['api_key']}.",
        }
    )
    rows.append(
        {
            "prompt": f"My phone is {PHONE}, my key {PLANTED['api_key']}.",
            "response": "Thanks, noted without repeating it.",
        }
    )
    data = root / "notes.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "leaky",
        "seed": 1,
        "total": 10,
        "sources": [
            {
                "name": "notes",
                "kind": "sft",
                "path": str(data),
                "license": "MIT",
                "intent": "conversation",
                "difficulty": "straightforward",
            }
        ],
        "slices": [{"intent": "conversation", "difficulty": "straightforward", "weight": 1}],
        "sampling": {"shortfall": "allow_short"},
    }
    path = root / "leaky.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(
    spec: Path, out: Path, home: Path, fault: str | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MIXGATE_FAULT"}
    env["PREFECT_HOME"] = str(home)
    env["PREFECT_LOGGING_LEVEL"] = "INFO"
    if fault:
        env["MIXGATE_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "build", str(spec), "--out", str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _texts(root: Path) -> list[tuple[str, bytes]]:
    """Every file under `root` as bytes; Parquet files also as their decoded rows."""
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out.append((str(path), data))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            out.append((f"{path} (rows)", json.dumps(table.to_pylist(), default=str).encode()))
    return out


def _leaks(blobs: list[tuple[str, bytes]]) -> list[str]:
    found = []
    for name, data in blobs:
        for label, value in PLANTED.items():
            for variant in _variants(value):
                if variant.encode() in data or variant.encode("utf-16-le") in data:
                    found.append(f"{label} in {name}")
    return found


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    spec = _inputs(root)
    ok = _cli(spec, root / "out-ok", root / "home-ok")
    failed = _cli(spec, root / "out-fail", root / "home-fail", fault="raise:pii")
    return root, ok, failed


def test_a_successful_build_leaks_nothing(builds):
    root, ok, _ = builds
    assert ok.returncode == 0, ok.stderr[-3000:]
    blobs = _texts(root / "out-ok") + _texts(root / "home-ok")
    blobs += [("stdout", ok.stdout.encode()), ("stderr", ok.stderr.encode())]
    assert _leaks(blobs) == []


def test_a_build_failing_inside_a_stage_on_the_pii_record_leaks_nothing(builds):
    root, _, failed = builds
    assert failed.returncode == 3, failed.stderr[-3000:]
    assert "stage `pii` failed" in failed.stderr
    assert "Traceback" not in failed.stderr
    blobs = _texts(root / "home-fail") + [
        ("stdout", failed.stdout.encode()),
        ("stderr", failed.stderr.encode()),
    ]
    if (root / "out-fail").exists():
        blobs += _texts(root / "out-fail")
    assert _leaks(blobs) == []


def test_no_manifest_value_reverses_a_value_hash(builds):
    _, ok, _ = builds
    version = Path(ok.stdout.strip().splitlines()[-1])
    manifest = json.loads((version / "manifest.json").read_text())
    found_ints, found_strings = set(), set()

    def walk(value):
        if isinstance(value, bool):
            return
        if isinstance(value, int):
            found_ints.add(value)
        elif isinstance(value, str):
            found_strings.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(manifest)
    ledger = pq.read_table(version / "ledger.parquet").to_pylist()
    hashes = {
        f["value_hash"]
        for row in ledger
        if row["detail"] and "findings" in row["detail"]
        for f in json.loads(row["detail"])["findings"]
    }
    assert hashes, "the planted values were found and hashed"
    for phone in _variants(PHONE):
        tried = {xxhash.xxh3_64_hexdigest(phone.encode(), seed=s % 2**64) for s in found_ints}
        tried |= {
            hashlib.blake2b(phone.encode(), key=s.encode()[:64], digest_size=8).hexdigest()
            for s in found_strings
        }
        tried |= {
            xxhash.xxh3_64_hexdigest(phone.encode()),
            hashlib.sha256(phone.encode()).hexdigest()[:16],
        }
        assert not tried & hashes
