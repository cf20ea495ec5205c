"""Shingle document frequency in fixed memory: a count-min sketch, and the template guard on it.

The near-dedup template guard ignores shingles found in more than ``max_df`` documents. Exact
frequencies need a table as large as the vocabulary of shingles (O(dataset)); a count-min
sketch needs ``depth x width`` counters, adds up across shards (the sketch of a union is the
sum of the sketches) and never under-counts. Its estimate exceeds the true count only when
every one of the ``depth`` counters of a shingle is shared with other frequent shingles; near
dedup sizes the width for ~32 occurrences per counter (`pipeline.stages.dedup.near.sketch_for`: 16 MiB
at 250 k records, 64 MiB at 1 M), far below a ``max_df`` of 100.

Both near-dedup paths (in memory and sharded) use this sketch, so they make the same decisions.
Counter ``d`` of a hash ``h`` is ``(a_d * h mod 2**64) >> (64 - width_bits)`` (multiply-shift,
odd ``a_d`` from PCG64): stable across library versions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError, InternalError


@dataclass(frozen=True)
class SketchConfig:
    """Shape and seed of a count-min sketch.

    Parameters
    ----------
    depth
        Number of hash rows (the estimate is the minimum over them).
    width_bits
        Each row has ``2**width_bits`` uint32 counters.
    seed
        Seed of the row multipliers.
    """

    depth: int = 4
    width_bits: int = 21
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or not 1 <= self.depth <= 16:
            msg = f"`depth` must be an integer in [1, 16]; got {self.depth!r}"
            raise ConfigError(msg)
        if not isinstance(self.width_bits, int) or not 8 <= self.width_bits <= 30:
            msg = f"`width_bits` must be an integer in [8, 30]; got {self.width_bits!r}"
            raise ConfigError(msg)

    @property
    def shape(self) -> tuple[int, int]:
        """``(depth, width)`` of the counter array."""
        return self.depth, 1 << self.width_bits


DEFAULT_SKETCH = SketchConfig()


@functools.lru_cache(maxsize=16)
def _multipliers(seed: int, depth: int) -> np.ndarray:
    """Return the odd uint64 multiplier of every row (read-only: shared by the calls)."""
    a = np.asarray(np.random.PCG64(seed).random_raw(depth), dtype=np.uint64) | np.uint64(1)
    a.flags.writeable = False
    return a


def _cells(hashes: np.ndarray, config: SketchConfig, row: int) -> np.ndarray:
    """Return the counter index (int64) of every hash in one row of the sketch.

    The shifted products are below ``2**30``, so their uint64 bits are the int64 values: a
    view, not a converted copy.
    """
    cells = hashes * _multipliers(config.seed, config.depth)[row]
    cells >>= np.uint64(64 - config.width_bits)
    return cells.view(np.int64)


def empty_sketch(config: SketchConfig = DEFAULT_SKETCH) -> np.ndarray:
    """Return an all-zero ``(depth, width)`` uint32 sketch."""
    return np.zeros(config.shape, dtype=np.uint32)


def count_hashes(
    hashes: np.ndarray, *, config: SketchConfig = DEFAULT_SKETCH, out: np.ndarray | None = None
) -> np.ndarray:
    """Return the sketch of a multiset of uint64 hashes (one occurrence per element).

    For document frequencies, pass every document's *distinct* shingles (`ShingleSets.hashes`).
    With `out` (a sketch of `config`'s shape), the counts are added to it in place and it is
    returned: sketches add up, and at 10 M records one is 1 GiB, so a task summing many shards
    keeps one, not one per shard.

    >>> config = SketchConfig(width_bits=8)
    >>> total = count_hashes(np.arange(5, dtype=np.uint64), config=config)
    >>> more = count_hashes(np.arange(5, 9, dtype=np.uint64), config=config, out=total)
    >>> more is total, int(total.sum()) == 4 * 9
    (True, True)
    """
    depth, width = config.shape
    if out is not None and out.shape != config.shape:
        msg = f"`out` must have shape {config.shape}; got {out.shape}"
        raise InternalError(msg)
    sketch = empty_sketch(config) if out is None else out
    if len(hashes) == 0:
        return sketch
    hashes = np.asarray(hashes, dtype=np.uint64)
    for d in range(depth):
        counts = np.bincount(_cells(hashes, config, d), minlength=width)
        np.add(sketch[d], counts, out=sketch[d], casting="unsafe")  # mod 2**32, as uint32 adds
    return sketch


def estimate_counts(
    sketch: np.ndarray, hashes: np.ndarray, *, config: SketchConfig = DEFAULT_SKETCH
) -> np.ndarray:
    """Return the count-min estimate (>= the true count) of every hash, as int64."""
    if sketch.shape != config.shape:
        msg = f"`sketch` must have shape {config.shape}; got {sketch.shape}"
        raise InternalError(msg)
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.int64)
    hashes = np.asarray(hashes, dtype=np.uint64)
    estimate = sketch[0][_cells(hashes, config, 0)]
    for d in range(1, config.depth):
        np.minimum(estimate, sketch[d][_cells(hashes, config, d)], out=estimate)
    return estimate.astype(np.int64)


def exceeds(
    sketch: np.ndarray, hashes: np.ndarray, limit: int, *, config: SketchConfig = DEFAULT_SKETCH
) -> np.ndarray:
    """Return whether the count-min estimate of every hash exceeds `limit` (bool array).

    Equal to ``estimate_counts(sketch, hashes, config=config) > limit`` (the minimum exceeds it
    when every row does), but each row after the first only looks at the hashes still above:
    the template guard's frequent shingles are few, so this reads ~1 row instead of `depth`.

    >>> config = SketchConfig(width_bits=8)
    >>> sketch = count_hashes(np.array([1, 1, 1, 2], dtype=np.uint64), config=config)
    >>> exceeds(sketch, np.array([1, 2, 3], dtype=np.uint64), 2, config=config).tolist()
    [True, False, False]
    """
    if sketch.shape != config.shape:
        msg = f"`sketch` must have shape {config.shape}; got {sketch.shape}"
        raise InternalError(msg)
    hashes = np.asarray(hashes, dtype=np.uint64)
    above = np.flatnonzero(sketch[0][_cells(hashes, config, 0)] > limit)
    for d in range(1, config.depth):
        if len(above) == 0:
            break
        above = above[sketch[d][_cells(hashes[above], config, d)] > limit]
    out = np.zeros(len(hashes), dtype=bool)
    out[above] = True
    return out
