"""Fixtures of the PII tests."""

from __future__ import annotations

import pytest

from pipeline.stages.pii import PiiScanner


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    """The default scanner, one per test module (its engine is shared by the process)."""
    return PiiScanner()
