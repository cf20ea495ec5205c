"""`PiiConfig`: which entities to screen, what to do with each, and what is allowed through.

Rule id `PII_RULE` (``pii_presidio_v1``) names the detection + decision logic; `PiiConfig.slug`
names one configuration of it (for the manifest).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import phonenumbers
import xxhash

from pipeline.errors import ConfigError

PII_RULE = "pii_presidio_v2"  # v2: real-text filters, secrets, DK_CPR, regions
ACTIONS = ("drop", "redact", "flag")
ACTION_RANK = {"drop": 3, "redact": 2, "flag": 1}  # strongest wins on a record

DEFAULT_ACTIONS: Mapping[str, str] = {
    "CREDIT_CARD": "drop",
    "US_SSN": "drop",
    "IBAN_CODE": "drop",
    "EMAIL_ADDRESS": "redact",
    "PHONE_NUMBER": "redact",
    "IP_ADDRESS": "redact",
    "CRYPTO": "flag",
    "DK_CPR": "drop",
    "API_KEY": "drop",  # a redacted key still teaches a model the shape of a key
    "PRIVATE_KEY": "drop",
    "CREDENTIAL": "drop",
}
# presidio's default phone regions. Each added region is one more phonenumbers pass over every
# digit run (see docs/performance.md for the cost per region).
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
# RFC 2606 / 6761 names reserved for documentation and testing.
DEFAULT_EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "test",
    "example",
    "invalid",
    "localhost",
)
# RFC 5737 / 3849 documentation ranges, plus loopback and the unspecified address.
DEFAULT_IP_NETWORKS = (
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "2001:db8::/32",
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/32",
    "::/128",
)


def _frozen_items(
    value: Mapping[str, Any] | Iterable[tuple[str, Any]],
) -> tuple[tuple[str, Any], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    return tuple(sorted((str(k), v) for k, v in items))


@dataclass(frozen=True)
class PiiConfig:
    """What the PII screen detects and decides (validated at construction).

    Parameters
    ----------
    actions
        Entity type -> ``drop`` | ``redact`` | ``flag``. Only these entity types are screened.
    score_threshold
        Minimum presidio score for a finding (0.4: an uncontexted phone number scores 0.4).
    thresholds
        Per-entity overrides of `score_threshold`.
    allow_email_domains
        E-mail domains (and their subdomains) that are never findings.
    allow_ip_networks
        IP networks (CIDR) whose addresses are never findings.
    allow_values
        Exact values that are never findings (e.g. a version string that looks like an IP).
    allow_patterns
        Regular expressions; a value that fully matches one is never a finding.
    nlp_model
        An installed spaCy package name or model directory; needed for NER entities (PERSON,
        LOCATION, ...). ``None``: pattern recognizers only. Never downloaded.
    regions
        ISO 3166 region codes whose national phone formats are recognized (numbers with a ``+``
        country code are found in any region). Each region costs one more matcher pass.
    recognizers
        Class names of presidio's predefined country recognizers to add (``EsNifRecognizer``,
        ``ItFiscalCodeRecognizer``, ``InAadhaarRecognizer``, ...); name their entity types in
        `actions` to screen them.
    """

    actions: Mapping[str, str] | tuple[tuple[str, str], ...] = field(
        default_factory=lambda: dict(DEFAULT_ACTIONS)
    )
    score_threshold: float = 0.4
    thresholds: Mapping[str, float] | tuple[tuple[str, float], ...] = ()
    allow_email_domains: tuple[str, ...] = DEFAULT_EMAIL_DOMAINS
    allow_ip_networks: tuple[str, ...] = DEFAULT_IP_NETWORKS
    allow_values: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()
    nlp_model: str | None = None
    regions: tuple[str, ...] = DEFAULT_REGIONS
    recognizers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "actions", _frozen_items(self.actions))
        set_(self, "thresholds", _frozen_items(self.thresholds))
        for name in (
            "allow_email_domains",
            "allow_ip_networks",
            "allow_values",
            "allow_patterns",
            "regions",
            "recognizers",
        ):
            set_(self, name, tuple(getattr(self, name)))
        if not self.actions:
            msg = "`actions` must name at least one entity type; got an empty mapping"
            raise ConfigError(msg)
        for entity, action in self.action_items:
            if action not in ACTIONS:
                msg = f"`actions[{entity}]` must be one of {', '.join(ACTIONS)}; got {action!r}"
                raise ConfigError(msg)
        _check_score("score_threshold", self.score_threshold)
        entities = self.entities
        for entity, value in self.threshold_items:
            if entity not in entities:
                msg = f"`thresholds` keys must be in `actions` {sorted(entities)}; got {entity!r}"
                raise ConfigError(msg)
            _check_score(f"thresholds[{entity}]", value)
        for net in self.allow_ip_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                msg = (
                    f"`allow_ip_networks` entries must be CIDR networks (192.0.2.0/24); got {net!r}"
                )
                raise ConfigError(msg) from None
        for pattern in self.allow_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"`allow_patterns` entries must be valid regexes; got {pattern!r} ({exc})"
                raise ConfigError(msg) from None
        if self.nlp_model is not None and not (isinstance(self.nlp_model, str) and self.nlp_model):
            msg = f"`nlp_model` must be a package name, a path or None; got {self.nlp_model!r}"
            raise ConfigError(msg)
        _check_regions(self.regions)

    @property
    def action_items(self) -> tuple[tuple[str, str], ...]:
        """`actions` as stored after construction: sorted ``(entity type, action)`` pairs."""
        return cast(tuple[tuple[str, str], ...], self.actions)

    @property
    def threshold_items(self) -> tuple[tuple[str, float], ...]:
        """`thresholds` as stored after construction: sorted ``(entity type, score)`` pairs."""
        return cast(tuple[tuple[str, float], ...], self.thresholds)

    @property
    def entities(self) -> tuple[str, ...]:
        """The screened entity types, sorted."""
        return tuple(entity for entity, _ in self.action_items)

    def action_for(self, entity: str) -> str:
        """Return the action configured for `entity`."""
        return dict(self.action_items)[entity]

    def threshold_for(self, entity: str) -> float:
        """Return the minimum score for `entity`."""
        return dict(self.threshold_items).get(entity, self.score_threshold)

    @property
    def min_threshold(self) -> float:
        """The lowest threshold over all entities (presidio's global cut)."""
        return min([self.score_threshold, *(v for _, v in self.threshold_items)])

    @property
    def slug(self) -> str:
        """A short, stable name of this configuration, e.g. ``pii_presidio_v1-7e-t0.4-3f2a9c1b``."""
        payload = json.dumps(
            {k: getattr(self, k) for k in self.__dataclass_fields__}, sort_keys=True, default=list
        )
        digest = xxhash.xxh3_64_hexdigest(payload.encode("utf-8"))[:8]
        return f"{PII_RULE}-{len(self.actions)}e-t{self.score_threshold:g}-{digest}"


def _check_regions(regions: tuple[str, ...]) -> None:
    if not regions:
        msg = "`regions` must name at least one ISO region code (e.g. US, DK); got an empty list"
        raise ConfigError(msg)
    known = sorted(phonenumbers.SUPPORTED_REGIONS)
    for region in regions:
        if region not in phonenumbers.SUPPORTED_REGIONS:
            close = difflib.get_close_matches(str(region).upper(), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = (
                f"`regions` entries must be ISO 3166 region codes known to phonenumbers "
                f"(US, GB, DK, TW, SA, JP, BR, ...); got {region!r}{hint}"
            )
            raise ConfigError(msg)


def _check_score(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        msg = f"`{name}` must be a number in [0, 1]; got {value!r}"
        raise ConfigError(msg)
