"""Errors, grouped by what the caller should do about them.

Hierarchy::

    MixgateError                 base of everything mixgate raises on purpose
    ├── ConfigError              the spec or a command-line option is wrong: fix it and re-run
    │   └── SpecError            a mixture spec failed validation (names the field path and value)
    ├── InputError               an input file cannot be used at all (missing, unreadable): fix the input
    │   └── InputChangedError    an input's sha256 differs from the one a manifest recorded
    ├── ShortfallError           a slice cannot be filled and the spec says `shortfall: error`
    └── IntegrityError           an output does not match its manifest (verify)

    InternalError                a broken invariant inside mixgate: a bug, not the user's input

`InternalError` is deliberately *not* a `MixgateError`: nothing the user changes in a spec or
an input fixes it, so the CLI reports it as a bug (exit code 3, one line; the traceback with
``--debug``) instead of as an error to fix (exit code 2).

Record-level problems are never raised: they become ledger rows with a stage and a reason.
Every message names the field, the allowed values and the value received, in one line.
"""

from __future__ import annotations

import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 2, 60, 60, 40
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 4


def short(value: object) -> str:
    """Return a bounded repr of `value` for an error message (never the whole of a huge value).

    >>> len(short("x" * 10_000))
    60
    >>> short(list(range(100)))
    '[0, 1, 2, 3, ...]'
    """
    return _SHORT.repr(value)


class MixgateError(Exception):
    """Base class: the CLI turns any of these into one line on stderr and exit code 2."""


class ConfigError(MixgateError, ValueError):
    """A user-supplied value (spec, option) is invalid; the message names it, the allowed values
    and the value got. Not for values that code inside mixgate computed: see `InternalError`.

    Also a `ValueError`, so that pydantic, validating a spec section, turns one raised by a
    config dataclass's ``__post_init__`` into an error at that field's key path."""


class SpecError(ConfigError):
    """A mixture spec failed validation."""


class InputError(MixgateError):
    """An input file is missing, empty of usable structure, or unreadable."""


class InputChangedError(InputError):
    """An input file's sha256 no longer matches the manifest being regenerated."""


class ShortfallError(MixgateError):
    """A slice has less supply than its quota and the spec asks to fail."""


class IntegrityError(MixgateError):
    """An output file differs from what its manifest recorded."""


class InternalError(RuntimeError):
    """A broken invariant: mixgate called itself wrongly (a missing column, a malformed key).

    Raised where a library function checks what another part of mixgate handed it. The CLI
    reports it as a bug (exit code 3).
    """
