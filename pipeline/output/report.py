"""Human-readable views of a version, read from its manifest and ledger only (no recomputation).

- `summarize(manifest)`: per-stage drops by reason, slice supply shift, and sampling results.
- `explain(version_dir, query)`: answers "why is record X not in the mixture?" for a record id
  (or a unique prefix) or a ``file:row`` provenance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import ConfigError
from pipeline.output.publish import read_manifest


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summarize(manifest: dict[str, Any]) -> str:
    """Return a plain-text report of a build: what each stage did and how the slices came out."""
    out = [f"{manifest['name']} {manifest['version']}  fingerprint {manifest['fingerprint'][:16]}"]
    rows = []
    for stage, per_source in manifest["counts"]["stages"].items():
        for source, c in per_source.items():
            if c["dropped"]:
                reasons = ", ".join(f"{k}={v}" for k, v in c["dropped_by_reason"].items())
                rows.append([stage, source, c["in"], c["dropped"], reasons])
    out += ["", "Dropped records (stage, source, in, dropped, reasons):"]
    out.append(_table(["stage", "source", "in", "dropped", "reasons"], rows) if rows else "  none")
    red = manifest["counts"].get("pii_redactions", {})
    refusals = manifest["counts"].get("quality_refusals", {})
    out += [
        "",
        f"PII redacted (kept, spans replaced): {red.get('pool_records', 0)} record(s) in the pool, "
        f"{red.get('mixture_records', 0)} in the mixture; refusals tagged: "
        f"{refusals.get('pool', 0)} in the pool, {refusals.get('mixture', 0)} in the mixture",
    ]
    shift = manifest["slices"]["shift"]
    stages = shift["stages"]
    out += ["", "Slice supply after each stage:"]
    out.append(_table(["slice", *stages], [[r["slice"], *[r[st] for st in stages]] for r in shift["rows"]]))
    out += ["", "Sampling:"]
    out.append(
        _table(
            ["slice", "weight", "supply", "quota", "target", "actual", "unique"],
            [
                [f"{s['intent']}/{s['difficulty']}", s["weight"], s["supply"], s["quota"], s["target"],
                 s["actual"], s["unique"]]
                for s in manifest["slices"]["sampling"]
            ],
        )
    )
    total = manifest["slices"]["total"]
    out.append(f"total: {total['actual']} of {total['target']} requested")
    return "\n".join(out)


def explain(version_dir: Path, query: str) -> str:
    """Explain where one input record went: the mixture, the ledger (stage, reason) or unsampled."""
    version_dir = Path(version_dir)
    read_manifest(version_dir)
    ledger = pl.read_parquet(version_dir / "ledger.parquet")
    data = pl.read_parquet(version_dir / "data", columns=["record_id", "source", "provenance", "sample_repeat"])
    if ":" in query and query.rsplit(":", 1)[1].isdigit():
        file, row = query.rsplit(":", 1)
        hits = ledger.filter((pl.col("file") == file) & (pl.col("row") == int(row)))
        kept = data.filter(
            (pl.col("provenance").struct.field("file") == file)
            & (pl.col("provenance").struct.field("row") == int(row))
        )
    else:
        hits = ledger.filter(pl.col("record_id").str.starts_with(query))
        kept = data.filter(pl.col("record_id").str.starts_with(query))
    if not query.strip():
        msg = "`query` must be a record id (prefix) or FILE:ROW; got ''"
        raise ConfigError(msg)
    lines = []
    for r in hits.iter_rows(named=True):
        evidence = ", ".join(
            f"{k}={r[k]}" for k in ("dup_of", "score", "holdout", "holdout_row") if r[k] is not None
        )
        lines.append(
            f"dropped at {r['stage']} by {r['rule_id']}: {r['reason']}"
            f" ({r['source']} {r['file']}:{r['row']}){'; ' + evidence if evidence else ''}"
        )
    if kept.height:
        first = kept.row(0, named=True)
        lines.append(
            f"in the mixture {kept.height} time(s) as {first['record_id']} "
            f"(from {first['provenance']['file']}:{first['provenance']['row']})"
        )
    if not lines:
        lines.append(
            "not in the ledger and not in the mixture: either it passed every gate and was not "
            "sampled (its slice had enough supply, or it is in no declared slice), or no input record matches"
        )
    return "\n".join(lines)
