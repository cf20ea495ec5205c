"""Building the library's frozen config dataclasses from YAML mappings, strictly.

`config_from_mapping(cls, data, where="pii")` rejects unknown keys (naming the key path and the
allowed keys), builds nested config dataclasses, and turns YAML lists into the tuples the
dataclasses declare. Value checks stay where they belong: in each dataclass's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pipeline.errors import ConfigError

T = TypeVar("T")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        for option in options:  # prefer a structured option that fits the value's shape
            if dataclasses.is_dataclass(option) and isinstance(value, Mapping):
                return config_from_mapping(option, value, where=where)
            if typing.get_origin(option) in (tuple, Mapping, dict) or option in (tuple, dict):
                shaped = isinstance(value, Mapping) == (typing.get_origin(option) in (Mapping, dict))
                if shaped:
                    return _convert(option, value, where)
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            msg = f"`{where}` must be a mapping; got {value!r}"
            raise ConfigError(msg)
        return config_from_mapping(tp, value, where=where)
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            msg = f"`{where}` must be a mapping; got {value!r}"
            raise ConfigError(msg)
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            msg = f"`{where}` must be a list; got {value!r}"
            raise ConfigError(msg)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(value)
    return value


def config_from_mapping(cls: type[T], data: Mapping[str, Any] | None, *, where: str) -> T:
    """Build config dataclass `cls` from `data`; unknown keys are a one-line `ConfigError`."""
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        msg = f"`{where}` must be a mapping of keys; got {data!r}"
        raise ConfigError(msg)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        msg = f"`{where}.{unknown[0]}`: unknown key; allowed: {', '.join(sorted(fields))}"
        raise ConfigError(msg)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        msg = f"`{where}`: {exc}"
        raise ConfigError(msg) from None


def allowed_keys(cls: type) -> list[str]:
    """Return the keys a YAML section for `cls` may use."""
    return sorted(f.name for f in dataclasses.fields(cls) if f.init)
