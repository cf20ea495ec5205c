r"""Audit raw data files against evaluation holdouts (the engine of `mixgate audit`).

Data side: every string anywhere in a record is a field, named by its path
(``instruction``, ``messages[2].content``, ``instances[0].input``); each is matched separately.
The record id reported is the xxh3-128 hex of the record's compact, key-sorted JSON.

Holdout side: an item's text is the string leaves of the selected fields, in record key order
(lists in order, nested objects recursively), joined with ``"\n"``. With no field named, all
of the record's string leaves are used (identifiers and labels included, which lowers
containment: name the eval's prompt field, e.g. ``instruction``, ``turns``, ``question``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from pipeline.stages.decontam.match import (
    DecontamConfig,
    HoldoutIndex,
    HoldoutItem,
    find_contamination,
    load_holdout_index,
)
from pipeline.errors import ConfigError, InputError
from pipeline.io import RowError, file_sha256, iter_rows

KINDS = ("auto", "sft", "preference", "synthetic")


def iter_string_leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(path, text)`` for every string inside `value` (dict keys in order, lists in order).

    >>> list(iter_string_leaves({"a": "x", "b": [{"c": "y"}, 3]}))
    [('a', 'x'), ('b[0].c', 'y')]
    """
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from iter_string_leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from iter_string_leaves(child, f"{path}[{i}]")


def holdout_name(path: Path) -> str:
    """Return a holdout's display name: parent folder and file name without extensions."""
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def holdout_text(record: dict[str, Any], fields: Sequence[str] | None) -> str:
    """Return the joined text of a holdout record's selected fields (all fields if None)."""
    chosen = record if not fields else {k: v for k, v in record.items() if k in fields}
    return "\n".join(text for _, text in iter_string_leaves(chosen) if text.strip())


def read_holdout_items(paths: Sequence[Path], *, fields: Sequence[str] | None) -> list[HoldoutItem]:
    """Read every holdout file into items; unreadable rows are skipped.

    Raises `ConfigError` when `fields` are named but a file has none of them.
    """
    items: list[HoldoutItem] = []
    for path in paths:
        found = 0
        for row, record in iter_rows(path):
            if isinstance(record, RowError):
                continue
            text = holdout_text(record, fields)
            if text:
                found += 1
                items.append(HoldoutItem(holdout_name(path), str(path), row, text))
        if fields and not found:
            msg = (
                f"no record of holdout `{path}` has any of the fields {list(fields)} "
                "given by `--holdout-field`"
            )
            raise ConfigError(msg)
    return items


def raw_record_id(record: dict[str, Any]) -> str:
    """Return the xxh3-128 hex of a raw record's compact, key-sorted JSON."""
    payload = json.dumps(
        record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
    )
    return xxhash.xxh3_128_hexdigest(payload.encode("utf-8"))


@dataclass(frozen=True)
class AuditReport:
    """Findings (one dict per field x holdout item match) and a per-holdout summary."""

    findings: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def contaminated(self) -> bool:
        """Whether anything was found."""
        return bool(self.findings)


def audit_files(
    data_paths: Sequence[Path],
    holdout_paths: Sequence[Path],
    *,
    config: DecontamConfig,
    holdout_fields: Sequence[str] | None = None,
    kind: str = "auto",
    cache_dir: Path | None = None,
) -> AuditReport:
    """Match every string field of every data record against the holdout items.

    Parameters
    ----------
    data_paths, holdout_paths
        Files readable by `pipeline.io.iter_rows`.
    config
        Containment threshold and shingling.
    holdout_fields
        Holdout fields whose text forms an item (None: all string fields).
    kind
        ``auto`` or a record kind; all kinds currently inspect every string field (raw records).
    cache_dir
        Where the holdout index is cached (keyed by the holdout files' sha256s), or None.
    """
    if kind not in KINDS:
        msg = f"`kind` must be one of {KINDS}; got {kind!r}"
        raise ConfigError(msg)
    for path in [*data_paths, *holdout_paths]:
        if not Path(path).is_file():
            msg = f"input file `{path}` does not exist or is not a file"
            raise InputError(msg)
    digests = [file_sha256(Path(p)) for p in holdout_paths]
    digests.append("fields=" + json.dumps(list(holdout_fields or [])))
    index = load_holdout_index(
        lambda: read_holdout_items([Path(p) for p in holdout_paths], fields=holdout_fields),
        digests=digests,
        config=config,
        cache_dir=cache_dir,
    )
    findings: list[dict[str, Any]] = []
    records = 0
    for path in data_paths:
        keys: list[tuple[int, str]] = []
        fields: list[tuple[int, str, str]] = []
        for row, record in iter_rows(Path(path)):
            if isinstance(record, RowError):
                continue
            keys.append((row, raw_record_id(record)))
            fields.extend((len(keys) - 1, name, text) for name, text in iter_string_leaves(record))
        records += len(keys)
        for f in find_contamination(fields, index=index, config=config):
            row, record_id = keys[f.record]
            findings.append(
                {
                    "data_file": str(path),
                    "data_row": row,
                    "record_id": record_id,
                    "field": f.field,
                    "holdout_file": f.holdout_file,
                    "holdout_row": f.holdout_row,
                    "score": round(f.score, 4),
                    "method": f.method,
                }
            )
    findings.sort(
        key=lambda f: (
            f["data_file"],
            f["data_row"],
            f["field"],
            f["holdout_file"],
            f["holdout_row"],
        )
    )
    return AuditReport(
        findings, summarize_findings(findings, index=index, records=records, config=config)
    )


def summarize_findings(
    findings: Sequence[dict[str, Any]], *, index: HoldoutIndex, records: int, config: DecontamConfig
) -> dict[str, Any]:
    """Return the per-holdout counts: items, items found, data records flagged, findings."""
    per: dict[str, dict[str, Any]] = {}
    for item in index.items:
        entry = per.setdefault(
            item.file,
            {
                "holdout": item.holdout,
                "items": 0,
                "items_found": set(),
                "records_flagged": set(),
                "findings": 0,
            },
        )
        entry["items"] += 1
    for f in findings:
        entry = per[f["holdout_file"]]
        entry["items_found"].add(f["holdout_row"])
        entry["records_flagged"].add((f["data_file"], f["data_row"]))
        entry["findings"] += 1
    holdouts = [
        {
            "holdout_file": file,
            "holdout": e["holdout"],
            "items": e["items"],
            "items_found": len(e["items_found"]),
            "records_flagged": len(e["records_flagged"]),
            "findings": e["findings"],
        }
        for file, e in per.items()
    ]
    return {
        "records_scanned": records,
        "threshold": config.threshold,
        "config": config.slug,
        "index_cached": index.loaded_from_cache,
        "holdouts": holdouts,
    }
