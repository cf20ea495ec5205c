"""Spec problems with a place: YAML line and column, key path, value, and a "did you mean".

`check` collects every problem of a spec in one pass instead of stopping at the first. Each
`Problem` renders as one line in the compiler convention editors understand::

    mixtures/gsm8k.yaml:12:15: error: `sources[0].fields.problem`: field not in the file; \
fields present: answer, question (got 'problem'); did you mean 'question'?

`read_spec_document` parses the YAML once with positions (`yaml.compose`), so any key path can
be turned back into ``line:column``. A YAML syntax error does not end the check: the offending
line is blanked and parsing is retried, so the other mistakes in the file are still reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.spec import MAX_YAML_NODES, expanded_nodes

Severity = Literal["error", "warning"]
KeyPath = tuple[str | int, ...]
_MAX_YAML_RECOVERIES = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) in a spec, with where it is and what to do."""

    key: str  # key path, e.g. ``sources[0].fields.problem``; "" for the file as a whole
    message: str
    file: str = ""
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    value: Any = None
    has_value: bool = False
    hint: str | None = None  # a close, valid name
    severity: Severity = "error"

    @property
    def where(self) -> str:
        """``file:line:column`` (as much of it as is known)."""
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def line_text(self) -> str:
        """Render the problem as one line."""
        text = f"{self.where}: {self.severity}: "
        text += f"`{self.key}`: {self.message}" if self.key else self.message
        if self.has_value:
            got = repr(self.value)
            text += f" (got {got[:77] + '...' if len(got) > 80 else got})"
        if self.hint is not None:
            text += f"; did you mean {self.hint!r}?"
        return text.replace("\n", " ")

    def as_json(self) -> dict[str, Any]:
        """Return the problem as a JSON-ready mapping (for ``--json``)."""
        return {
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "key": self.key,
            "message": self.message,
            "value": self.value if self.has_value else None,
            "hint": self.hint,
        }


def did_you_mean(value: Any, choices: Iterable[str]) -> str | None:
    """Return the closest of `choices` to `value`, when one is close enough to be a typo.

    >>> did_you_mean("questions", ["question", "answer"])
    'question'
    >>> did_you_mean("zzz", ["question", "answer"]) is None
    True
    """
    if not isinstance(value, str):
        return None
    options = [c for c in choices if c != value]
    lowered = {c.lower(): c for c in options}
    if value.lower() in lowered:
        return lowered[value.lower()]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.75)
    return close[0] if close else None


def format_key(path: Sequence[str | int]) -> str:
    """Render a key path the way the docs write it.

    >>> format_key(("sources", 0, "fields", "problem"))
    'sources[0].fields.problem'
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SpecDocument:
    """A spec file parsed with positions: the data, and where each key and value sits."""

    file: str
    data: Any = None
    keys: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)  # key token position
    values: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)  # value position
    problems: list[Problem] = field(default_factory=list)

    def problem(
        self, path: Sequence[str | int], message: str, *, at_key: bool = False, **kwargs: Any
    ) -> Problem:
        """Build a `Problem` at `path`, located at its value (or its key, with `at_key`)."""
        path = tuple(path)
        spot = None
        for candidate in (path[: len(path) - i] for i in range(len(path) + 1)):
            spot = (self.keys if at_key else self.values).get(candidate) or self.values.get(
                candidate
            )
            if spot:
                break
        line, column = spot or (None, None)
        if "value" in kwargs:
            kwargs["has_value"] = True
        return Problem(
            format_key(path), message, file=self.file, line=line, column=column, **kwargs
        )


def _index(node: yaml.Node, path: KeyPath, doc: SpecDocument) -> None:
    doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _index(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            doc.keys[(*path, i)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _index(item, (*path, i), doc)


def _syntax_problem(exc: yaml.MarkedYAMLError, file: str) -> tuple[Problem, int]:
    """Return the problem for a YAML error and the 0-based line to blank before retrying."""
    mark = exc.context_mark or exc.problem_mark  # where the broken construct starts
    blank = mark.line if mark else 0
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    what = " ".join(p for p in (exc.context, exc.problem) if p)
    if exc.context_mark is not None and exc.problem_mark is not None:
        at = exc.problem_mark
        what += f" at line {at.line + 1} column {at.column + 1}"
    problem = Problem("", f"not valid YAML: {what}", file=file, line=line, column=column)
    return problem, blank


def read_spec_document(raw: bytes, *, file: str) -> SpecDocument:
    """Parse spec bytes into a `SpecDocument`; syntax errors become problems, not exceptions.

    After a syntax error the line where the broken construct starts is blanked and the parse
    retried (up to a few times), so the keys around it can still be checked.

    >>> doc = read_spec_document(b"name: demo\\nseed: [1\\ntotal: 3\\n", file="x.yaml")
    >>> [p.line for p in doc.problems], doc.data
    ([3], {'name': 'demo', 'total': 3})
    """
    doc = SpecDocument(file)
    try:
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        doc.problems.append(
            Problem("", f"not UTF-8 text: {exc.reason} at byte {exc.start}", file=file)
        )
        return doc
    for _ in range(_MAX_YAML_RECOVERIES + 1):
        try:
            node = yaml.compose("\n".join(lines), Loader=yaml.SafeLoader)
            break
        except yaml.MarkedYAMLError as exc:
            problem, blank = _syntax_problem(exc, file)
            doc.problems.append(problem)
            if blank >= len(lines) or not lines[blank].strip():
                return doc
            lines[blank] = ""
        except yaml.YAMLError as exc:
            doc.problems.append(Problem("", f"not valid YAML: {exc}", file=file))
            return doc
    else:
        return doc
    if node is None:
        doc.data = None
        return doc
    if expanded_nodes(node, MAX_YAML_NODES) > MAX_YAML_NODES:  # before anything walks it
        message = f"YAML expands to more than {MAX_YAML_NODES} values (an alias bomb?)"
        doc.problems.append(Problem("", message, file=file))
        return doc
    _index(node, (), doc)
    doc.data = yaml.safe_load("\n".join(lines))
    return doc


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Errors first, then by position in the file, then by key."""
    return sorted(
        problems,
        key=lambda p: (p.severity != "error", p.line is None, p.line or 0, p.column or 0, p.key),
    )


def read_spec_file(path: Path) -> tuple[SpecDocument, bytes | None]:
    """Read `path` into a `SpecDocument` (a missing or unreadable file is its one problem)."""
    file = Path(path).as_posix()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        doc = SpecDocument(file)
        hint = did_you_mean(Path(path).name, _siblings(Path(path)))
        doc.problems.append(Problem("", "spec file not found", file=file, hint=hint))
        return doc, None
    except OSError as exc:
        doc = SpecDocument(file)
        doc.problems.append(Problem("", f"cannot read spec file: {exc.strerror or exc}", file=file))
        return doc, None
    return read_spec_document(raw, file=file), raw


def _siblings(path: Path) -> list[str]:
    try:
        return [p.name for p in path.parent.iterdir()]
    except OSError:
        return []
