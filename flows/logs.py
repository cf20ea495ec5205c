"""Console logging for the CLI: an expected mixgate error is one line, not a Prefect traceback.

When a stage raises a `pipeline.errors.MixgateError` inside a task, Prefect logs the task's and
the flow's failure with full tracebacks. The CLI already prints the error as one line, so
`quiet_expected_errors` drops those records *from the console only*; Prefect's API handler still
receives them, so the run's logs in the UI keep the full story. The same holds for an
`InternalError`: the CLI prints it as one line with exit code 3 (``--debug`` adds the frames),
and stage calls turn every unexpected exception into one (`pipeline.build.guard.sanitized`), so
a bug is never a 100-line Prefect dump on the console either.
"""

from __future__ import annotations

import logging

from pipeline import errors

_QUIET = (errors.MixgateError, errors.InternalError)
_NAMES = tuple(
    name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, _QUIET)
)


class ExpectedErrorFilter(logging.Filter):
    """Reject Prefect run-failure records caused by a `MixgateError`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for run-failure records about an expected mixgate error."""
        if not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
            return True
        if record.exc_info and isinstance(record.exc_info[1], _QUIET):
            return False
        message = record.getMessage()
        return not any(f"{name}(" in message or f"{name}:" in message for name in _NAMES)


def quiet_expected_errors() -> None:
    """Attach `ExpectedErrorFilter` to the console handlers Prefect installed on the root logger."""
    from prefect.logging.configuration import setup_logging
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    if not any(isinstance(h, PrefectConsoleHandler) for h in root.handlers):
        setup_logging()
    for handler in root.handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, ExpectedErrorFilter) for f in handler.filters
        ):
            handler.addFilter(ExpectedErrorFilter())
