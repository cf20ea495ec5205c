"""`mixgate check SPEC`: every spec mistake at once, in about a second, before any build starts.

`check_spec(path)` validates the spec's structure (every pydantic error, not the first), resolves
every source and holdout path, reads the first rows of each file (`pipeline.build.probe`) to confirm
that every mapped field exists, and estimates each slice's supply, before and after the
synthetic cap, from those rows. It returns a `CheckReport`; nothing is raised for a spec
problem. `build` runs the same check before Prefect starts.

Supply is estimated after ingest, tagging and the license policy, scaled from the rows read to
the file's size; quality, PII and dedup can only lower it. A slice is reported short with
`shortfall: error` when the estimate is below its quota: as an error when every row was read
(the figure is then an upper bound), as a warning when it was extrapolated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from pipeline.build.check_supply import estimate_supply
from pipeline.build.problems import (
    Problem,
    SpecDocument,
    did_you_mean,
    read_spec_file,
    sort_problems,
)
from pipeline.errors import MixgateError
from pipeline.spec import (
    EXTENSION_SECTIONS,
    HoldoutSpec,
    MixtureSpec,
    SliceSpec,
    SourceSpec,
)

EXTENSION_KEYS = EXTENSION_SECTIONS
_UNION_BRANCHES = {"str", "LabelSpec", "GeneratorSpec", "int", "float"}


@dataclass
class CheckReport:
    """What `check_spec` found: problems (errors and warnings) and the supply estimate."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    supply: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    emit: Callable[[list[Problem]], None] | None = field(default=None, repr=False)

    def add(self, problems: list[Problem]) -> None:
        """Record one phase's problems and pass them on to `emit`, sorted."""
        self.problems += problems
        if self.emit is not None and problems:
            self.emit(sort_problems(problems))

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop a build."""
        return [p for p in self.problems if p.severity == "error"]

    def lines(self) -> list[str]:
        """Every problem as one line, errors first, in file order."""
        return [p.line_text() for p in sort_problems(self.problems)]

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping (for ``mixgate check --json``)."""
        return {
            "spec": self.file,
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.problems) - len(self.errors),
            "problems": [p.as_json() for p in sort_problems(self.problems)],
            "sources": self.sources,
            "supply": self.supply,
        }


# --- structure ------------------------------------------------------------------------------


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """Return the pydantic model that holds the keys at `path` (list indexes skipped)."""
    model: type[BaseModel] | None = MixtureSpec
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = _first_model(info.annotation)
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    model = _model_at(path)
    if model is None:
        return []
    keys = [k for k in model.model_fields if k != "extensions"]
    return keys + list(EXTENSION_KEYS) if model is MixtureSpec else keys


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        p
        for p in loc
        if not (
            isinstance(p, str) and (p in _UNION_BRANCHES or p.startswith(("literal[", "function-")))
        )
    )


def _pydantic_problems(
    exc: ValidationError, doc: SpecDocument, prefix: tuple[Any, ...]
) -> list[Problem]:
    errors = exc.errors()
    locs = [_clean_loc(tuple(e["loc"])) for e in errors]
    out: dict[tuple[Any, ...], Problem] = {}
    for err, loc in zip(errors, locs, strict=True):
        deeper = any(other != loc and other[: len(loc)] == loc for other in locs)
        if deeper and err["type"] in ("string_type", "model_type", "dict_type"):
            continue  # the union branch that was not meant; the deeper error says more
        path = (*prefix, *loc)
        message = err["msg"].removeprefix("Value error, ")
        kwargs: dict[str, Any] = {}
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(path[:-1])
            message = f"unknown key; allowed: {', '.join(allowed)}"
            kwargs["hint"] = did_you_mean(path[-1], allowed)
            problem = doc.problem(path, message, at_key=True, **kwargs)
        else:
            if err["type"] != "missing":
                kwargs["value"] = err.get("input")
            if err["type"] == "literal_error":
                allowed = [
                    a.strip(" '")
                    for a in str(err.get("ctx", {}).get("expected", ""))
                    .replace(" or ", ",")
                    .split(",")
                ]
                kwargs["hint"] = did_you_mean(err.get("input"), [a for a in allowed if a])
            problem = doc.problem(path, message, **kwargs)
        out.setdefault(path, problem)
    return list(out.values())


def _validate(
    model: type[BaseModel],
    data: Any,
    doc: SpecDocument,
    prefix: tuple[Any, ...],
    problems: list[Problem],
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, doc, prefix))
        return None


def _lenient(model: type[BaseModel], item: Any, doc: SpecDocument, prefix: tuple[Any, ...]) -> Any:
    """Validate one list item on its own, ignoring its unknown keys (already reported), so a
    typo'd key does not hide the checks of the rest of the item."""
    quiet: list[Problem] = []
    found = _validate(model, item, doc, prefix, quiet)
    if found is None and isinstance(item, Mapping):
        known = set(model.model_fields)
        found = _validate(model, {k: v for k, v in item.items() if k in known}, doc, prefix, [])
    return found


def check_structure(doc: SpecDocument) -> tuple[list[Problem], dict[str, Any]]:
    """Validate the document; return its problems and the parts that are valid on their own.

    The parts are ``sources``/``holdouts``/``slices`` (lists of ``(index, model)``), the
    top-level scalars that validated, and the ``sampling``/``license_policy`` models, so the
    later checks can go on past a mistake elsewhere.
    """
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, Mapping):
        if data is not None or not doc.problems:
            problems.append(
                doc.problem((), f"a spec must be a mapping of keys; got {type(data).__name__}")
            )
        return problems, {}
    body = {k: v for k, v in data.items() if k not in EXTENSION_KEYS}
    spec = _validate(MixtureSpec, {**body, "extensions": {}}, doc, (), problems)
    parts: dict[str, Any] = {"spec": spec}
    for key, model in (("sources", SourceSpec), ("holdouts", HoldoutSpec), ("slices", SliceSpec)):
        raw = data.get(key)
        items: list[Any] = raw if isinstance(raw, list) else []
        parts[key] = [
            (i, m) for i, item in enumerate(items) if (m := _lenient(model, item, doc, (key, i)))
        ]
    for key in ("name", "seed", "total"):
        if spec is not None or not any(p.key == key for p in problems):
            parts[key] = data.get(key)
    from pipeline.spec import LicensePolicySpec, SamplingSpec

    parts["sampling"] = _lenient(SamplingSpec, data.get("sampling") or {}, doc, ("sampling",))
    parts["license_policy"] = _lenient(
        LicensePolicySpec, data.get("license_policy") or {}, doc, ("license_policy",)
    )
    return problems, parts


# --- stage sections ---------------------------------------------------------------------------


def check_sections(
    doc: SpecDocument, *, base_dir: Path, slices: list[tuple[int, SliceSpec]]
) -> tuple[list[Problem], Any]:
    """Validate the ``dedup``/``quality``/``tagging`` sections; return problems and the tagger."""
    from pipeline.sections import config_from_mapping
    from pipeline.stages.decontam.match import DecontamConfig
    from pipeline.stages.dedup.near import NearDedupConfig
    from pipeline.stages.quality import QualityConfig
    from pipeline.stages.tagging import build_tagger

    data = doc.data if isinstance(doc.data, Mapping) else {}
    problems: list[Problem] = []
    dedup = data.get("dedup") or {}
    from pipeline.io.limits import ReadLimits

    checks: list[tuple[str, Any, Any]] = [
        ("quality", QualityConfig, data.get("quality")),
        ("reading", ReadLimits, data.get("reading")),
    ]
    if isinstance(dedup, Mapping):
        for key in sorted(set(dedup) - {"near", "decontam"}):
            problems.append(
                doc.problem(
                    ("dedup", key),
                    "unknown key; allowed: decontam, near",
                    at_key=True,
                    hint=did_you_mean(key, ["near", "decontam"]),
                )
            )
        checks += [
            ("dedup.near", NearDedupConfig, dedup.get("near")),
            ("dedup.decontam", DecontamConfig, dedup.get("decontam")),
        ]
    else:
        problems.append(doc.problem(("dedup",), "must be a mapping", value=dedup))
    if data.get("pii") is not None:  # the PII engine's import costs seconds: only when asked
        from pipeline.stages.pii.config import PiiConfig

        checks.append(("pii", PiiConfig, data.get("pii")))
    for where, cls, section in checks:
        try:
            config_from_mapping(cls, section, where=where)
        except MixgateError as exc:
            problems.append(_section_problem(doc, where, str(exc)))
    tagger = None
    try:
        tagger = build_tagger(
            data.get("tagging"),
            base_dir=base_dir,
            extra_intents=[s.intent for _, s in slices],
            extra_difficulties=[s.difficulty for _, s in slices],
        )
    except MixgateError as exc:
        problems.append(_section_problem(doc, "tagging", str(exc)))
    return problems, tagger


def _section_problem(doc: SpecDocument, where: str, text: str) -> Problem:
    """Locate a stage-section error by the key path its message starts with."""
    path: tuple[Any, ...] = tuple(where.split("."))
    if text.startswith("`") and "`" in text[1:]:
        named = text[1 : text.index("`", 1)]
        full = named if named.startswith(where.split(".")[0]) else f"{where}.{named}"
        path = tuple(full.replace("]", "").replace("[", ".").split("."))
        path = tuple(int(p) if p.isdigit() else p for p in path)
        text = text[text.index("`", 1) + 1 :].lstrip(": ")
        text = text[0].lower() + text[1:] if text else text
    unknown = "unknown key" in text
    hint = None
    if unknown and "allowed: " in text:
        allowed = [a.strip(" `.") for a in text.split("allowed: ", 1)[1].split(",")]
        hint = did_you_mean(str(path[-1]), allowed)
    return doc.problem(path, text, at_key=unknown, hint=hint)


# --- entry point ----------------------------------------------------------------------------


def check_spec(path: Path, *, emit: Callable[[list[Problem]], None] | None = None) -> CheckReport:
    """Check a spec file and its inputs; every problem is in the report, none is raised.

    With `emit`, each phase's problems (sorted) are passed to it as soon as the phase ends:
    the YAML and structure problems come within the first half second, before any input file
    is opened.
    """
    report = CheckReport(Path(path).as_posix(), emit=emit)
    doc, _raw = read_spec_file(Path(path))
    report.file = doc.file
    if doc.data is None and doc.problems:
        report.add(doc.problems)
        return report
    problems, parts = check_structure(doc)
    report.add([*doc.problems, *problems])
    _check_inputs(report, doc, parts, base_dir=Path(path).parent)
    return report


def _license_policy(parts: dict[str, Any]) -> Any:
    from pipeline.stages.license import LicensePolicy

    lp = parts.get("license_policy")
    if lp is None:
        return None
    try:
        return LicensePolicy(allow=tuple(lp.allow), deny=tuple(lp.deny), unknown=lp.unknown)
    except MixgateError:
        return None


def _check_inputs(
    report: CheckReport, doc: SpecDocument, parts: dict[str, Any], *, base_dir: Path
) -> None:
    """Stage sections, sources and holdouts (one phase), then the supply estimate (another)."""
    from pipeline.build.check_inputs import probe_holdout, probe_source

    found, tagger = check_sections(doc, base_dir=base_dir, slices=parts.get("slices", []))
    policy = _license_policy(parts)
    taxonomy = tagger.taxonomy if tagger is not None else None
    probes, failed = [], []
    for index, source in parts.get("sources", []):
        probe, problems = probe_source(
            doc,
            index,
            source,
            base_dir=base_dir,
            taxonomy=taxonomy,
            tagger=tagger,
            policy=policy,
            fail_on_file_error=_on_file_error(doc) == "fail",
        )
        probes.append(probe)
        found += problems
        report.sources.append(probe.summary())
        if any(p.severity == "error" for p in problems):
            failed.append(source)
    for index, holdout in parts.get("holdouts", []):
        found += probe_holdout(doc, index, holdout, base_dir=base_dir)
    report.add(found)
    invalid = len(parts.get("sources", [])) < _count(doc.data, "sources")
    if tagger is not None and not invalid:
        report.supply, problems = estimate_supply(doc, parts, probes, failed=failed)
        report.add(problems)


def _on_file_error(doc: SpecDocument) -> Any:
    reading = doc.data.get("reading") if isinstance(doc.data, Mapping) else None
    return reading.get("on_file_error") if isinstance(reading, Mapping) else None


def _count(data: Any, key: str) -> int:
    value = data.get(key) if isinstance(data, Mapping) else None
    return len(value) if isinstance(value, list) else 0
