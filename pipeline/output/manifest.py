"""The manifest: everything needed to explain and regenerate a version, and nothing that varies.

No wall-clock time, host name or absolute path goes in here (those go to ``run.json``). JSON is
written with sorted keys, two-space indent and a trailing newline, so equal content is equal bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

import pipeline
from pipeline.errors import IntegrityError

MANIFEST_FORMAT = "mixgate.manifest/v1"
_PACKAGES = (
    "mixgate",
    "polars",
    "pyarrow",
    "numpy",
    "xxhash",
    "datasketch",
    "presidio-analyzer",
    "presidio-anonymizer",
    "spacy",
    "pydantic",
    "pyyaml",
    "prefect",
)


def dumps_canonical(payload: Any) -> str:
    """Serialize to deterministic JSON text (sorted keys, indent 2, trailing newline)."""
    return json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def package_versions() -> dict[str, str]:
    """Return the installed versions of the packages that shape the output."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not-installed"
    return out


def code_version() -> str:
    """Return a digest of the library's code and rule files: any change gives a new value."""
    root = Path(pipeline.__file__).parent
    digest = hashlib.sha256(pipeline.__version__.encode())
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{pipeline.__version__}+{digest.hexdigest()[:16]}"


def fingerprint(
    spec_sha256: str, inputs: list[dict[str, Any]], holdouts: list[dict[str, Any]]
) -> str:
    """Return the build fingerprint: a hash of the spec, every input's sha256 and the code version."""
    payload = {
        "spec": spec_sha256,
        "inputs": sorted((i["source"], i["path"], i["sha256"]) for i in inputs),
        "holdouts": sorted((h["holdout"], h["path"], h["sha256"]) for h in holdouts),
        "code": code_version(),
    }
    return hashlib.sha256(dumps_canonical(payload).encode()).hexdigest()


def slice_supply(frame: pl.DataFrame) -> dict[str, int]:
    """Return records per ``intent/difficulty`` slice (null labels shown as ``?``)."""
    if frame.height == 0:
        return {}
    grouped = frame.group_by("intent", "difficulty").len()
    return {
        f"{i or '?'}/{d or '?'}": n
        for i, d, n in sorted(grouped.iter_rows(), key=lambda r: (r[0] or "", r[1] or ""))
    }


def count_records(
    read: dict[str, int],
    ledger: pl.DataFrame,
    pool_by_source: dict[str, int],
    *,
    stages: Sequence[str],
    counted: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Per-stage counts per source (in, out, dropped by reason) and the reconciliation.

    Every record read must be in the pool or the ledger; a source that does not reconcile is a
    bug, raised as `IntegrityError` rather than written into a manifest. `counted` is each
    source's record count by an independent count of its files (`pipeline.io.counting.count_rows`);
    a file whose count differs from what was read has a ``row_count_mismatch`` file issue.
    """
    sources = list(read)
    record_rows = ledger.filter(pl.col("row").is_not_null())
    ledger_by_source = dict(record_rows.group_by("source").len().iter_rows())
    per_stage: dict[str, Any] = {}
    remaining = dict(read)
    for stage in stages:
        rows = record_rows.filter(pl.col("stage") == stage)
        per_source = {}
        for source in sources:
            dropped = rows.filter(pl.col("source") == source)
            reasons = dict(sorted(dropped.group_by("reason").len().iter_rows()))
            n = dropped.height
            per_source[source] = {
                "in": remaining[source],
                "out": remaining[source] - n,
                "dropped": n,
                "dropped_by_reason": reasons,
            }
            remaining[source] -= n
        per_stage[stage] = per_source
    reconciled = {}
    for source in sources:
        kept = pool_by_source.get(source, 0)
        dropped = ledger_by_source.get(source, 0)
        ok = read[source] == kept + dropped and remaining[source] == kept
        reconciled[source] = {"read": read[source], "pool": kept, "ledger": dropped, "ok": ok}
        if counted is not None:
            reconciled[source]["counted"] = counted.get(source, 0)
        if not ok:
            msg = f"internal error: records of source `{source}` do not reconcile: {reconciled[source]}"
            raise IntegrityError(msg)
    file_issues = (
        ledger.filter(pl.col("row").is_null()).select("source", "file", "reason").rows(named=True)
    )
    return {"stages": per_stage, "reconciliation": reconciled, "file_issues": file_issues}


def shift_table(supply: dict[str, dict[str, int]], *, stages: Sequence[str]) -> dict[str, Any]:
    """Return slice supply after each stage as ordered stages plus one row per slice."""
    stages = [s for s in stages if s in supply]
    slices = sorted({name for counts in supply.values() for name in counts})
    rows = [{"slice": name, **{st: supply[st].get(name, 0) for st in stages}} for name in slices]
    return {"stages": stages, "rows": rows}


def frame_counts(frame: pl.DataFrame) -> dict[str, Any]:
    """Counts the manifest needs from a pool or a mixture: records per source, PII redactions
    (records and spans) and tagged refusals."""
    spans = frame.get_column("pii_redactions") if "pii_redactions" in frame.columns else None
    refusals = frame.get_column("quality_refusal") if "quality_refusal" in frame.columns else None
    by_source = frame.group_by("source").len().iter_rows() if frame.height else []
    return {
        "by_source": {str(source): n for source, n in by_source},
        "redacted_records": int((spans > 0).sum()) if spans is not None else 0,
        "redacted_spans": int(spans.sum()) if spans is not None else 0,
        "refusals": int(refusals.sum()) if refusals is not None else 0,
    }


def tag_counts(pool: dict[str, Any], mixture: dict[str, Any]) -> dict[str, Any]:
    """The manifest's PII-redaction and refusal counts, in the pool and in the mixture."""
    return {
        "pii_redactions": {
            "pool_records": pool["redacted_records"],
            "pool_spans": pool["redacted_spans"],
            "mixture_records": mixture["redacted_records"],
            "mixture_spans": mixture["redacted_spans"],
        },
        "quality_refusals": {"pool": pool["refusals"], "mixture": mixture["refusals"]},
    }
