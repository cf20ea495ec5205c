"""The input half of `check`: paths, mapped fields, labels and slice supply, from the first rows.

Every source and holdout path is resolved; every file's first rows are read
(`pipeline.build.probe.sample_file`). A mapped field, label field or holdout field that no sampled
row has is an error naming the source, the field and the fields present: a mapping that matches
nothing never falls back to guessing. Supply per slice is estimated from the rows that
canonicalize, after tagging and the license policy, scaled to each file's size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.build.probe import SAMPLE_ROWS, FileSample, sample_file
from pipeline.build.problems import Problem, SpecDocument, did_you_mean
from pipeline.errors import MixgateError
from pipeline.io.files import resolve_paths
from pipeline.records.canonical import Reject
from pipeline.records.schemas import RECORD_SCHEMA
from pipeline.spec import HoldoutSpec, LabelSpec, SourceSpec
from pipeline.stages.ingest import canonical_row
from pipeline.stages.license import LicensePolicy


@dataclass
class SourceProbe:
    """What the first rows of one source's files say."""

    name: str
    files: list[FileSample] = field(default_factory=list)
    valid: int = 0  # sampled rows that canonicalize
    counts: Counter[tuple[str, str, bool]] = field(
        default_factory=Counter
    )  # (intent, difficulty, synthetic) -> est. rows
    exact: bool = True

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary for the check report."""
        return {
            "source": self.name,
            "files": [f.path.as_posix() for f in self.files],
            "rows_read": sum(f.read for f in self.files),
            "rows_estimated": sum(f.estimated_rows for f in self.files),
            "exact": self.exact,
            "valid_in_sample": self.valid,
        }


def _resolve(
    doc: SpecDocument, key: tuple[Any, ...], pattern: str, base_dir: Path, problems: list[Problem]
) -> list[Path]:
    try:
        return resolve_paths(pattern, base_dir=base_dir)
    except MixgateError as exc:
        target = Path(pattern) if Path(pattern).is_absolute() else base_dir / pattern
        parent = target.parent
        hint = None
        if parent.is_dir():
            name = did_you_mean(target.name, [p.name for p in parent.iterdir()])
            hint = str(Path(pattern).parent / name) if name else None
        message = (
            "no file matches this glob" if any(c in pattern for c in "*?[") else "file not found"
        )
        if not parent.is_dir():
            message += f" (directory {parent} does not exist)"
        del exc
        problems.append(doc.problem(key, message, value=pattern, hint=hint))
        return []


def _samples(
    doc: SpecDocument,
    key: tuple[Any, ...],
    paths: list[Path],
    problems: list[Problem],
    *,
    fail: bool = False,
) -> list[FileSample]:
    """Sample each file. A file that cannot be read at all is what the build records as a file
    issue and goes past (a warning), unless ``reading.on_file_error: fail`` (an error)."""
    from pipeline.io.limits import FileReadError

    out = []
    for path in paths:
        try:
            out.append(sample_file(path, limit=SAMPLE_ROWS))
        except FileReadError as exc:
            what = (
                "the build stops here (`reading.on_file_error: fail`)"
                if fail
                else ("the build will record it as a file issue in the ledger and go on")
            )
            problems.append(
                doc.problem(
                    key,
                    f"cannot read {path.as_posix()}: {exc}; {what}",
                    severity="error" if fail else "warning",
                )
            )
        except MixgateError as exc:
            problems.append(doc.problem(key, f"cannot read {path.as_posix()}: {exc}"))
    return out


def _missing_field(
    doc: SpecDocument, key: tuple[Any, ...], name: str, present: list[str], what: str
) -> Problem:
    shown = ", ".join(present[:20]) + (" …" if len(present) > 20 else "")
    return doc.problem(
        key,
        f"{what} `{name}` is in none of the first rows read; fields present: {shown}",
        at_key=key[-1] == name,
        hint=did_you_mean(name, present),
    )


def _label_problems(
    doc: SpecDocument,
    index: int,
    source: SourceSpec,
    present: list[str],
    records: list[dict[str, Any]],
    taxonomy: Any,
) -> list[Problem]:
    problems = []
    for axis in ("intent", "difficulty"):
        spec = getattr(source, axis)
        allowed = (
            list(getattr(taxonomy, {"intent": "intents", "difficulty": "difficulties"}[axis]))
            if taxonomy is not None
            else None
        )
        key = ("sources", index, axis)
        if isinstance(spec, str) and allowed is not None and spec not in allowed:
            problems.append(
                doc.problem(
                    key,
                    f"unknown {axis}; allowed: {', '.join(allowed)}",
                    value=spec,
                    hint=did_you_mean(spec, allowed),
                )
            )
        if not isinstance(spec, LabelSpec):
            continue
        if records and spec.field not in present:
            problems.append(
                _missing_field(doc, (*key, "field"), spec.field, present, f"{axis} field")
            )
        for raw, label in (spec.map or {}).items():
            if allowed is not None and label not in allowed:
                problems.append(
                    doc.problem(
                        (*key, "map", raw),
                        f"maps to an unknown {axis}; allowed: {', '.join(allowed)}",
                        value=label,
                        hint=did_you_mean(label, allowed),
                    )
                )
        if spec.map is not None:
            seen = sorted(
                {v for r in records if isinstance(v := r.get(spec.field), str)} - set(spec.map)
            )
            if seen:
                problems.append(
                    doc.problem(
                        (*key, "map"),
                        f"values of `{spec.field}` in the file that the map does not map: {', '.join(map(repr, seen[:10]))}",
                    )
                )
    return problems


def probe_source(
    doc: SpecDocument,
    index: int,
    source: SourceSpec,
    *,
    base_dir: Path,
    taxonomy: Any,
    tagger: Any,
    policy: LicensePolicy | None,
    fail_on_file_error: bool = False,
) -> tuple[SourceProbe, list[Problem]]:
    """Check one source against its files' first rows and estimate its supply per slice."""
    problems: list[Problem] = []
    probe = SourceProbe(source.name)
    paths = _resolve(doc, ("sources", index, "path"), source.path, base_dir, problems)
    probe.files = _samples(
        doc, ("sources", index, "path"), paths, problems, fail=fail_on_file_error
    )
    probe.exact = all(f.exact for f in probe.files)
    records = [r for f in probe.files for r in f.records]
    present = list(dict.fromkeys(k for r in records for k in r))
    if records:
        problems += _field_problems(doc, index, source, present)
    problems += _label_problems(doc, index, source, present, records, taxonomy)
    if any(p.severity == "error" for p in problems):
        return probe, problems
    rows, rejects = _canonical_rows(probe.files, source)
    probe.valid = sum(len(r) for r in rows)
    read = sum(f.read for f in probe.files)
    if read and not probe.valid:
        top = ", ".join(f"{reason} ×{n}" for reason, n in rejects.most_common(3))
        problems.append(
            doc.problem(
                ("sources", index),
                f"none of the first {read} rows is a valid {source.kind} record ({top}); map the file's fields with `fields`",
            )
        )
        return probe, problems
    if policy is not None and (reason := policy.decide(source.license)) is not None:
        problems.append(
            doc.problem(
                ("sources", index, "license"),
                f"every record of this source is dropped by `license_policy` ({reason})",
                value=source.license,
                severity="warning",
            )
        )
        return probe, problems
    if tagger is not None:
        for sample, part in zip(probe.files, rows, strict=True):
            _count_slices(probe.counts, part, sample.scale, tagger)
    return probe, problems


def _field_problems(
    doc: SpecDocument, index: int, source: SourceSpec, present: list[str]
) -> list[Problem]:
    """A mapped field or the generator field that no sampled record has."""
    problems: list[Problem] = []
    for name in source.fields:
        if name not in present:
            problems.append(
                _missing_field(
                    doc, ("sources", index, "fields", name), name, present, "mapped field"
                )
            )
    generator = source.generator
    if generator is not None and not isinstance(generator, str) and generator.field not in present:
        problems.append(
            _missing_field(
                doc,
                ("sources", index, "generator", "field"),
                generator.field,
                present,
                "generator field",
            )
        )
    return problems


def _canonical_rows(
    files: list[FileSample], source: SourceSpec
) -> tuple[list[list[dict[str, Any]]], Counter]:
    rejects: Counter = Counter()
    out = []
    for sample in files:
        rows = []
        for raw in sample.records:
            try:
                row = canonical_row(raw, source=source, check=lambda value, *_: value)
            except MixgateError:
                row = Reject("unmapped_label")
            if isinstance(row, Reject):
                rejects[row.reason] += 1
            else:
                rows.append({**row, "provenance": None})
        out.append(rows)
    return out, rejects


def _count_slices(
    counts: Counter[tuple[str, str, bool]], rows: list[dict[str, Any]], scale: float, tagger: Any
) -> None:
    from pipeline.stages.tagging import tag_slices

    if not rows:
        return
    frame = tag_slices(pl.DataFrame(rows, schema=RECORD_SCHEMA), tagger=tagger)
    for intent, difficulty, kind in frame.select("intent", "difficulty", "kind").iter_rows():
        counts[(intent, difficulty, kind == "synthetic")] += scale  # type: ignore[assignment]


def probe_holdout(
    doc: SpecDocument, index: int, holdout: HoldoutSpec, *, base_dir: Path
) -> list[Problem]:
    """Check one holdout's paths, and that each of its `fields` (field paths, as the decontam
    reader reads them) selects text in the first rows; without `fields`, that the rows have a
    prompt-like field the reader would pick."""
    from pipeline.stages.decontam.holdouts import default_paths, parse_field_path, select

    problems: list[Problem] = []
    key = ("holdouts", index, "path")
    files = _samples(doc, key, _resolve(doc, key, holdout.path, base_dir, problems), problems)
    records = [r for f in files for r in f.records]
    present = list(dict.fromkeys(str(k) for r in records for k in r))
    for j, text in enumerate(holdout.fields or []):
        try:
            path = parse_field_path(text)
        except MixgateError as exc:
            problems.append(doc.problem(("holdouts", index, "fields", j), str(exc), value=text))
            continue
        if records and not any(select(r, path) for r in records):
            problem = _missing_field(
                doc, ("holdouts", index, "fields", j), text, present, "holdout field"
            )
            hint = did_you_mean(path.steps[0].key, present)
            problems.append(
                replace(problem, hint=text.replace(path.steps[0].key, hint, 1) if hint else None)
            )
    if records and not holdout.fields and not default_paths(present):
        problems.append(
            doc.problem(
                ("holdouts", index),
                (
                    "no prompt-like field (question, prompt, problem, query, text, instruction, turns, "
                    f"messages) in the first rows; fields present: {', '.join(present[:20])}; name it in `fields`"
                ),
            )
        )
    if files and not records:
        problems.append(
            doc.problem(
                key,
                "no readable record in the first rows: decontamination would check nothing",
                severity="warning",
            )
        )
    return problems
