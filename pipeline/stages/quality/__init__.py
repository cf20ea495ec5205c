"""Quality gates: empty replies, length bounds, repetition, identical pairs, tool calls, refusals.

Every gate has a versioned rule id and reason codes; `tag_quality` tags, `pipeline.stages.gate.apply_gate`
drops. See docs/quality.md.
"""

from pipeline.stages.quality.checks import approx_tokens, repetition_reason, tool_call_problem
from pipeline.stages.quality.config import (
    DEFAULT_REFUSAL_PATTERNS,
    LengthBounds,
    QualityConfig,
    RepetitionLimits,
)
from pipeline.stages.quality.stage import GATE_ORDER, tag_quality

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "GATE_ORDER",
    "LengthBounds",
    "QualityConfig",
    "RepetitionLimits",
    "approx_tokens",
    "repetition_reason",
    "tag_quality",
    "tool_call_problem",
]
