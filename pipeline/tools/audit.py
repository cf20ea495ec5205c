r"""Audit raw data files against evaluation holdouts (the engine of `mixgate audit`).

Data side: every string anywhere in a record is a field, named by its path
(``instruction``, ``messages[2].content``, ``instances[0].input``); each is matched separately.
The record id reported is the xxh3-128 hex of the record's compact, key-sorted JSON.

Holdout side: the prompt side of each record (`pipeline.stages.decontam.holdouts`): prompt
fields found by name unless ``holdout_fields`` names them (field paths such as ``turns[0]``,
``instances[].input``, ``messages[role=user]``); answers, ids and metadata are never used by
default. The summary lists, per holdout file, the fields used and the unreadable rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from pipeline.errors import ConfigError, InputError
from pipeline.io import RowError, file_sha256, iter_rows
from pipeline.stages.decontam.holdouts import HoldoutFile, holdout_name, read_holdout_file
from pipeline.stages.decontam.match import (
    DecontamConfig,
    HoldoutIndex,
    find_contamination,
    load_holdout_index,
)

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


def read_holdouts(paths: Sequence[Path], *, fields: Sequence[str] | None) -> list[HoldoutFile]:
    """Read every holdout file into prompt-side items (`read_holdout_file`), in order."""
    return [
        read_holdout_file(Path(p), holdout=holdout_name(Path(p)), label=str(p), fields=fields)
        for p in paths
    ]


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
        Shingling and the match rule.
    holdout_fields
        Holdout field paths whose text forms an item (None: the prompt fields, by name).
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
        lambda: read_holdouts([Path(p) for p in holdout_paths], fields=holdout_fields),
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
                    "holdout_turn": f.turn,
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
            -1 if f["holdout_turn"] is None else f["holdout_turn"],
        )
    )
    return AuditReport(
        findings, summarize_findings(findings, index=index, records=records, config=config)
    )


def summarize_findings(
    findings: Sequence[dict[str, Any]], *, index: HoldoutIndex, records: int, config: DecontamConfig
) -> dict[str, Any]:
    """Return per holdout file: fields used, items, unreadable rows, items found, records, findings."""
    per: dict[str, dict[str, Any]] = {
        f["file"]: {**f, "items_found": set(), "records_flagged": set(), "findings": 0}
        for f in index.files
    }
    for f in findings:
        entry = per[f["holdout_file"]]
        entry["items_found"].add((f["holdout_row"], f["holdout_turn"]))
        entry["records_flagged"].add((f["data_file"], f["data_row"]))
        entry["findings"] += 1
    holdouts = [
        {
            "holdout_file": file,
            "holdout": e["holdout"],
            "fields": e["fields"],
            "items": e["items"],
            "unreadable_rows": e["unreadable_rows"],
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
        "holdout_unreadable_rows": sum(h["unreadable_rows"] for h in holdouts),
        "holdouts": holdouts,
    }
