"""Ingest and validate: every record of every file becomes a canonical record or a ledger row.

`ingest_file(path, *, source, base_dir, labels)` reads one file of one source and returns an
`IngestResult`: the canonical records (polars, `RECORD_SCHEMA`), the ledger rows
(``stage=ingest``) and an `InputFile` (relative path, sha256, record count). Row-level problems
never raise; an unusable file raises `InputError`, and an unmapped slice label raises
`ConfigError` naming the source and the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from pipeline.errors import ConfigError, InternalError, MixgateError
from pipeline.io.files import file_sha256
from pipeline.io.limits import DEFAULT_LIMITS, FileReadError, ReadLimits, RowError
from pipeline.io.readers import iter_rows
from pipeline.records.canonical import SCHEMA_RULE, Reject, apply_field_map, canonicalize
from pipeline.records.schemas import RECORD_SCHEMA, compute_record_id, empty_records, ledger_frame


class LabelSpec(Protocol):
    """A slice label read from a record field (`pipeline.spec.LabelSpec` is one)."""

    @property
    def field(self) -> str: ...

    @property
    def map(self) -> Mapping[str, str] | None: ...


class GeneratorSpec(Protocol):
    """The generator model read from a record field (`pipeline.spec.GeneratorSpec` is one)."""

    @property
    def field(self) -> str: ...


class SourceSpec(Protocol):
    """What ingest reads of a source. Stages never import the spec model: the build passes the
    spec's `pipeline.spec.SourceSpec`, which has these attributes."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def license(self) -> str: ...

    @property
    def fields(self) -> Mapping[str, str]: ...

    @property
    def generator(self) -> str | GeneratorSpec | None: ...

    @property
    def intent(self) -> str | LabelSpec | None: ...

    @property
    def difficulty(self) -> str | LabelSpec | None: ...


INGEST_STAGE = "ingest"
READ_RULE = "read_v2"


@dataclass(frozen=True)
class InputFile:
    """One input file as recorded in the manifest."""

    source: str
    path: str  # relative to the spec's directory, POSIX separators
    sha256: str
    records: int  # records read (rows yielded by the reader)
    counted: int | None = None  # records counted independently (`pipeline.io.counting.count_rows`)


@dataclass(frozen=True)
class IngestResult:
    """What one file contributed: canonical records, ledger rows and its manifest entry."""

    records: pl.DataFrame
    ledger: pl.DataFrame
    file: InputFile


LabelCheck = Callable[[str, str, str, str], str]
"""(value, axis, source, field) -> label; raises ConfigError for a value outside the taxonomy."""


def relative_path(path: Path, base_dir: Path) -> str:
    """Return `path` relative to `base_dir` in POSIX form, as written: lexically, never through
    resolved symlinks, so a spec's ``../data/x.jsonl`` is recorded as ``../data/x.jsonl`` even
    when ``data`` is a symlink, and the record stays valid when the data moves.

    >>> relative_path(Path("mixtures/../data/x.jsonl"), Path("mixtures"))
    '../data/x.jsonl'
    """
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base_dir))).as_posix()


def _label(
    spec: str | LabelSpec | None,
    raw: Mapping[str, Any],
    *,
    axis: str,
    source: str,
    check: LabelCheck,
) -> str | Reject | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        return check(spec, axis, source, axis)
    value = raw.get(spec.field)
    if value is None:
        return None  # the tagger fills it, and records that it did
    if not isinstance(value, str):
        return Reject(f"wrong_type:{spec.field}")
    if spec.map is not None:
        if value not in spec.map:
            allowed = ", ".join(sorted(spec.map))
            msg = (
                f"source `{source}`: {axis} field `{spec.field}` has value {value!r} that "
                f"`{axis}.map` does not map (mapped values: {allowed})"
            )
            raise ConfigError(msg)
        value = spec.map[value]
    return check(value, axis, source, spec.field)


def _generator(source: SourceSpec, raw: Mapping[str, Any]) -> str | Reject | None:
    if source.kind != "synthetic":
        return None
    if isinstance(source.generator, str):
        return source.generator
    name = source.generator.field  # type: ignore[union-attr]
    value = raw.get(name)
    if value is None:
        return Reject(f"missing_field:{name}")
    if not isinstance(value, str) or not value.strip():
        return Reject(f"wrong_type:{name}")
    return value


_CONTENT_COLUMNS = (
    "record_id",
    "messages",
    "chosen",
    "rejected",
    "intent",
    "difficulty",
    "generator",
)
Content = tuple[
    str, list[dict[str, str]], str | None, str | None, str | None, str | None, str | None
]
"""The per-record columns of a canonical record, in `_CONTENT_COLUMNS` order."""


def _content(raw: Mapping[str, Any], *, source: SourceSpec, check: LabelCheck) -> Content | Reject:
    """Return the per-record canonical fields of one raw record, or why it fails."""
    mapped = apply_field_map(raw, source.fields, source.kind)
    content = canonicalize(mapped, kind=source.kind)
    if isinstance(content, Reject):
        return content
    generator = _generator(source, mapped)
    if isinstance(generator, Reject):
        return generator
    intent = _label(source.intent, raw, axis="intent", source=source.name, check=check)
    if isinstance(intent, Reject):
        return intent
    difficulty = _label(source.difficulty, raw, axis="difficulty", source=source.name, check=check)
    if isinstance(difficulty, Reject):
        return difficulty
    messages, chosen, rejected = content
    record_id = compute_record_id(messages, chosen, rejected)
    return record_id, messages, chosen, rejected, intent, difficulty, generator


def canonical_row(
    raw: Mapping[str, Any], *, source: SourceSpec, check: LabelCheck
) -> dict[str, Any] | Reject:
    """Return the canonical fields of one raw record (no provenance), or why it fails."""
    fields = _content(raw, source=source, check=check)
    if isinstance(fields, Reject):
        return fields
    row = dict(zip(_CONTENT_COLUMNS, fields, strict=True))
    row.update(source=source.name, kind=source.kind, license=source.license)
    return {name: row[name] for name in RECORD_SCHEMA if name != "provenance"}


def file_issue(source: str, file: str, reason: str, **detail: Any) -> dict[str, Any]:
    """Return the ledger row of a whole-file problem (``row`` null, evidence in ``detail``)."""
    return {
        "source": source,
        "file": file,
        "row": None,
        "stage": INGEST_STAGE,
        "rule_id": READ_RULE,
        "reason": reason,
        "detail": json.dumps(detail, sort_keys=True) if detail else None,
    }


def _ingest_row(
    raw: dict[str, Any] | RowError, *, source: SourceSpec, check: LabelCheck
) -> tuple[Content | Reject, str]:
    """Canonicalize one read row; any failure of one record is a `Reject`, never an exception.

    Label errors (`ConfigError`) are about the spec, not the record: they still stop the build.
    """
    if isinstance(raw, RowError):
        return Reject(raw.reason), READ_RULE
    try:
        return _content(raw, source=source, check=check), SCHEMA_RULE
    except MixgateError:
        raise
    except Exception as exc:
        return Reject(f"record_error:{type(exc).__name__}"), SCHEMA_RULE


def _memo(check: LabelCheck) -> LabelCheck:
    """`check` remembered per file: a label check is a pure function of its arguments, and most
    sources give every record the same label (an error is raised again, never remembered)."""
    seen: dict[tuple[str, str, str, str], str] = {}

    def remembered(value: str, axis: str, source: str, field: str) -> str:
        key = (value, axis, source, field)
        label = seen.get(key)
        if label is None:
            label = seen[key] = check(value, axis, source, field)
        return label

    return remembered


def ingest_file(
    path: Path,
    *,
    source: SourceSpec,
    base_dir: Path,
    check: LabelCheck,
    sha256: str | None = None,
    rows: tuple[int, int | None] | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> IngestResult:
    """Read, canonicalize and validate the records of one file of `source`.

    With `rows` = ``(start, stop)``, only that row range is read (one shard of the file); the
    `empty_file` ledger row is then left to whoever sees the whole file. A file that cannot be
    read on (`FileReadError`) keeps the records read before the problem and gets a whole-file
    ledger row (a *file issue*, ``row`` null), unless ``limits.on_file_error == "fail"``.
    """
    rel = relative_path(path, base_dir)
    sha = sha256 or file_sha256(path)
    start, stop = rows or (0, None)
    kept = _RecordBatches(source, {"source": source.name, "file": rel, "file_sha256": sha})
    rejects: list[dict[str, Any]] = []
    count = 0
    check = _memo(check)
    try:
        for row, raw in iter_rows(path, start=start, stop=stop, limits=limits):
            count += 1
            result, rule = _ingest_row(raw, source=source, check=check)
            if isinstance(result, Reject):
                rejects.append(
                    {
                        "source": source.name,
                        "file": rel,
                        "row": row,
                        "stage": INGEST_STAGE,
                        "rule_id": rule,
                        "reason": result.reason,
                    }
                )
                continue
            kept.add(result, row)
    except FileReadError as exc:
        if limits.on_file_error == "fail":
            raise
        rejects.append(file_issue(source.name, rel, exc.reason))
    if count == 0 and rows is None and not any(r["row"] is None for r in rejects):
        rejects.append(file_issue(source.name, rel, "empty_file"))
    return IngestResult(
        kept.frame(), ledger_frame(rejects), InputFile(source.name, rel, sha, count)
    )


_BATCH_ROWS = 512


class _RecordBatches:
    """The kept records of one file, moved to Arrow every `_BATCH_ROWS` rows.

    Why batches, and small ones: a record's Python objects (a tuple, a list and dicts) are freed
    before the garbage collector promotes them to its oldest generation, whose growth triggers
    full collections that walk every object of the process (the imported libraries' too): with
    4,096-row batches, or one list per file, those took ~0.4 CPU-s per 100 k records more than
    with 512 (`gc.callbacks`, 100 k scale input). And a shard's records are not held twice.
    Why Arrow, column by column: a third of the CPU of `pl.DataFrame(list_of_dicts)` (no dict
    per record; source, kind, license and the provenance's file are constant columns).
    """

    def __init__(self, source: SourceSpec, provenance: dict[str, str]) -> None:
        self.source, self.provenance = source, provenance
        self.kept: list[Content] = []
        self.rows: list[int] = []
        self.batches: list[Any] = []

    def add(self, content: Content, row: int) -> None:
        self.kept.append(content)
        self.rows.append(row)
        if len(self.kept) >= _BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa  # here, not at the top: `mixgate check` starts faster

        n, text = len(self.kept), pa.large_string()
        content = dict(zip(_CONTENT_COLUMNS, zip(*self.kept, strict=True), strict=True))
        source = self.source
        constant = {"source": source.name, "kind": source.kind, "license": source.license}
        columns: dict[str, Any] = {}
        for name in RECORD_SCHEMA:
            if name == "messages":
                turn = pa.struct([("role", text), ("content", text)])
                columns[name] = pa.array(content[name], type=pa.large_list(turn))
            elif name == "provenance":
                fields = [pa.array([value] * n, type=text) for value in self.provenance.values()]
                fields.append(pa.array(self.rows, type=pa.int64()))
                names = [*self.provenance, "row"]
                columns[name] = pa.StructArray.from_arrays(fields, names=names)
            elif name in constant:
                columns[name] = pa.array([constant[name]] * n, type=text)
            else:
                columns[name] = pa.array(content[name], type=text)
        self.batches.append(pa.record_batch(columns))
        self.kept, self.rows = [], []

    def frame(self) -> pl.DataFrame:
        """All kept records as one frame of `RECORD_SCHEMA` (one chunk, as before batching)."""
        import pyarrow as pa

        if self.kept:
            self._flush()
        if not self.batches:
            return empty_records()
        frame = pl.from_arrow(pa.Table.from_batches(self.batches), rechunk=True)
        if not isinstance(frame, pl.DataFrame):  # a Table always converts to a frame
            msg = f"ingest: Arrow table converted to {type(frame).__name__}, not a DataFrame"
            raise InternalError(msg)
        return frame
