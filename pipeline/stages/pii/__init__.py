"""PII screening with presidio, offline: detect, tag, decide (drop | redact | flag), redact.

Only entity types, fields, offsets, scores and a hash of each value are ever recorded; a
detected value is never written anywhere. See docs/pii.md.
"""

import os

# Offline by construction, before presidio (and tldextract) is imported by any submodule: the
# e-mail recognizer must use tldextract's bundled suffix list, never fetch it.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from pipeline.stages.pii.config import ACTIONS, PII_RULE, PiiConfig
from pipeline.stages.pii.scanner import Finding, PiiScanner
from pipeline.stages.pii.stage import FINDING_DTYPE, hash_value, redact_pii, tag_pii

__all__ = [
    "ACTIONS",
    "FINDING_DTYPE",
    "PII_RULE",
    "Finding",
    "PiiConfig",
    "PiiScanner",
    "hash_value",
    "redact_pii",
    "tag_pii",
]
