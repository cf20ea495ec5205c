"""report.html: self-contained, and rendered by a real headless Chromium with the network off."""

from __future__ import annotations

import re

import pytest

from pipeline.output.html import bar_chart, render_html, slice_rows, waterfall_rows
from tests.headless import find_chromium, visit


@pytest.fixture(scope="module")
def demo(demo_build):
    """The session's demo build (tests/conftest.py), read only."""
    return demo_build


def test_report_is_written_and_fetches_nothing(demo):
    """No script, stylesheet, image, font or frame is loaded from anywhere."""
    page = (demo.version_dir / "report.html").read_text()
    assert page == render_html(demo.version_dir, demo.manifest)
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"(src|href)\s*=|url\(|@import", page)
    for section in (
        "waterfall",
        "slices",
        "supply",
        "licenses",
        "pii",
        "contamination",
        "near",
        "inputs",
    ):
        assert f'id="{section}"' in page


def test_bar_counts_follow_the_manifest(demo):
    """One bar per source and stage (plus `read`), two per slice (target, actual)."""
    page = (demo.version_dir / "report.html").read_text()
    sources = len(demo.manifest["counts"]["reconciliation"])
    stages = len(demo.manifest["counts"]["stages"])
    assert page.count('class="bar" data-chart="waterfall"') == sources * (stages + 1)
    assert page.count('class="bar" data-chart="slices"') == 2 * len(
        demo.manifest["slices"]["sampling"]
    )


def test_bar_chart_escapes_labels():
    """Labels come from specs and files: they are escaped, never markup."""
    svg = bar_chart("x", [("<b>a</b>", [("read", 2)])], title="t")
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_report_renders_in_headless_chromium_offline(demo, tmp_path):
    """Chromium opens the file with the network off: no console error, no request but the file
    itself, and the waterfall and slice charts have the right number of bars."""
    if find_chromium() is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium); .ci/run installs it")
    expected_waterfall = sum(len(series) for _, series in waterfall_rows(demo.manifest))
    expected_slices = sum(len(series) for _, series in slice_rows(demo.manifest))
    shot = tmp_path / "report.png"
    seen = visit(
        demo.version_dir / "report.html",
        scripts={
            "waterfall": "document.querySelectorAll('svg[data-chart=waterfall] rect.bar').length",
            "slices": "document.querySelectorAll('svg[data-chart=slices] rect.bar').length",
            "drawn": "[...document.querySelectorAll('svg[data-chart=waterfall] rect.bar')]"
            ".filter(r => r.getBoundingClientRect().width > 0).length",
            "title": "document.title",
        },
        screenshot=shot,
        tmp=tmp_path,
    )
    assert seen.console_errors == []
    assert [u for u in seen.requests if not u.startswith("file://")] == []
    assert seen.values["waterfall"] == expected_waterfall
    assert seen.values["slices"] == expected_slices
    assert seen.values["drawn"] > 0  # laid out, not just present in the DOM
    assert seen.values["title"].startswith("mixgate report: demo")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
