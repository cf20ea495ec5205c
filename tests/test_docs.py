"""Examples in the docs are real: they parse and build, so the docs cannot drift from the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from pipeline.build.config import build_config
from pipeline.spec import parse_spec
from tests.conftest import ROOT


def _yaml_blocks(path):
    text = path.read_text(encoding="utf-8")
    return [block.split("```")[0] for block in text.split("```yaml")[1:]]


def test_spec_doc_stage_sections_build_a_config():
    stage_sections = (ROOT / "docs" / "spec.md").read_text().split("## Stage sections")[1]
    sections = yaml.safe_load(stage_sections.split("```yaml")[1].split("```")[0])
    spec = yaml.safe_load((ROOT / "mixtures" / "demo.yaml").read_text())
    spec.update(sections)
    config = build_config(parse_spec(spec, origin="docs/spec.md"), base_dir=ROOT / "mixtures")
    evidence = config.evidence()["config"]
    assert evidence["near_dedup"]["threshold"] == sections["dedup"]["near"]["threshold"]
    assert evidence["pii"]["score_threshold"] == sections["pii"]["score_threshold"]


def test_every_yaml_block_in_the_spec_doc_is_valid_yaml():
    for block in _yaml_blocks(ROOT / "docs" / "spec.md"):
        assert yaml.safe_load(block) is not None


def test_spec_doc_mentions_every_top_level_key():
    from pipeline.spec import spec_json_schema

    doc = (ROOT / "docs" / "spec.md").read_text()
    for key in spec_json_schema()["properties"]:
        assert f"`{key}`" in doc, key


def _named_paths(text: str) -> set[str]:
    return set(re.findall(r"\b((?:pipeline|flows|tests|benchmarks)/[\w/]+\.py)\b", text))


def _named_modules(text: str) -> set[str]:
    return set(re.findall(r"`((?:pipeline|flows)(?:\.\w+)+)", text))


def _defines(module: Path, name: str) -> bool:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found = node.name
        elif isinstance(node, ast.alias):
            found = (node.asname or node.name).split(".")[-1]
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
            found = node.id if isinstance(node, ast.Name) else node.attr
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found = node.target.id
        else:
            continue
        if found == name:
            return True
    return False


def _resolves(dotted: str) -> bool:
    """``pipeline.io.readers.iter_rows``: the longest module prefix exists and defines the next name."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:k])
        module = (
            base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        )
        if module.is_file():
            return k == len(parts) or _defines(module, parts[k])
    return False


def test_docs_name_only_files_and_modules_that_exist():
    """README, docs/ and the label READMEs name code by path or dotted name; each must exist."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    docs += sorted((ROOT / "tests" / "data").rglob("README.md"))
    missing = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        name = doc.relative_to(ROOT).as_posix()
        missing += [f"{name}: {p}" for p in sorted(_named_paths(text)) if not (ROOT / p).is_file()]
        missing += [f"{name}: {m}" for m in sorted(_named_modules(text)) if not _resolves(m)]
    assert missing == []
