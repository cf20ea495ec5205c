"""Input files by name: the format from the extension, globs, content hashes."""

from __future__ import annotations

import hashlib
from glob import glob
from pathlib import Path

from pipeline.errors import InputError

FORMATS = ("jsonl", "json", "csv", "parquet")


def detect_format(path: Path) -> tuple[str, bool]:
    """Return ``(format, gzipped)`` from the file name, or raise `InputError`.

    >>> detect_format(Path("a/b.jsonl.gz"))
    ('jsonl', True)
    """
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1].lstrip(".") if suffixes else ""
    if fmt not in FORMATS:
        msg = (
            f"cannot infer the format of `{path}`: extension must be one of "
            f"{', '.join('.' + f for f in FORMATS)} (optionally + .gz); got {''.join(path.suffixes)[:40]!r}"
        )
        raise InputError(msg)
    return fmt, gzipped


def resolve_paths(pattern: str, *, base_dir: Path) -> list[Path]:
    """Expand a file path or glob relative to `base_dir` into a sorted list of files."""
    full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
    if any(ch in pattern for ch in "*?["):
        matches = sorted(Path(p) for p in glob(full, recursive=True) if Path(p).is_file())
        if not matches:
            msg = f"no input file matches `{pattern}` (looked in {base_dir})"
            raise InputError(msg)
        return matches
    path = Path(full)
    if not path.is_file():
        msg = f"input file not found: {path}"
        raise InputError(msg)
    return [path]


def file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of the file's bytes, streaming."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        msg = f"cannot read input file {path}: {exc.strerror or exc}"
        raise InputError(msg) from exc
    return digest.hexdigest()
