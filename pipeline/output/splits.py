"""The mixture as trainers load it: one dataset config per kind, in TRL's conversational formats.

A version's data is split by kind:

- ``data/sft/``: SFT and synthetic records (``kind`` says which, ``generator`` names the model of
  a synthetic one). ``messages`` is TRL's conversational language-modeling column.
- ``data/preference/``: preference records in TRL's conversational preference format: ``prompt``
  is the list of messages up to the reply (the canonical ``messages``), ``chosen`` and
  ``rejected`` are one-message lists ``[{"role": "assistant", "content": ...}]``.

Every other canonical column (``record_id``, ``source``, ``kind``, ``messages``, labels,
``license``, ``provenance``, tags) is kept in both, so a trainer can filter, and a row can be
traced back with ``mixgate why``. Row order inside each config is the mixture's order.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

CONFIGS = ("sft", "preference")
KIND_CONFIG = {"sft": "sft", "synthetic": "sft", "preference": "preference"}
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def _assistant_turns(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``["x", ...]`` -> ``[[{"role": "assistant", "content": "x"}], ...]``."""
    strings = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    structs = pa.StructArray.from_arrays(
        [pa.array(["assistant"] * len(strings), pa.string()), strings.cast(pa.string())],
        fields=list(_MESSAGE),
    )
    offsets = pa.array(range(len(strings) + 1), pa.int32())
    return pa.ListArray.from_arrays(offsets, structs)


def to_preference(table: pa.Table) -> pa.Table:
    """Return preference rows in TRL's conversational preference format, other columns kept."""
    prompt = table.column("messages")
    rest = [c for c in table.column_names if c not in ("chosen", "rejected")]
    return pa.table(
        {
            "prompt": prompt,
            "chosen": _assistant_turns(table.column("chosen")),
            "rejected": _assistant_turns(table.column("rejected")),
            **{c: table.column(c) for c in rest},
        }
    )


def split_by_kind(table: pa.Table) -> dict[str, pa.Table]:
    """Split the mixture into its dataset configs (always both, possibly empty).

    SFT rows drop ``chosen``/``rejected`` (always null there); preference rows are converted
    with `to_preference`.
    """
    kinds = table.column("kind")
    is_pref = pc.fill_null(pc.equal(kinds, "preference"), False)
    sft = table.filter(pc.invert(is_pref)).drop_columns(["chosen", "rejected"])
    return {"sft": sft, "preference": to_preference(table.filter(is_pref))}


def read_mixture(version_dir: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """Read a version's data back as canonical records, whatever its layout.

    Preference rows get their canonical ``chosen``/``rejected`` strings back and lose the
    ``prompt`` column (it equals ``messages``); rows come config by config (``sft`` first).
    Versions written before the split (``data/part-*.parquet``) read as they are.
    """
    data = Path(version_dir) / "data"
    frames = []
    for config in CONFIGS:
        files = sorted((data / config).glob("*.parquet"))
        if not files:
            continue
        frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical")
        if config == "preference":
            frame = frame.drop("prompt").with_columns(
                pl.col("chosen").list.first().struct.field("content").alias("chosen"),
                pl.col("rejected").list.first().struct.field("content").alias("rejected"),
            )
        else:
            frame = frame.with_columns(
                pl.lit(None, pl.String).alias("chosen"), pl.lit(None, pl.String).alias("rejected")
            )
        frames.append(frame)
    flat = sorted(data.glob("*.parquet"))
    if flat:
        frames.append(pl.concat([pl.read_parquet(f) for f in flat], how="vertical"))
    if not frames:
        return pl.DataFrame()
    order = list(frames[0].columns) if not flat else list(frames[-1].columns)
    order = [
        c for c in ("record_id", "source", "kind", "messages", "chosen", "rejected") if c in order
    ] + [
        c
        for c in order
        if c not in ("record_id", "source", "kind", "messages", "chosen", "rejected")
    ]
    out = pl.concat([f.select(order) for f in frames], how="vertical")
    return out.select(columns) if columns else out
