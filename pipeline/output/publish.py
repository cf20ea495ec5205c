"""Writing a version directory atomically, and verifying one against its manifest.

Layout of ``OUT/<name>/<version>/``: ``data/<config>/part-NNNNN.parquet`` (``sft``,
``preference``; `pipeline.output.splits`), ``ledger.parquet``,
``manifest.json`` and ``run.json``. Everything is written into a hidden temporary sibling and
renamed into place at the end, so a failed or killed build never leaves a ``<version>``
directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, InputError
from pipeline.faults import fault_point
from pipeline.io.files import file_sha256

ROWS_PER_PART = 100_000
ROW_GROUP_SIZE = 10_000
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_AUTO = re.compile(r"^v(\d{4,})$")


def next_version(mixture_dir: Path) -> str:
    """Return the next free ``vNNNN`` label under `mixture_dir`."""
    numbers = [
        int(m.group(1))
        for p in (mixture_dir.iterdir() if mixture_dir.is_dir() else [])
        if (m := _AUTO.match(p.name))
    ]
    return f"v{max(numbers, default=0) + 1:04d}"


def prepare_out(out_dir: Path, name: str) -> Path:
    """Create ``out_dir/name`` if needed and return it; a path that cannot be used is one line.

    >>> import tempfile
    >>> prepare_out(Path(tempfile.mkdtemp()), "demo").name
    'demo'
    """
    out_dir = Path(out_dir)
    mixture_dir = out_dir / name
    try:
        mixture_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        culprit = next(
            (p for p in (out_dir, mixture_dir) if p.exists() and not p.is_dir()), out_dir
        )
        msg = f"`--out`: {culprit} is a file, not a directory; choose another `--out`"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"`--out`: cannot create {mixture_dir}: {exc.strerror or type(exc).__name__}"
        raise ConfigError(msg) from None
    if not os.access(mixture_dir, os.W_OK | os.X_OK):
        msg = f"`--out`: {mixture_dir} is not writable; choose another `--out`"
        raise ConfigError(msg)
    return mixture_dir


def check_version_label(label: str) -> str:
    """Validate a `--version` label."""
    if not _VERSION.match(label):
        msg = f"`--version` must match {_VERSION.pattern} (letters, digits, . _ -); got {label!r}"
        raise ConfigError(msg)
    return label


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write `table` deterministically: zstd, fixed row groups, no timestamps."""
    pq.write_table(
        table,
        path,
        compression="zstd",
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=True,
        write_statistics=True,
        store_schema=True,
    )


def write_data_parts(table: pa.Table, data_dir: Path) -> list[tuple[Path, int]]:
    """Split `table` into ``part-NNNNN.parquet`` files of `ROWS_PER_PART` rows (at least one);
    return each part with its row count."""
    data_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, start in enumerate(range(0, max(table.num_rows, 1), ROWS_PER_PART)):
        path = data_dir / f"part-{index:05d}.parquet"
        chunk = table.slice(start, ROWS_PER_PART)
        write_parquet(chunk, path)
        parts.append((path, chunk.num_rows))
    return parts


def file_entry(path: Path, root: Path, rows: int | None) -> dict[str, Any]:
    """Return a manifest entry for an output file."""
    return {"path": path.relative_to(root).as_posix(), "sha256": file_sha256(path), "rows": rows}


@contextlib.contextmanager
def staging_dir(mixture_dir: Path, version: str) -> Iterator[Path]:
    """Yield a temporary sibling of ``mixture_dir/version``; remove it unless it was published."""
    final = mixture_dir / version
    if final.exists():
        msg = f"version directory already exists: {final} (choose another `--version`)"
        raise ConfigError(msg)
    mixture_dir.mkdir(parents=True, exist_ok=True)
    tmp = mixture_dir / f".tmp-{version}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, final: Path) -> Path:
    """Atomically move the staged directory into place (the caller holds the mixture's lock)."""
    if final.exists():
        msg = f"version directory already exists: {final}"
        raise ConfigError(msg)
    fault_point("rename")
    os.rename(tmp, final)
    return final


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Load ``manifest.json`` from a version directory."""
    path = Path(version_dir) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"not a mixgate version directory (no manifest.json): {version_dir}"
        raise InputError(msg) from None
    except (OSError, ValueError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise InputError(msg) from None


def verify_version(version_dir: Path) -> list[str]:
    """Re-hash every output file against the manifest; return the files that differ (in order).

    The manifest's own hash is checked against ``run.json``'s ``manifest_sha256``.
    """
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    bad = []
    for entry in manifest.get("outputs", []):
        path = version_dir / entry["path"]
        if not path.is_file() or file_sha256(path) != entry["sha256"]:
            bad.append(entry["path"])
    listed = {e["path"] for e in manifest.get("outputs", [])}
    for path in sorted(p for p in (version_dir / "data").rglob("*") if p.is_file()):
        rel = path.relative_to(version_dir).as_posix()
        if rel not in listed:
            bad.append(rel)
    run = version_dir / "run.json"
    if run.is_file():
        recorded = json.loads(run.read_text()).get("manifest_sha256")
        actual = hashlib.sha256((version_dir / "manifest.json").read_bytes()).hexdigest()
        if recorded and recorded != actual:
            bad.append("manifest.json")
    return bad
