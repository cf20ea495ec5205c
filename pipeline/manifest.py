"""The manifest: everything needed to explain and regenerate a version, and nothing that varies.

No wall-clock time, host name or absolute path goes in here (those go to ``run.json``). JSON is
written with sorted keys, two-space indent and a trailing newline, so equal content is equal bytes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

import pipeline

MANIFEST_FORMAT = "mixgate.manifest/v1"
_PACKAGES = (
    "mixgate", "polars", "pyarrow", "numpy", "xxhash", "datasketch", "presidio-analyzer",
    "presidio-anonymizer", "spacy", "pydantic", "pyyaml", "prefect",
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


def fingerprint(spec_sha256: str, inputs: list[dict[str, Any]], holdouts: list[dict[str, Any]]) -> str:
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
