"""Scan data files for PII (`mixgate scan-pii`): findings by file, row, field; no values."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.errors import ConfigError
from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows
from pipeline.records.canonical import Reject, apply_field_map, canonicalize
from pipeline.records.schemas import KINDS, iter_text_fields
from pipeline.stages.pii.scanner import PiiScanner

SCAN_KINDS = (*KINDS, "auto")


class FileFinding(NamedTuple):
    """One finding located in a data file (never the value)."""

    file: str
    row: int
    field: str
    entity_type: str
    start: int
    end: int
    score: float


@dataclass
class ScanReport:
    """What `scan_files` found: findings, rows scanned, rows not scanned (by reason)."""

    files: list[str]
    kind: str
    config_slug: str
    findings: list[FileFinding] = field(default_factory=list)
    rows_scanned: int = 0
    rows_skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        """Return counts only: rows scanned / skipped / with findings, findings per type."""
        return {
            "files": len(self.files),
            "rows_scanned": self.rows_scanned,
            "rows_skipped": dict(sorted(self.rows_skipped.items())),
            "rows_with_findings": len({(f.file, f.row) for f in self.findings}),
            "findings": len(self.findings),
            "by_entity_type": dict(sorted(Counter(f.entity_type for f in self.findings).items())),
        }

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (offsets and types only)."""
        return {
            "kind": self.kind,
            "config": self.config_slug,
            "files": self.files,
            "summary": self.summary(),
            "findings": [f._asdict() for f in self.findings],
        }


def iter_raw_fields(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(field, text)`` for every string inside a raw record, with JSON-path-like names.

    >>> list(iter_raw_fields({"a": "x", "h": [["q", "r"]], "n": 1}))
    [('a', 'x'), ('h[0][0]', 'q'), ('h[0][1]', 'r')]
    """
    if isinstance(value, str):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_raw_fields(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_raw_fields(item, f"{prefix}[{i}]")


def record_fields(record: Mapping[str, Any], kind: str) -> list[tuple[str, str]] | Reject:
    """Return the text fields of a raw record: every string (`auto`) or its canonical fields."""
    if kind == "auto":
        return list(iter_raw_fields(record))
    canonical = canonicalize(apply_field_map(record, {}, kind), kind=kind)
    if isinstance(canonical, Reject):
        return canonical
    return list(iter_text_fields(canonical._asdict()))


def scan_files(paths: Sequence[Path], *, scanner: PiiScanner, kind: str = "auto") -> ScanReport:
    """Scan every record of every file; raises `InputError` for an unreadable file.

    Parameters
    ----------
    paths
        Data files (.jsonl/.json/.csv/.parquet, optionally .gz).
    scanner
        The detector.
    kind
        ``auto`` scans every string of the raw record; a record kind scans the canonical fields
        (``messages[i].content``, ``chosen``, ``rejected``) after canonicalization with the
        default field aliases, and offsets refer to those canonical texts.
    """
    if kind not in SCAN_KINDS:
        msg = f"`kind` must be one of {', '.join(SCAN_KINDS)}; got {kind!r}"
        raise ConfigError(msg)
    report = ScanReport(files=[str(p) for p in paths], kind=kind, config_slug=scanner.config.slug)
    for path in paths:
        located: list[tuple[int, str]] = []
        texts: list[str] = []
        for row, record in iter_rows(Path(path)):
            fields = record_fields(record, kind) if not isinstance(record, RowError) else record
            if isinstance(fields, RowError | Reject):
                report.rows_skipped[fields.reason] += 1
                continue
            report.rows_scanned += 1
            for name, text in fields:
                located.append((row, name))
                texts.append(text)
        for (row, name), found in zip(located, scanner.scan_texts(texts), strict=True):
            report.findings.extend(
                FileFinding(str(path), row, name, f.entity_type, f.start, f.end, f.score)
                for f in found
            )
    return report
