"""Human-readable views of a version, read from its manifest and ledger only (no recomputation).

- `summarize(manifest)`: per-stage drops by reason, slice supply shift, and sampling results.
- `explain(version_dir, query)`: answers "why is record X not in the mixture?" for a record id
  (or a unique prefix) or a ``file:row`` provenance.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import ConfigError
from pipeline.output.publish import read_manifest
from pipeline.stages.dedup.keeper import conflict_warnings, keeper_of

SAMPLING_COLUMNS = ["slice", "weight", "supply", "quota", "target", "actual", "unique"]


def sampling_table(manifest: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The manifest's per-slice sampling as (header, rows): the text and HTML reports share it."""
    rows = [
        [f"{s['intent']}/{s['difficulty']}", *(s[c] for c in SAMPLING_COLUMNS[1:])]
        for s in manifest["slices"]["sampling"]
    ]
    return SAMPLING_COLUMNS, rows


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


SHARE_WARN_POINTS = 5.0


def mixing_warnings(manifest: dict[str, Any], version_dir: Path | None = None) -> list[str]:
    """Say when the mix drifted from what the spec declared.

    - a slice whose share of the mixture moved more than `SHARE_WARN_POINTS` points from its
      declared weight (redistribution, or a short slice under ``allow_short``);
    - the synthetic cap binding: slices whose synthetic picks reached their part of the cap
      (needs the version's data, so only with `version_dir`).
    """
    from pipeline.stages.sample import largest_remainder

    sampling = manifest["slices"]["sampling"]
    total = manifest["slices"]["total"]["target"] or 1
    out = []
    for s in sampling:
        declared, actual = 100 * s["quota"] / total, 100 * s["actual"] / total
        if abs(actual - declared) > SHARE_WARN_POINTS:
            out.append(
                f"slice {s['intent']}/{s['difficulty']} is {actual:.1f}% of the mixture, declared "
                f"{declared:.1f}% ({s['quota']} -> {s['actual']} records)"
            )
    share = manifest["spec"]["parsed"].get("sampling", {}).get("synthetic_max_share")
    if share is None or version_dir is None:
        return out
    caps = largest_remainder(
        [float(s["quota"]) for s in sampling], math.floor(share * total + 1e-9)
    )
    data = read_data_columns(version_dir, ["intent", "difficulty", "kind"])
    synth = dict(
        ((i, d), n)
        for i, d, n in data.filter(pl.col("kind") == "synthetic")
        .group_by("intent", "difficulty")
        .len()
        .iter_rows()
    )
    bound = [
        f"{s['intent']}/{s['difficulty']} {synth.get((s['intent'], s['difficulty']), 0)} of {cap}"
        for s, cap in zip(sampling, caps, strict=True)
        if cap and synth.get((s["intent"], s["difficulty"]), 0) >= cap
    ]
    if bound:
        mixture = 100 * sum(synth.values()) / max(data.height, 1)
        out.append(
            f"synthetic cap reached in {len(bound)} slice(s) ({', '.join(bound)}): the mixture is "
            f"{mixture:.1f}% synthetic against `sampling.synthetic_max_share` {share:g} (the cap is "
            "split over the slices by quota)"
        )
    return out


def summarize(manifest: dict[str, Any], version_dir: Path | None = None) -> str:
    """Return a plain-text report of a build: what each stage did and how the slices came out."""
    out = [f"{manifest['name']} {manifest['version']}  fingerprint {manifest['fingerprint'][:16]}"]
    warnings = mixing_warnings(manifest, version_dir)
    if warnings:
        out += ["", "Warnings:", *[f"  warning: {w}" for w in warnings]]
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
    out.append(
        _table(["slice", *stages], [[r["slice"], *[r[st] for st in stages]] for r in shift["rows"]])
    )
    out += ["", "Sampling:"]
    out.append(_table(*sampling_table(manifest)))
    total = manifest["slices"]["total"]
    out.append(f"total: {total['actual']} of {total['target']} requested")
    conflicts = manifest.get("license_conflicts") or []
    if conflicts:
        out += ["", "License conflicts (same content, other license; kept copy first):"]
        out.append(
            _table(
                ["stage", "kept", "dropped", "records"],
                [
                    [
                        c["stage"],
                        f"{c['kept_source']} {c['kept_license']}",
                        f"{c['dropped_source']} {c['dropped_license']}",
                        c["records"],
                    ]
                    for c in conflicts
                ],
            )
        )
        out += conflict_warnings(conflicts)
    return "\n".join(out)


@dataclass(frozen=True)
class Explanation:
    """What `why` found about one input record; `found` is False when nothing matches."""

    lines: tuple[str, ...]
    found: bool

    @property
    def text(self) -> str:
        """The explanation as printed by `mixgate why`."""
        return "\n".join(self.lines)


def read_data_columns(version_dir: Path, columns: list[str]) -> pl.DataFrame:
    """Read `columns` from every Parquet file under ``data/`` (one or several configs)."""
    files = sorted((Path(version_dir) / "data").rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f, columns=columns) for f in files], how="vertical")


def _spec_dir(version_dir: Path, manifest: dict[str, Any]) -> Path:
    try:
        recorded = json.loads((version_dir / "run.json").read_text(encoding="utf-8")).get(
            "spec_dir"
        )
    except (OSError, ValueError):
        recorded = None
    return Path(recorded) if recorded else Path(manifest["spec"]["file"]).parent


def recorded_file(version_dir: Path, manifest: dict[str, Any], spelled: str) -> str | None:
    """Return the recorded input path that `spelled` names, however it is written: as recorded,
    relative to the working directory, absolute, through a symlink, or a copy with the same
    sha256. None when it names no input of the version."""
    inputs = {entry["path"]: entry["sha256"] for entry in manifest["inputs"]}
    if spelled in inputs:
        return spelled
    normal = os.path.normpath(spelled)
    for rec in inputs:
        if os.path.normpath(rec) == normal:
            return rec
    given = Path(spelled)
    if not given.is_file():
        return None
    spec_dir = _spec_dir(version_dir, manifest)
    for rec in inputs:
        candidate = spec_dir / rec
        if candidate.is_file() and os.path.samefile(candidate, given):
            return rec
    from pipeline.io.files import file_sha256

    digest = file_sha256(given)
    matches = [rec for rec, sha in inputs.items() if sha == digest]
    return matches[0] if len(matches) == 1 else None


def find_record(version_dir: Path, query: str) -> Explanation:
    """Explain where one input record went: the mixture, the ledger (stage, reason) or unsampled.

    `query` is a record id (or a unique prefix), or ``FILE:ROW`` with the file spelled any way
    that names an input of the version (see `recorded_file`).
    """
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    if not query.strip():
        msg = "`query` must be a record id (prefix) or FILE:ROW; got ''"
        raise ConfigError(msg)
    ledger = pl.read_parquet(version_dir / "ledger.parquet")
    data = read_data_columns(version_dir, ["record_id", "source", "provenance", "sample_repeat"])
    in_file = None
    if ":" in query and query.rsplit(":", 1)[1].isdigit():
        spelled, row_text = query.rsplit(":", 1)
        file, row = recorded_file(version_dir, manifest, spelled) or spelled, int(row_text)
        hits = ledger.filter((pl.col("file") == file) & (pl.col("row") == row))
        kept = data.filter(
            (pl.col("provenance").struct.field("file") == file)
            & (pl.col("provenance").struct.field("row") == row)
        )
        in_file = next((e for e in manifest["inputs"] if e["path"] == file), None), row
    else:
        hits = ledger.filter(pl.col("record_id").str.starts_with(query))
        kept = data.filter(pl.col("record_id").str.starts_with(query))
    lines = []
    for r in hits.iter_rows(named=True):
        evidence = ", ".join(
            f"{k}={r[k]}" for k in ("dup_of", "score", "holdout", "holdout_row") if r[k] is not None
        )
        lines.append(
            f"dropped at {r['stage']} by {r['rule_id']}: {r['reason']}"
            f" ({r['source']} {r['file']}:{r['row']}){'; ' + evidence if evidence else ''}"
        )
        detail = keeper_of(r["detail"])
        if detail is not None:
            k = detail["keeper"]
            lines.append(
                f"  kept copy: {k.get('source')} {k.get('file')}:{k.get('row')} "
                f"(license {k.get('license')}; this copy: {detail.get('license')})"
            )
    if kept.height:
        first = kept.row(0, named=True)
        lines.append(
            f"in the mixture {kept.height} time(s) as {first['record_id']} "
            f"(from {first['provenance']['file']}:{first['provenance']['row']})"
        )
    if lines:
        return Explanation(tuple(lines), True)
    if in_file is not None and in_file[0] is not None and 0 <= in_file[1] < in_file[0]["records"]:
        return Explanation(
            (
                f"passed every gate and was not sampled ({in_file[0]['source']} {in_file[0]['path']}:"
                f"{in_file[1]}): its slice had enough supply, or it is in no declared slice",
            ),
            True,
        )
    return Explanation((f"no input record of {version_dir} matches {query!r}",), False)


def explain(version_dir: Path, query: str) -> str:
    """Return `find_record`'s explanation as text."""
    return find_record(version_dir, query).text
