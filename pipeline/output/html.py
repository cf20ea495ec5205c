"""``report.html``: one self-contained page per version, with inline SVG charts.

`render_html(version_dir)` reads the manifest, the ledger and the mixture's license column and
returns the page. Nothing is fetched when the page is viewed: no scripts, no fonts, no images,
only inline CSS and SVG, so it opens the same from a laptop, an artifact store or an air-gapped
box. The output is a pure function of the version's files (no clock, no host), so a rebuild
writes the same bytes.

Charts are plain ``<rect>`` bars, one per value, each with a ``<title>`` that a browser shows on
hover. Every bar carries ``class="bar"`` and its chart's name in ``data-chart``, which is how the
browser test counts them. Texts of records are never shown: near-duplicate and contamination
examples are ids, rows and scores.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.output.report import sampling_table
from pipeline.stages import stage

BAR_HEIGHT = 16
BAR_GAP = 6
LABEL_WIDTH = 300
CHART_WIDTH = 420
MAX_EXAMPLES = 50
LICENSE = "license"  # the record column (also the name of a stage)
COLORS = {"read": "#6b7280", "target": "#9ca3af", "actual": "#2563eb", "drop": "#dc2626"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;
color:#111827;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem;
border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #e5e7eb;padding:.2rem .55rem;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f9fafb}td.n{text-align:right}code{font-size:.85em}.note{color:#6b7280}
svg text{font:12px system-ui,sans-serif;fill:#111827}.chart{margin:.3rem 0 1rem}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = ()
) -> str:
    if not rows:
        return '<p class="note">none</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(
    name: str, rows: Sequence[tuple[str, Sequence[tuple[str, int]]]], *, title: str
) -> str:
    """Return an inline SVG of horizontal bars: one group per row, one bar per (series, value).

    >>> svg = bar_chart("demo", [("a", [("read", 3)]), ("b", [("read", 1)])], title="t")
    >>> svg.count('class="bar"')
    2
    """
    peak = max((v for _, series in rows for _, v in series), default=0) or 1
    per_group = max((len(series) for _, series in rows), default=1)
    group_h = per_group * (BAR_HEIGHT + 2) + BAR_GAP
    height = len(rows) * group_h + 8
    width = LABEL_WIDTH + CHART_WIDTH + 90
    parts = [
        f'<svg class="chart" data-chart="{_e(name)}" role="img" aria-label="{_e(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for g, (label, series) in enumerate(rows):
        y0 = 4 + g * group_h
        parts.append(f'<text x="0" y="{y0 + BAR_HEIGHT - 4}">{_e(label)}</text>')
        for s, (series_name, value) in enumerate(series):
            y = y0 + s * (BAR_HEIGHT + 2)
            w = 0 if value <= 0 else max(1, round(CHART_WIDTH * value / peak))
            color = COLORS.get(series_name, COLORS["actual"])
            parts.append(
                f'<rect class="bar" data-chart="{_e(name)}" data-series="{_e(series_name)}" '
                f'x="{LABEL_WIDTH}" y="{y}" width="{w}" height="{BAR_HEIGHT}" fill="{color}">'
                f"<title>{_e(label)} {_e(series_name)}: {value}</title></rect>"
                f'<text x="{LABEL_WIDTH + w + 4}" y="{y + BAR_HEIGHT - 4}">{_e(series_name)} {value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def stage_order(manifest: dict[str, Any]) -> list[str]:
    """The stages in build order (the manifest's count keys are sorted by name)."""
    ordered = [
        s for s in manifest["slices"]["shift"]["stages"] if s in manifest["counts"]["stages"]
    ]
    return ordered + sorted(set(manifest["counts"]["stages"]) - set(ordered))


def waterfall_rows(manifest: dict[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    """Per source: records read, then records left after each stage."""
    stages = manifest["counts"]["stages"]
    out = []
    for source, recon in manifest["counts"]["reconciliation"].items():
        series = [("read", recon["read"])]
        series += [(stage, stages[stage][source]["out"]) for stage in stage_order(manifest)]
        out.append((source, series))
    return out


def slice_rows(manifest: dict[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    """Per declared slice: its target (after any redistribution) and what was sampled."""
    return [
        (f"{s['intent']}/{s['difficulty']}", [("target", s["target"]), ("actual", s["actual"])])
        for s in manifest["slices"]["sampling"]
    ]


def _ledger(version_dir: Path) -> pl.DataFrame:
    path = version_dir / "ledger.parquet"
    return pl.read_parquet(path) if path.is_file() else pl.DataFrame()


def _licenses(version_dir: Path) -> list[tuple[str, int]]:
    files = sorted((version_dir / "data").rglob("*.parquet"))
    if not files:
        return []
    counts: dict[str, int] = {}
    for file in files:
        for lic, n in pl.read_parquet(file, columns=[LICENSE]).group_by(LICENSE).len().iter_rows():
            counts[lic] = counts.get(lic, 0) + n
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _section_warnings(version_dir: Path, manifest: dict[str, Any]) -> str:
    from pipeline.output.report import mixing_warnings

    warnings = mixing_warnings(manifest, version_dir)
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    return f'<h2 id="warnings">Warnings</h2><ul class="warnings">{items}</ul>'


def _section_waterfall(manifest: dict[str, Any]) -> str:
    stages = stage_order(manifest)
    rows = []
    for source, series in waterfall_rows(manifest):
        rows.append([source, *[v for _, v in series]])
    return (
        '<h2 id="waterfall">Stage waterfall per source</h2>'
        + bar_chart("waterfall", waterfall_rows(manifest), title="records left after each stage")
        + _table(["source", "read", *stages], rows, numeric=range(1, len(stages) + 2))
    )


def _section_slices(manifest: dict[str, Any]) -> str:
    total = manifest["slices"]["total"]
    header, rows = sampling_table(manifest)
    return (
        f'<h2 id="slices">Slices: target vs actual</h2><p>{total["actual"]} of {total["target"]} '
        "records requested.</p>"
        + bar_chart("slices", slice_rows(manifest), title="slice target and actual")
        + _table(header, rows, numeric=range(1, 7))
    )


def _section_supply(manifest: dict[str, Any]) -> str:
    shift = manifest["slices"]["shift"]
    rows = [[r["slice"], *[r[s] for s in shift["stages"]]] for r in shift["rows"]]
    return '<h2 id="supply">Slice supply after each stage</h2>' + _table(
        ["slice", *shift["stages"]], rows, numeric=range(1, len(shift["stages"]) + 1)
    )


def _section_licenses(version_dir: Path) -> str:
    licenses = _licenses(version_dir)
    return (
        '<h2 id="licenses">License mix of the mixture</h2>'
        + bar_chart(
            "licenses", [(lic, [("actual", n)]) for lic, n in licenses], title="records per license"
        )
        + _table([LICENSE, "records"], [list(kv) for kv in licenses], numeric=[1])
    )


def _section_pii(manifest: dict[str, Any], ledger: pl.DataFrame) -> str:
    rows: list[list[Any]] = []
    if ledger.height:
        pii = ledger.filter(pl.col("stage") == stage("pii").name)
        for reason, n in sorted(pii.group_by("reason").len().iter_rows()):
            rows.append([reason.removeprefix("pii:"), "dropped", n])
    red = manifest["counts"].get("pii_redactions", {})
    note = (
        f"<p>Redacted and kept: {red.get('pool_records', 0)} record(s) ({red.get('pool_spans', 0)} "
        f"span(s)) in the pool, {red.get('mixture_records', 0)} in the mixture. Values are never "
        "recorded.</p>"
    )
    return (
        '<h2 id="pii">PII by type</h2>'
        + _table(["entity type", "action", "records"], rows, numeric=[2])
        + note
    )


def _section_contamination(ledger: pl.DataFrame) -> str:
    rows: list[list[Any]] = []
    if ledger.height:
        found = ledger.filter(pl.col("stage") == stage("decontam").name).sort(
            "holdout", "holdout_row", "source", "row"
        )
        for r in found.head(MAX_EXAMPLES).iter_rows(named=True):
            rows.append(
                [
                    r["holdout"],
                    r["holdout_row"],
                    r["record_id"],
                    f"{r['file']}:{r['row']}",
                    _score(r["score"]),
                ]
            )
    return '<h2 id="contamination">Contamination findings</h2>' + _table(
        ["holdout", "item (row)", "record", "input file:row", "score"], rows, numeric=[1, 4]
    )


def _section_near(ledger: pl.DataFrame) -> str:
    rows: list[list[Any]] = []
    if ledger.height:
        near = ledger.filter(pl.col("stage") == stage("near_dedup").name).sort(
            "score", "record_id", descending=[True, False]
        )
        for r in near.head(MAX_EXAMPLES).iter_rows(named=True):
            rows.append(
                [r["record_id"], r["dup_of"], f"{r['file']}:{r['row']}", _score(r["score"])]
            )
    return (
        '<h2 id="near">Near-duplicate examples</h2><p class="note">Ids and scores only; the '
        "texts stay in the inputs.</p>"
        + _table(["dropped record", "kept record", "input file:row", "Jaccard"], rows, numeric=[3])
    )


def _section_inputs(manifest: dict[str, Any]) -> str:
    rows = [[i["source"], i["path"], i["records"], i["sha256"][:16]] for i in manifest["inputs"]]
    rows += [
        [f"holdout {h['holdout']}", h["path"], h["records"], h["sha256"][:16]]
        for h in manifest.get("holdouts", [])
    ]
    return '<h2 id="inputs">Inputs</h2>' + _table(
        ["source", "path", "records", "sha256"], rows, numeric=[2]
    )


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def render_html(version_dir: Path, manifest: dict[str, Any]) -> str:
    """Return the self-contained HTML report of the version in `version_dir`."""
    version_dir = Path(version_dir)
    ledger = _ledger(version_dir)
    title = f"mixgate report: {manifest['name']} {manifest['version']}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Fingerprint <code>{_e(manifest['fingerprint'][:16])}</code>, seed "
        f"{_e(manifest['spec']['parsed'].get('seed'))}, spec <code>{_e(manifest['spec']['file'])}</code>, "
        f"code {_e(manifest.get('code_version', ''))}.</p>",
        _section_warnings(version_dir, manifest),
        _section_waterfall(manifest),
        _section_slices(manifest),
        _section_supply(manifest),
        _section_licenses(version_dir),
        _section_pii(manifest, ledger),
        _section_contamination(ledger),
        _section_near(ledger),
        _section_inputs(manifest),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


REPORT_FILE = "report.html"


def write_html(version_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write ``report.html`` into `version_dir`; return its path."""
    path = Path(version_dir) / REPORT_FILE
    path.write_text(render_html(version_dir, manifest), encoding="utf-8")
    return path
