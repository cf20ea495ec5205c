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

import itertools
import json
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from pipeline.errors import ConfigError, InputError, InternalError
from pipeline.io.files import file_sha256
from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows
from pipeline.stages.decontam.holdouts import HoldoutFile, holdout_name, read_holdout_file
from pipeline.stages.decontam.match import (
    DecontamConfig,
    Finding,
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


_MIN_PARALLEL_CHARS = (
    4 << 20
)  # below this much field text, a second process costs more than it saves
_SHARED: tuple[Sequence[tuple[int, str, str]], HoldoutIndex, DecontamConfig] | None = None


def _match_range(bounds: tuple[int, int]) -> list[Finding]:
    """Match one slice of the fields a forked worker inherited in `_SHARED`."""
    if _SHARED is None:
        raise InternalError("audit worker started without the fields it shares with its parent")
    fields, index, config = _SHARED
    return find_contamination(fields[bounds[0] : bounds[1]], index=index, config=config)


def _split(fields: Sequence[tuple[int, str, str]], parts: int) -> list[tuple[int, int]]:
    """Return `parts` consecutive [lo, hi) ranges of fields with about equal text."""
    cumulative = np.cumsum([len(text) for _, _, text in fields])
    cuts = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, parts) / parts)
    bounds = [0, *(int(c) for c in cuts), len(fields)]
    return [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def match_fields(
    fields: Sequence[tuple[int, str, str]],
    *,
    index: HoldoutIndex,
    config: DecontamConfig,
    workers: int = 1,
    min_chars: int = _MIN_PARALLEL_CHARS,
) -> list[Finding]:
    """Return `find_contamination` of `fields`, shingled and matched in up to `workers` processes.

    Each field is matched on its own, so splitting the fields changes no finding and, as each
    part's findings come in field order, not their order either. The parent matches the last
    part itself while forked children (which inherit the fields and the index: nothing is
    pickled but the findings) match the others. Inputs under `min_chars` characters of text,
    and platforms without ``fork``, stay in one process.
    """
    global _SHARED
    parallel = (
        workers > 1
        and "fork" in multiprocessing.get_all_start_methods()
        and len(fields) >= workers
        and sum(len(text) for _, _, text in fields) >= min_chars
    )
    if not parallel:
        return find_contamination(fields, index=index, config=config)
    ranges = _split(fields, workers)
    _SHARED = (fields, index, config)
    try:
        # an executor, not a Pool: a child that dies (OOM kill) raises BrokenProcessPool here
        # instead of leaving the parent waiting forever
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(ranges) - 1, mp_context=context) as pool:
            pending = [pool.submit(_match_range, bounds) for bounds in ranges[:-1]]
            last = _match_range(ranges[-1])
            parts = [future.result() for future in pending]
    finally:
        _SHARED = None
    return [f for part in [*parts, last] for f in part]


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
    workers: int = 1,
) -> AuditReport:
    """Match every string field of every data record against the holdout items.

    Parameters
    ----------
    data_paths, holdout_paths
        Files readable by `pipeline.io.readers.iter_rows`.
    config
        Shingling and the match rule.
    holdout_fields
        Holdout field paths whose text forms an item (None: the prompt fields, by name).
    kind
        ``auto`` or a record kind; all kinds currently inspect every string field (raw records).
    cache_dir
        Where the holdout index is cached (keyed by the holdout files' sha256s), or None.
    workers
        Processes that shingle and match the fields (`match_fields`); findings are the same.
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
        file_findings, file_records = _audit_file(path, index=index, config=config, workers=workers)
        findings += file_findings
        records += file_records
    findings.sort(key=_finding_order)
    return AuditReport(
        findings, summarize_findings(findings, index=index, records=records, config=config)
    )


def _audit_file(
    path: Path, *, index: HoldoutIndex, config: DecontamConfig, workers: int
) -> tuple[list[dict[str, Any]], int]:
    """The findings of one data file, and its number of readable records."""
    findings: list[dict[str, Any]] = []
    rows: list[tuple[int, dict[str, Any]]] = []
    fields: list[tuple[int, str, str]] = []
    for row, record in iter_rows(Path(path)):
        if isinstance(record, RowError):
            continue
        rows.append((row, record))
        fields.extend((len(rows) - 1, name, text) for name, text in iter_string_leaves(record))
    ids: dict[int, str] = {}  # record ids are hashed only for the records with a finding
    for f in match_fields(fields, index=index, config=config, workers=workers):
        row, record = rows[f.record]
        if f.record not in ids:
            ids[f.record] = raw_record_id(record)
        findings.append(
            {
                "data_file": str(path),
                "data_row": row,
                "record_id": ids[f.record],
                "field": f.field,
                "holdout_file": f.holdout_file,
                "holdout_row": f.holdout_row,
                "holdout_turn": f.turn,
                "score": round(f.score, 4),
                "method": f.method,
            }
        )
    return findings, len(rows)


def _finding_order(f: dict[str, Any]) -> tuple[Any, ...]:
    """Findings sort by data file, row and field, then holdout file, row and turn."""
    return (
        f["data_file"],
        f["data_row"],
        f["field"],
        f["holdout_file"],
        f["holdout_row"],
        -1 if f["holdout_turn"] is None else f["holdout_turn"],
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
