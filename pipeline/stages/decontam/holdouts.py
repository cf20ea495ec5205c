r"""Holdout files into items: the prompt side of each evaluation record, one reader for audit and build.

An evaluation record holds a prompt and things that are not the prompt (reference answers,
ids, categories, URLs). Only the prompt is what a model could have been trained on *as the
task*, so only the prompt forms items. Fields are picked by name, case-insensitively:

- ``turns`` (MT-Bench, Vicuna): every turn is its own item, with its turn index;
- ``messages`` / ``conversations``: every user turn is its own item;
- ``instruction``, plus ``input`` or ``instances[].input`` when present (Alpaca, self-instruct);
- else the first of ``question``, ``prompt``, ``problem``, ``query``, ``text``.

Answers, ids, labels, URLs and metadata are never used unless named. A file with none of these
fields is an error naming the fields it has (`ConfigError`, exit 2 in the CLI).

**Field paths** (``--holdout-field`` and the spec's ``holdouts[].fields``) select nested values:

- ``question`` a top-level key (case-insensitive);
- ``turns[0]`` one element of a list; ``turns[]`` every element, each its own item;
- ``instances[].input`` a key inside every element of a list;
- ``messages[role=user]`` the elements whose ``role`` is ``user``, each its own item.

A dict selected as a value contributes its ``content`` / ``value`` / ``text`` string. When
several paths are named, their texts are joined with ``"\n"`` into one item per record; when a
path iterates (``[]`` or ``[key=value]``), element ``k`` of every iterating path is joined with
the non-iterating paths' text into item ``k`` (its ``turn``); a record with a non-iterating
path and a single element gives one item without a turn (self-instruct's one instance).

>>> holdout_parts({"Question": "Who wrote it?", "Best Answer": "Me"}, default_paths(["Question", "Best Answer"]))
[(None, 'Who wrote it?')]
>>> holdout_parts({"turns": ["a b", "c d"]}, default_paths(["turns"]))
[(0, 'a b'), (1, 'c d')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.errors import ConfigError
from pipeline.io.limits import RowError
from pipeline.io.readers import iter_rows

#: Prompt-like field names, in the order they are preferred (lowercase).
SINGLE_PROMPT_FIELDS = ("question", "prompt", "problem", "query", "text")
_TURN_LISTS = {"turns": "turns[]", "messages": "messages[role=user]", "conversations": None}
_DICT_TEXT_KEYS = ("content", "value", "text")
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d*|[^\[\]=]+=[^\[\]]*)\]")
_DETECT_ROWS = 200  # records inspected to find a file's field names
_SHOWN_FIELDS = 12  # field names an error message lists


class HoldoutItem(NamedTuple):
    """One evaluation item: holdout name, file, 0-based row, its prompt text, and turn (or None)."""

    holdout: str
    file: str
    row: int
    text: str
    turn: int | None = None


class Step(NamedTuple):
    """One step of a field path: ``key`` (name), ``index`` (`position`), ``each`` or ``where`` (k, v)."""

    kind: str
    key: str = ""
    position: int = 0  # not `index`: a NamedTuple field must not hide tuple.index
    value: str = ""


@dataclass(frozen=True)
class FieldPath:
    """A parsed field path such as ``instances[].input``; `iterates` if it yields several items."""

    text: str
    steps: tuple[Step, ...]

    @property
    def iterates(self) -> bool:
        return any(s.kind in ("each", "where") for s in self.steps)


def parse_field_path(text: str) -> FieldPath:
    """Parse a field path; raise a one-line `ConfigError` naming the syntax on a bad one.

    >>> [s.kind for s in parse_field_path("messages[role=user]").steps]
    ['key', 'where']
    """
    steps: list[Step] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None or m.end() == pos or (m.group(1) is not None and pos and text[pos] != "."):
            msg = (
                f"field path `{text}` is not valid at character {pos + 1}; use `name`, "
                "`name[0]`, `name[]`, `name[].key` or `name[key=value]`"
            )
            raise ConfigError(msg)
        if m.group(1) is not None:
            steps.append(Step("key", key=m.group(1).strip()))
        elif m.group(2) == "":
            steps.append(Step("each"))
        elif m.group(2).isdigit():
            steps.append(Step("index", position=int(m.group(2))))
        else:
            key, _, value = m.group(2).partition("=")
            steps.append(Step("where", key=key.strip(), value=value.strip()))
        pos = m.end()
    if not steps or steps[0].kind != "key":
        msg = f"field path `{text}` must start with a field name, e.g. `turns[0]`"
        raise ConfigError(msg)
    return FieldPath(text, tuple(steps))


def _get_key(value: Mapping[str, Any], key: str) -> Any:
    """Return ``value[key]``, matching the key case-insensitively when there is no exact key."""
    if key in value:
        return value[key]
    folded = key.casefold()
    for k, v in value.items():
        if isinstance(k, str) and k.casefold() == folded:
            return v
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, Mapping):
        for key in _DICT_TEXT_KEYS:
            text = _get_key(value, key)
            if isinstance(text, str) and text.strip():
                return text
    if isinstance(value, list):
        texts = [t for t in (_as_text(v) for v in value) if t]
        return "\n".join(texts) or None
    return None


def select(record: Mapping[str, Any], path: FieldPath) -> list[tuple[int | None, str]]:
    """Return the ``(element index or None, text)`` values `path` selects in `record`."""
    current: list[tuple[int | None, Any]] = [(None, record)]
    for step in path.steps:
        nxt: list[tuple[int | None, Any]] = []
        for turn, value in current:
            if step.kind == "key" and isinstance(value, Mapping):
                child = _get_key(value, step.key)
                if child is not None:
                    nxt.append((turn, child))
            elif step.kind == "index" and isinstance(value, list) and step.position < len(value):
                nxt.append((turn, value[step.position]))
            elif step.kind in ("each", "where") and isinstance(value, list):
                nxt.extend(
                    (i, v)
                    for i, v in enumerate(value)
                    if step.kind == "each"
                    or (isinstance(v, Mapping) and str(_get_key(v, step.key)) == step.value)
                )
        current = nxt
    return [(turn, text) for turn, value in current if (text := _as_text(value))]


def holdout_parts(
    record: Mapping[str, Any], paths: Sequence[FieldPath]
) -> list[tuple[int | None, str]]:
    """Return the items of one record: ``(turn or None, text)``, turns in order."""
    fixed: list[str] = []
    per_turn: dict[int, list[str]] = {}
    for path in paths:
        for turn, text in select(record, path):
            if path.iterates and turn is not None:
                per_turn.setdefault(turn, []).append(text)
            else:
                fixed.append(text)
    if len(per_turn) == 1 and fixed:  # e.g. instruction + its one instance: one plain item
        return [(None, "\n".join([*fixed, *next(iter(per_turn.values()))]))]
    if per_turn:
        return [(t, "\n".join([*fixed, *per_turn[t]])) for t in sorted(per_turn)]
    return [(None, "\n".join(fixed))] if fixed else []


def default_paths(keys: Iterable[str]) -> tuple[FieldPath, ...]:
    """Return the prompt field paths for a record with these top-level keys (may be empty)."""
    by_fold = {k.casefold(): k for k in keys}
    for name, spec in _TURN_LISTS.items():
        if name in by_fold:
            key = by_fold[name]
            where = "[from=human]" if spec is None else spec[len(name) :]
            return (parse_field_path(f"{key}{where}"),)
    if "instruction" in by_fold:
        paths = [by_fold["instruction"]]
        if "input" in by_fold:
            paths.append(by_fold["input"])
        elif "instances" in by_fold:
            paths.append(f"{by_fold['instances']}[].input")
        return tuple(parse_field_path(p) for p in paths)
    for name in SINGLE_PROMPT_FIELDS:
        if name in by_fold:
            return (parse_field_path(by_fold[name]),)
    return ()


@dataclass(frozen=True)
class HoldoutFile:
    """What was read from one holdout file: its items, the fields used, unreadable rows."""

    holdout: str
    path: str
    fields: tuple[str, ...]
    items: tuple[HoldoutItem, ...]
    rows: int
    unreadable_rows: int
    unreadable_examples: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        """Return the file's entry for audit summaries and the manifest."""
        return {
            "holdout": self.holdout,
            "file": self.path,
            "fields": list(self.fields),
            "rows": self.rows,
            "items": len(self.items),
            "unreadable_rows": self.unreadable_rows,
        }


def _field_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(str(k) for k in record))
    return list(names)


def _no_field_error(path: Path, present: list[str], asked: Sequence[str] | None) -> ConfigError:
    shown = ", ".join(f"`{n}`" for n in present[:_SHOWN_FIELDS]) or "none"
    if len(present) > _SHOWN_FIELDS:
        shown += f" and {len(present) - _SHOWN_FIELDS} more"
    if asked:
        msg = (
            f"holdout `{path}`: no record has the field(s) {', '.join(f'`{a}`' for a in asked)}; "
            f"fields present: {shown}; pick the prompt field with `--holdout-field NAME` "
            "(spec: `holdouts[].fields`)"
        )
    else:
        msg = (
            f"holdout `{path}` has no prompt-like field ({', '.join(SINGLE_PROMPT_FIELDS)}, "
            f"instruction, turns, messages); fields present: {shown}; pick one with "
            "`--holdout-field NAME` (spec: `holdouts[].fields`)"
        )
    return ConfigError(msg)


def read_holdout_file(
    path: Path, *, holdout: str, label: str, fields: Sequence[str] | None = None
) -> HoldoutFile:
    """Read one holdout file into prompt-side items.

    Parameters
    ----------
    path
        A file readable by `pipeline.io.readers.iter_rows`.
    holdout, label
        The holdout's name and how the file is named in findings (relative path or as given).
    fields
        Field paths forming the items; None picks the prompt fields by name.

    Raises `ConfigError` when no record yields text from the chosen or detected fields.
    """
    records: list[tuple[int, Mapping[str, Any]]] = []
    unreadable: list[str] = []
    for row, record in iter_rows(path):
        if isinstance(record, RowError):
            unreadable.append(f"row {row}: {record.reason}")
        elif isinstance(record, Mapping):
            records.append((row, record))
        else:
            unreadable.append(f"row {row}: not an object")
    present = _field_names([r for _, r in records[:_DETECT_ROWS]])
    paths = tuple(parse_field_path(f) for f in fields) if fields else default_paths(present)
    items = tuple(
        HoldoutItem(holdout, label, row, text, turn)
        for row, record in records
        for turn, text in holdout_parts(record, paths)
    )
    if not items and (records or fields):
        raise _no_field_error(path, present, fields)
    return HoldoutFile(
        holdout=holdout,
        path=label,
        fields=tuple(p.text for p in paths),
        items=items,
        rows=len(records) + len(unreadable),
        unreadable_rows=len(unreadable),
        unreadable_examples=tuple(unreadable[:3]),
    )


def holdout_name(path: Path) -> str:
    """Return a holdout's display name for the audit: parent folder and file name stem."""
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def collect_items(files: Iterable[HoldoutFile]) -> list[HoldoutItem]:
    """Return the items of every file, in file order."""
    return [item for f in files for item in f.items]
