"""A frame's texts as flat columns, in the order the gates read them, without per-row dicts.

`iter_record_texts` walks one record dict; `frame_texts` gives the same ``(field, role, text)``
for every record of a frame at once (messages from Arrow buffers, then ``chosen``, then
``rejected``), each with its row number, so a gate loops over plain lists.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc


class FrameTexts(NamedTuple):
    """Every text of a frame: row number, field name, role and text, four aligned lists.

    Messages come first (row by row, turn by turn), then ``chosen``, then ``rejected``: within
    a row, the order of `iter_record_texts`, so the first failing text of a row found walking
    these lists is the one a walk over the record finds.
    """

    rows: list[int]
    fields: list[str]
    roles: list[Any]
    texts: list[str]


def _message_columns(frame: pl.DataFrame) -> FrameTexts:
    """The messages' rows, ``messages[i].content`` names, roles and contents (null -> "")."""
    if "messages" not in frame.columns:
        return FrameTexts([], [], [], [])
    messages = frame["messages"].to_arrow()
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(messages), 0).to_numpy(zero_copy_only=False)
    flat = messages.flatten()  # values of the non-null lists, in row order
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = (np.arange(len(flat)) - starts).tolist()
    return FrameTexts(
        rows=np.repeat(np.arange(len(lengths)), lengths).tolist(),
        fields=[f"messages[{i}].content" for i in positions],
        roles=pc.struct_field(flat, "role").to_pylist(),
        texts=[text or "" for text in pc.struct_field(flat, "content").to_pylist()],
    )


def frame_texts(frame: pl.DataFrame) -> FrameTexts:
    """Every ``(row, field, role, text)`` of `frame`, as `iter_record_texts` gives per record."""
    rows, fields, roles, texts = _message_columns(frame)
    for name in ("chosen", "rejected"):
        if name in frame.columns:
            values = frame[name].to_list()
            present = [row for row, value in enumerate(values) if value is not None]
            rows += present
            fields += [name] * len(present)
            roles += ["assistant"] * len(present)
            texts += [values[row] for row in present]
    return FrameTexts(rows, fields, roles, texts)
