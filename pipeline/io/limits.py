"""What reading one file may cost (`ReadLimits`) and how a failure is reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pipeline.errors import ConfigError, InputError


@dataclass(frozen=True)
class ReadLimits:
    """Resource guards for reading one input file (the spec's ``reading`` section).

    `max_record_bytes`: a JSONL line or a CSV record longer than this is one
    ``record_too_large`` ledger row (never held whole in memory); also the CSV field limit.
    `max_decompressed_bytes`: a gzip file stops there with a ``decompressed_too_large`` file
    issue (the rows before it are kept). `max_json_bytes`: a ``.json`` document is parsed whole,
    so a larger one is a ``json_file_too_large`` file issue (convert it to JSON Lines).
    `max_depth`: JSON nested deeper is ``nesting_too_deep``. `on_file_error`: ``skip`` records
    a whole-file problem as a file issue and goes on; ``fail`` stops the build.

    >>> ReadLimits().max_record_bytes
    16777216
    """

    max_record_bytes: int = 16 << 20
    max_decompressed_bytes: int = 4 << 30
    max_json_bytes: int = 512 << 20
    max_depth: int = 100
    on_file_error: Literal["skip", "fail"] = "skip"

    def __post_init__(self) -> None:
        for name in ("max_record_bytes", "max_decompressed_bytes", "max_json_bytes", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"`reading.{name}` must be a positive integer; got {str(value)[:40]!r}"
                raise ConfigError(msg)
        if self.on_file_error not in ("skip", "fail"):
            msg = f"`reading.on_file_error` must be one of skip, fail; got {str(self.on_file_error)[:40]!r}"
            raise ConfigError(msg)


DEFAULT_LIMITS = ReadLimits()


class RowError(NamedTuple):
    """A record that could not be read; `reason` is a ledger reason code."""

    reason: str


class FileReadError(InputError):
    """A file that cannot be read (on): `reason` is the ledger reason of its file issue."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


Row = tuple[int, "dict[str, Any] | RowError"]
