"""Containing failures: one odd record never stops a build, and no error carries record text.

`guarded(fn, frame, stage=...)` runs a row-local stage function on a frame. When it raises
an unexpected exception, the frame is split in halves and each half retried, down to single
rows: the rows that fail alone become ledger rows (reason ``stage_error:<ExceptionType>``,
rule `GUARD_RULE`) and the others go on. Per-file stages must be row-local (a record's result
depends on that record only), so the split changes nothing for the rows that pass. When *every*
row fails, the stage itself is broken: that is an `InternalError` naming the stage, source,
file and first row, never the record.

`sanitized(name, fn, *args, **kwargs)` runs any stage call and turns an unexpected exception
into an `InternalError` whose message names the stage and the exception type only: exception
messages often quote the value that failed, and record text must not reach a console, a log,
Prefect's database or a pickled result. The original frames (file, line, code; no values) are
attached as a note, which ``--debug`` prints.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import polars as pl

from pipeline.errors import InternalError, MixgateError
from pipeline.faults import faulty
from pipeline.records.schemas import ledger_frame

GUARD_RULE = "stage_guard_v1"
_EXPECTED = (MixgateError, InternalError, KeyboardInterrupt, SystemExit, MemoryError)


def _frames(exc: BaseException) -> str:
    """The traceback's frames without the exception message (which may quote record text)."""
    return (
        "".join(traceback.format_tb(exc.__traceback__))
        + f"{type(exc).__name__}: (message withheld)"
    )


def _where(frame: pl.DataFrame, row: int = 0) -> str:
    if frame.height == 0 or "provenance" not in frame.columns:
        return ""
    prov = frame.get_column("provenance")[row]
    return f" (source `{prov['source']}`, file `{prov['file']}`, row {prov['row']})"


def guarded(
    fn: Callable[[pl.DataFrame], pl.DataFrame], frame: pl.DataFrame, *, stage: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Return ``(kept rows, fn(kept rows), ledger rows of the failing rows)``."""
    fn = faulty(fn, stage)
    try:
        return frame, fn(frame), ledger_frame([])
    except _EXPECTED:
        raise
    except Exception as exc:
        if frame.height <= 1:
            raise _internal(stage, frame, exc) from None
        failed: list[int] = []
        good = _bisect(fn, frame, 0, failed)
        if len(failed) == frame.height:
            raise _internal(stage, frame, exc) from None
        kind = type(exc).__name__
    bad = frame[failed]
    rows = [
        {
            "record_id": rid,
            "source": p["source"],
            "file": p["file"],
            "row": p["row"],
            "stage": stage,
            "rule_id": GUARD_RULE,
            "reason": f"stage_error:{kind}",
        }
        for rid, p in zip(bad.get_column("record_id"), bad.get_column("provenance"), strict=True)
    ]
    dropped = set(failed)
    kept = frame[[i for i in range(frame.height) if i not in dropped]] if good else frame.clear()
    return kept, fn(kept), ledger_frame(rows)


def _bisect(
    fn: Callable[[pl.DataFrame], Any], frame: pl.DataFrame, offset: int, failed: list[int]
) -> bool:
    """Collect the rows of `frame` that fail on their own into `failed`; True if any passed."""
    try:
        fn(frame)
        return True
    except _EXPECTED:
        raise
    except Exception:
        if frame.height == 1:
            failed.append(offset)
            return False
    half = frame.height // 2
    left = _bisect(fn, frame[:half], offset, failed)
    right = _bisect(fn, frame[half:], offset + half, failed)
    return left or right


def _internal(stage: str, frame: pl.DataFrame, exc: BaseException) -> InternalError:
    error = InternalError(f"stage `{stage}` failed{_where(frame)}: {type(exc).__name__}")
    error.add_note(_frames(exc))
    return error


def sanitized(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run `fn`; an unexpected exception becomes an `InternalError` without its message."""
    try:
        return fn(*args, **kwargs)
    except _EXPECTED:
        raise
    except Exception as exc:
        error = InternalError(f"stage `{name}` failed: {type(exc).__name__} (record text withheld)")
        error.add_note(_frames(exc))
        raise error from None
