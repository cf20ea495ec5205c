"""Precision of the default PII screen on hand-labelled findings from six real datasets.

Labels: tests/data/pii_labels/real_text.jsonl (README there: what was scanned, how each finding
was judged). Every finding of the current screen must be labelled; precision per entity type is
computed from the labels; recall is pooled (the labelled true findings of any version).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows
from pipeline.stages.pii import PiiConfig, PiiScanner
from pipeline.tools.scan_pii import iter_raw_fields
from tests.conftest import ROOT, SHARED

LABELS = ROOT / "tests" / "data" / "pii_labels" / "real_text.jsonl"
# file under ../shared/datasets -> only these fields (None: every string field)
SOURCES: dict[str, frozenset[str] | None] = {
    "lima/lima.json.gz": None,
    "hh_rlhf/harmless-base_test.jsonl.gz": None,
    "codealpaca/code_alpaca_2k.json": None,
    "codealpaca/new_codealpaca.json.gz": None,
    "gsm8k/train.jsonl.gz": None,
    "self_instruct/seed_tasks.jsonl": None,
    "self_instruct/user_oriented_instructions.jsonl": None,
    "alpaca_eval/gpt4_model_outputs.json.gz": frozenset({"instruction"}),
}
PRECISION_TARGET = {"PHONE_NUMBER": 0.90}
DEFAULT_TARGET = 0.95

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/datasets"),
]


def _key(d: dict) -> tuple:
    return (d["file"], d["row"], d["field"], d["start"], d["end"], d["entity_type"])


def scan_sources(scanner: PiiScanner) -> list[tuple]:
    """Return the locator of every finding on the labelled sources (no values)."""
    found = []
    for file, fields in SOURCES.items():
        located, texts = [], []
        for row, record in iter_rows(Path(SHARED / file)):
            if isinstance(record, RowError):
                continue
            for name, text in iter_raw_fields(record):
                if fields is None or name in fields:
                    located.append((row, name))
                    texts.append(text)
        for (row, name), findings in zip(located, scanner.scan_texts(texts), strict=True):
            found.extend((file, row, name, f.start, f.end, f.entity_type) for f in findings)
    return found


@pytest.fixture(scope="module")
def labelled():
    labels = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        assert set(d) == {"file", "row", "field", "start", "end", "entity_type", "label", "reason"}
        assert d["reason"].strip(), d
        labels[_key(d)] = d["label"]
    with PiiScanner(PiiConfig(), workers=2) as scanner:
        found = scan_sources(scanner)
    return labels, found


def test_every_finding_of_the_default_screen_is_labelled(labelled):
    labels, found = labelled
    missing = [k for k in found if k not in labels]
    assert not missing, f"{len(missing)} unlabelled findings (label them), e.g. {missing[:5]}"


def test_precision_per_entity_type_meets_the_targets(labelled):
    labels, found = labelled
    tp, fp = Counter(), Counter()
    for key in found:
        (tp if labels.get(key) else fp)[key[5]] += 1
    assert tp["PHONE_NUMBER"] > 20 and tp["EMAIL_ADDRESS"] > 20  # the set is not trivial
    for entity in set(tp) | set(fp):
        precision = tp[entity] / (tp[entity] + fp[entity])
        target = PRECISION_TARGET.get(entity, DEFAULT_TARGET)
        assert precision >= target, (entity, tp[entity], fp[entity], round(precision, 3))


def test_pooled_recall_of_labelled_true_findings(labelled):
    labels, found = labelled
    found_set = set(found)
    true = Counter(k[5] for k, label in labels.items() if label)
    hit = Counter(k[5] for k, label in labels.items() if label and k in found_set)
    # Phone numbers written as bare digit runs without a context word are left out by design.
    assert hit["PHONE_NUMBER"] / true["PHONE_NUMBER"] >= 0.9, (hit, true)
    for entity in ("EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN"):
        assert hit[entity] == true[entity], (entity, hit[entity], true[entity])


def test_gsm8k_train_has_no_phone_numbers(labelled):
    _, found = labelled
    assert [k for k in found if k[0].startswith("gsm8k/") and k[5] == "PHONE_NUMBER"] == []
