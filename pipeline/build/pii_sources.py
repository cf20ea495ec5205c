"""Per-source PII settings: ``sources[].pii`` overrides the top-level ``pii`` section.

An override uses the keys of the top-level section (`PiiConfig`'s fields) and is validated the
same way, with errors naming ``sources[i].pii.<key>``. ``actions`` and ``thresholds`` merge by
entity type into the top-level values (so ``{actions: {PHONE_NUMBER: flag}}`` changes one
action and keeps the others); every other key replaces the top-level value.

>>> from pipeline.stages.pii import PiiConfig
>>> merged = merge_pii(PiiConfig(), {"actions": {"PHONE_NUMBER": "flag"}}, where="sources[0].pii")
>>> merged.action_for("PHONE_NUMBER"), merged.action_for("EMAIL_ADDRESS")
('flag', 'redact')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.errors import ConfigError
from pipeline.sections import config_from_mapping
from pipeline.spec import MixtureSpec
from pipeline.stages.pii import PiiConfig

MERGED_BY_ENTITY = ("actions", "thresholds")


def merge_pii(base: PiiConfig, override: Mapping[str, Any], *, where: str) -> PiiConfig:
    """Return `base` with `override` applied (see the module docstring); `ConfigError` if invalid."""
    if not isinstance(override, Mapping):
        msg = f"`{where}` must be a mapping of `pii` keys; got {override!r}"
        raise ConfigError(msg)
    merged: dict[str, Any] = {
        f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init
    }
    unknown = sorted(set(override) - set(merged))
    if unknown:
        msg = f"`{where}.{unknown[0]}`: unknown key; allowed: {', '.join(sorted(merged))}"
        raise ConfigError(msg)
    for key in MERGED_BY_ENTITY:
        merged[key] = dict(merged[key])
    for key, value in override.items():
        if key in MERGED_BY_ENTITY and isinstance(value, Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return config_from_mapping(PiiConfig, merged, where=where)
    except ConfigError as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith(f"`{where}") else f"`{where}`: {text}") from None


def pii_by_source(spec: MixtureSpec, base: PiiConfig) -> dict[str, PiiConfig]:
    """Return the merged `PiiConfig` of every source that has a ``pii`` override."""
    return {
        source.name: merge_pii(base, source.pii, where=f"sources[{i}].pii")
        for i, source in enumerate(spec.sources)
        if source.pii is not None
    }


def manifest_entry(config: PiiConfig) -> dict[str, Any]:
    """What the manifest records about one PII configuration."""
    return {
        "slug": config.slug,
        "actions": dict(config.actions),
        "score_threshold": config.score_threshold,
    }
