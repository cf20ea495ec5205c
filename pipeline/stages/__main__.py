"""``python -m pipeline.stages``: print the stage table that docs/architecture.md embeds."""

from pipeline.stages import stage_table

print(stage_table())
