"""A frame's texts as flat columns, in the order the gates read them, without per-row dicts.

`iter_record_texts` walks one record dict; `frame_texts` gives the same ``(field, role, text)``
for every record of a frame at once (the turns from `message_columns`, then ``chosen``, then
``rejected``), each with its row number, so a gate loops over plain lists.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import polars as pl

from pipeline.records.columns import message_columns


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
    """The turns' rows, ``messages[i].content`` names, roles and contents (null -> "")."""
    turns = message_columns(frame)
    bounds = np.asarray(turns.bounds, dtype=np.int64)
    lengths = bounds[1:] - bounds[:-1]
    starts = np.repeat(bounds[:-1], lengths)
    positions = (np.arange(len(turns.contents)) - starts).tolist()
    names = [f"messages[{i}].content" for i in range(int(lengths.max(initial=0)))]
    return FrameTexts(
        rows=np.repeat(np.arange(len(lengths)), lengths).tolist(),
        fields=list(map(names.__getitem__, positions)),
        roles=turns.roles,
        texts=[text or "" for text in turns.contents],
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
