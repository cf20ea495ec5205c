"""`mixgate diff V1 V2`: what changed between two versions, from their manifests and data.

`diff_versions(old, new)` returns a JSON-ready mapping with:

- ``inputs``: input and holdout files added, removed or changed (sha256), per source;
- ``spec``: every spec key whose value differs (key path, old, new), and changed rule ids,
  stage config, code version and package versions;
- ``records``: distinct records added and removed, per source and per slice;
- ``counts``: per-stage drops and per-slice sampled counts that moved.

`format_diff` renders it as text. Two versions built from the same spec, inputs and code have
an empty diff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

_KEYS = ("record_id", "source", "intent", "difficulty")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            name = v.get("name") if isinstance(v.get("name"), str) else i
            out.update(_flatten(v, f"{prefix}[{name}]"))
        return out
    return {prefix: value}


def _changes(old: Any, new: Any) -> list[dict[str, Any]]:
    a, b = _flatten(old), _flatten(new)
    return [
        {"key": k, "old": a.get(k), "new": b.get(k)}
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def _files(manifest: dict[str, Any]) -> dict[tuple[str, str], str]:
    files = {(i["source"], i["path"]): i["sha256"] for i in manifest.get("inputs", [])}
    files.update(
        {(f"holdout:{h['holdout']}", h["path"]): h["sha256"] for h in manifest.get("holdouts", [])}
    )
    return files


def diff_inputs(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Input and holdout files that were added, removed or changed."""
    a, b = _files(old), _files(new)
    out = []
    for key in sorted(set(a) | set(b)):
        status = "added" if key not in a else "removed" if key not in b else "changed"
        if status == "changed" and a[key] == b[key]:
            continue
        out.append(
            {
                "source": key[0],
                "path": key[1],
                "status": status,
                "old_sha256": a.get(key),
                "new_sha256": b.get(key),
            }
        )
    return out


def read_records(version_dir: Path) -> pl.DataFrame:
    """Distinct (record_id, source, intent, difficulty) of a version's data files, any layout."""
    files = sorted((Path(version_dir) / "data").rglob("*.parquet"))
    frames = [pl.read_parquet(f, columns=list(_KEYS)) for f in files]
    if not frames:
        return pl.DataFrame(schema=dict.fromkeys(_KEYS, pl.String))
    return pl.concat(frames).unique(subset=["record_id"], keep="first")


def _grouped(frame: pl.DataFrame, by: str) -> dict[str, int]:
    return {
        str(k): n for k, n in sorted(frame.group_by(by).len().iter_rows(), key=lambda r: str(r[0]))
    }


def diff_records(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    """Distinct records added and removed, per source and per slice."""
    a, b = read_records(old_dir), read_records(new_dir)
    added = b.join(a.select("record_id"), on="record_id", how="anti")
    removed = a.join(b.select("record_id"), on="record_id", how="anti")
    out: dict[str, Any] = {"added": added.height, "removed": removed.height}
    for name, frame in (("added", added), ("removed", removed)):
        sliced = frame.with_columns(
            pl.concat_str("intent", "difficulty", separator="/").alias("slice")
        )
        out[f"{name}_by_source"] = _grouped(frame, "source")
        out[f"{name}_by_slice"] = _grouped(sliced, "slice")
    return out


def diff_counts(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-stage drops per source, and per-slice sampled counts, that moved."""
    moved = []
    sa, sb = old["counts"]["stages"], new["counts"]["stages"]
    for stage in sorted(set(sa) | set(sb)):
        for source in sorted(set(sa.get(stage, {})) | set(sb.get(stage, {}))):
            x = sa.get(stage, {}).get(source, {}).get("dropped", 0)
            y = sb.get(stage, {}).get(source, {}).get("dropped", 0)
            if x != y:
                moved.append({"what": f"dropped at {stage}", "source": source, "old": x, "new": y})
    slices_a = {f"{s['intent']}/{s['difficulty']}": s["actual"] for s in old["slices"]["sampling"]}
    slices_b = {f"{s['intent']}/{s['difficulty']}": s["actual"] for s in new["slices"]["sampling"]}
    for name in sorted(set(slices_a) | set(slices_b)):
        if slices_a.get(name) != slices_b.get(name):
            moved.append(
                {
                    "what": "sampled",
                    "slice": name,
                    "old": slices_a.get(name),
                    "new": slices_b.get(name),
                }
            )
    return moved


def diff_versions(
    old_dir: Path, new_dir: Path, old: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    """Everything that differs between two versions (see the module docstring)."""
    settings = _changes(
        {k: old.get(k) for k in ("rules", "config", "code_version", "packages")},
        {k: new.get(k) for k in ("rules", "config", "code_version", "packages")},
    )
    result: dict[str, Any] = {
        "old": f"{old['name']} {old['version']}",
        "new": f"{new['name']} {new['version']}",
        "inputs": diff_inputs(old, new),
        "spec": _changes(old["spec"]["parsed"], new["spec"]["parsed"]),
        "settings": settings,
        "records": diff_records(old_dir, new_dir),
        "counts": diff_counts(old, new),
    }
    result["identical"] = not (
        result["inputs"]
        or result["spec"]
        or settings
        or result["counts"]
        or result["records"]["added"]
        or result["records"]["removed"]
    )
    return result


def format_diff(result: dict[str, Any]) -> str:
    """Render `diff_versions` output as text."""
    out = [f"diff {result['old']} -> {result['new']}"]
    if result["identical"]:
        return out[0] + "\nno differences"
    if result["inputs"]:
        out.append("\ninput files:")
        for i in result["inputs"]:
            out.append(f"  {i['status']:8} {i['source']}: {i['path']}")
    for title, key in (("spec", "spec"), ("rules, config, code", "settings")):
        if result[key]:
            out.append(f"\n{title}:")
            out += [f"  {c['key']}: {c['old']!r} -> {c['new']!r}" for c in result[key]]
    rec = result["records"]
    out.append(f"\nrecords: +{rec['added']} -{rec['removed']} (distinct record ids)")
    for axis in ("source", "slice"):
        names = sorted(set(rec[f"added_by_{axis}"]) | set(rec[f"removed_by_{axis}"]))
        for name in names:
            out.append(
                f"  {axis} {name}: +{rec[f'added_by_{axis}'].get(name, 0)} "
                f"-{rec[f'removed_by_{axis}'].get(name, 0)}"
            )
    if result["counts"]:
        out.append("\ncounts that moved:")
        for c in result["counts"]:
            where = c.get("source") or c.get("slice")
            out.append(f"  {c['what']} {where}: {c['old']} -> {c['new']}")
    return "\n".join(out)
