"""Imports run downward: errors/records/io < stages < spec < output < build < tools < flows.

Parsed with `ast` (nothing is imported): every ``import``/``from ... import`` of a module under
pipeline/ or flows/, at any depth (function-local imports included), must point to a layer at
or below its own, and two packages must never import each other.
"""

from __future__ import annotations

import ast
from itertools import combinations
from pathlib import Path

from tests.conftest import ROOT

# Lower index = lower layer. A module's layer is its longest matching prefix.
LAYERS = [
    ("pipeline.errors", "pipeline.records", "pipeline.io", "pipeline.faults", "pipeline"),
    ("pipeline.stages",),
    ("pipeline.spec", "pipeline.sections"),
    ("pipeline.output",),
    ("pipeline.build",),
    ("pipeline.tools",),
    ("flows",),
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best, level = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    return level


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            found.add(base)
    return {m for m in found if m.split(".")[0] in ("pipeline", "flows")}


def _edges() -> list[tuple[str, str]]:
    files = sorted((ROOT / "pipeline").rglob("*.py")) + sorted((ROOT / "flows").rglob("*.py"))
    return [(_module(f), target) for f in files for target in sorted(_imports(f))]


def _package(module: str) -> str:
    """The package a module belongs to (``pipeline.build.run`` -> ``pipeline.build``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_imports_only_run_downward():
    upward = [f"{src} imports {dst}" for src, dst in _edges() if _layer(dst) > _layer(src)]
    assert upward == []


def test_pipeline_never_imports_flows_and_stages_never_import_build_output_or_tools():
    bad = [
        f"{src} imports {dst}"
        for src, dst in _edges()
        if (src.startswith("pipeline") and dst.startswith("flows"))
        or (
            src.startswith("pipeline.stages")
            and dst.split(".")[1:2] in (["build"], ["output"], ["tools"])
        )
    ]
    assert bad == []


def test_no_two_packages_import_each_other():
    pairs = {(_package(s), _package(d)) for s, d in _edges() if _package(s) != _package(d)}
    cycles = sorted(
        f"{a} <-> {b}"
        for a, b in combinations(sorted({p for pair in pairs for p in pair}), 2)
        if (a, b) in pairs and (b, a) in pairs
    )
    assert cycles == []


def test_the_checker_sees_a_violation():
    assert _layer("pipeline.stages.ingest") < _layer("pipeline.spec") < _layer("pipeline.build.run")
    assert _layer("pipeline.build.run") > _layer("pipeline.output.publish")
    assert _layer("flows.cli") > _layer("pipeline.tools.audit")
