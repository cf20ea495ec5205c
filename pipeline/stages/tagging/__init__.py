"""Slice tagging: intent x difficulty labels from versioned, data-only rule sets.

`Tagger` is built once from two rule sets (``pipeline/stages/tagging/rulesets/*.yaml``); `tag_slices` is the stage
that fills null ``intent`` / ``difficulty`` and adds the ``tag_`` columns; `map_label` maps
source-provided labels onto the `Taxonomy`.
"""

from pipeline.stages.tagging.rules import RuleSet, load_rule_set, parse_rule_set
from pipeline.stages.tagging.tagger import Tagger, TaggerConfig, TagResult, build_tagger, tag_slices
from pipeline.stages.tagging.taxonomy import DIFFICULTIES, INTENTS, Taxonomy, map_label

__all__ = [
    "DIFFICULTIES",
    "INTENTS",
    "RuleSet",
    "TagResult",
    "Tagger",
    "TaggerConfig",
    "Taxonomy",
    "build_tagger",
    "load_rule_set",
    "map_label",
    "parse_rule_set",
    "tag_slices",
]
