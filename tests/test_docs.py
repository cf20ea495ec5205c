"""Examples in the docs are real: they parse and build, so the docs cannot drift from the code."""

from __future__ import annotations

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
