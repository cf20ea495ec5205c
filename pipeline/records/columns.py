"""A frame's conversation turns as flat columns, for per-row stages that read every turn.

Reading ``messages`` with ``to_list`` or ``iter_rows(named=True)`` builds one dict per turn and
per row; the flat role and content lists (through Arrow) hold the same values at a fraction of
the cost, and a row's turns are a slice of them (`MessageColumns.bounds`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class MessageColumns:
    """The turns of every row, flat: row ``i`` owns ``roles[a:b]`` and ``contents[a:b]`` for
    ``a, b = bounds[i], bounds[i + 1]``. A null or missing ``messages`` is no turn."""

    roles: list[str | None]
    contents: list[str]  # canonical turns always have text (ingest checks it)
    bounds: list[int]

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def spans(self) -> list[tuple[int, int]]:
        """Return each row's ``(start, end)`` in the flat columns."""
        return list(itertools.pairwise(self.bounds))


def message_columns(frame: pl.DataFrame) -> MessageColumns:
    """Return the turns of `frame` as flat columns.

    >>> frame = pl.DataFrame({"messages": [[{"role": "user", "content": "hi"}], []]})
    >>> message_columns(frame)
    MessageColumns(roles=['user'], contents=['hi'], bounds=[0, 1, 1])
    """
    if "messages" not in frame.columns:
        return MessageColumns([], [], [0] * (frame.height + 1))
    messages = frame.get_column("messages").to_arrow()
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks()
    lengths = pc.list_value_length(messages).fill_null(0)
    bounds = [0, *pc.cumulative_sum(lengths).to_pylist()] if len(lengths) else [0]
    flat = messages.flatten()
    return MessageColumns(flat.field("role").to_pylist(), flat.field("content").to_pylist(), bounds)


def optional_column(frame: pl.DataFrame, name: str) -> list:
    """Return column `name` as a list, or all None when the frame has no such column."""
    if name in frame.columns:
        return frame.get_column(name).to_list()
    return [None] * frame.height


def text_fields(frame: pl.DataFrame) -> list[tuple[int, str, str]]:
    """Return ``(row, field, text)`` for every text field, as `iter_text_fields` names them
    (``messages[i].content``, then ``chosen`` and ``rejected`` when not null), rows in order."""
    turns = message_columns(frame)
    chosen, rejected = optional_column(frame, "chosen"), optional_column(frame, "rejected")
    spans = turns.spans()
    longest = max((b - a for a, b in spans), default=0)
    names = [f"messages[{k}].content" for k in range(longest)]
    fields: list[tuple[int, str, str]] = []
    contents = turns.contents
    for i, (a, b) in enumerate(spans):
        fields.extend(zip([i] * (b - a), names, contents[a:b]))
        if chosen[i] is not None:
            fields.append((i, "chosen", chosen[i]))
        if rejected[i] is not None:
            fields.append((i, "rejected", rejected[i]))
    return fields
