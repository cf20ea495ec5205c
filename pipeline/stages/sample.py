"""Sampling a mixture by intent x difficulty slice, deterministically.

Rules (``sampler_v1``):

1. Each slice's quota is ``weight x total`` with largest-remainder rounding (ties go to the
   slice listed first), so the quotas sum to ``total`` exactly.
2. Inside a slice, records are ordered by ``xxh3_64(f"{seed}:{record_id}")`` (then record_id)
   and the quota is taken from the front. Upsampling walks the same order again, at most
   ``max_repeats`` times per record in all.
3. ``synthetic_max_share`` caps synthetic records at ``floor(share x total)``, split over the
   slices in proportion to their quotas (largest remainder); a slice skips synthetic records past
   its cap.
4. A slice whose capacity (eligible supply x max_repeats) is below its quota is short:
   ``error`` raises `ShortfallError`; ``allow_short`` keeps the shorter slice; ``redistribute``
   gives the missing records to the slices with spare capacity, in proportion to their weights,
   until the total is met or no capacity is left.
5. The output is ordered by ``xxh3_64(f"{seed}:{record_id}:{repeat}")``: a deterministic shuffle.

A record that is not chosen is not a drop: it was not sampled, and it is not in the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import xxhash

from pipeline.errors import ConfigError, ShortfallError

SAMPLER_RULE = "sampler_v1"
SHORTFALL_POLICIES = ("error", "redistribute", "allow_short")


@dataclass(frozen=True)
class SamplingConfig:
    """What the sampler needs from the spec."""

    seed: int
    total: int
    slices: tuple[tuple[str, str, float], ...]  # (intent, difficulty, weight), spec order
    max_repeats: int = 1
    shortfall: str = "error"
    synthetic_max_share: float | None = None

    def __post_init__(self) -> None:
        if self.total <= 0:
            msg = f"`total` must be a positive integer; got {self.total!r}"
            raise ConfigError(msg)
        if self.max_repeats < 1:
            msg = f"`sampling.max_repeats` must be >= 1; got {self.max_repeats!r}"
            raise ConfigError(msg)
        if self.shortfall not in SHORTFALL_POLICIES:
            msg = (
                f"`sampling.shortfall` must be one of {SHORTFALL_POLICIES}; got {self.shortfall!r}"
            )
            raise ConfigError(msg)
        if not self.slices or any(not (w > 0 and math.isfinite(w)) for *_, w in self.slices):
            msg = "`slices` must be non-empty with positive, finite weights"
            raise ConfigError(msg)
        share = self.synthetic_max_share
        if share is not None and not 0 <= share <= 1:
            msg = f"`sampling.synthetic_max_share` must be in [0, 1]; got {share!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class SliceResult:
    """One slice's numbers for the manifest."""

    intent: str
    difficulty: str
    weight: float
    supply: int
    quota: int
    target: int
    actual: int
    unique: int
    max_repeat: int


def largest_remainder(weights: list[float], total: int) -> list[int]:
    """Split `total` in proportion to `weights`; the parts sum to `total` exactly.

    >>> largest_remainder([1, 1, 1], 10)
    [4, 3, 3]
    """
    wsum = math.fsum(weights)
    if total <= 0 or wsum <= 0:
        return [0] * len(weights)
    exact = [w * total / wsum for w in weights]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _order_key(seed: int, record_id: str, repeat: int | None = None) -> int:
    text = f"{seed}:{record_id}" if repeat is None else f"{seed}:{record_id}:{repeat}"
    return xxhash.xxh3_64_intdigest(text.encode())


@dataclass(frozen=True)
class _SliceOrder:
    """One slice's records in the seeded hash order (numpy arrays, no per-record objects)."""

    ids: np.ndarray  # record_id strings (object array)
    synthetic: np.ndarray  # bool

    def picks(
        self, n: int, *, max_repeats: int, synth_cap: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions, repeats) of the first `n` picks, cycling up to `max_repeats`
        times; synthetic picks (repeats included) stop at `synth_cap`."""
        size = len(self.ids)
        position = np.tile(np.arange(size), max_repeats)
        repeat = np.repeat(np.arange(max_repeats), size)
        if synth_cap is not None:
            synth = np.tile(self.synthetic, max_repeats)
            allowed = ~synth | (np.cumsum(synth) <= synth_cap)
            position, repeat = position[allowed], repeat[allowed]
        return position[:n], repeat[:n]

    def capacity(self, *, max_repeats: int, synth_cap: int | None) -> int:
        """How many picks the slice can give."""
        synth = int(self.synthetic.sum())
        human = len(self.ids) - synth
        if synth_cap is None:
            return (human + synth) * max_repeats
        return human * max_repeats + min(synth * max_repeats, synth_cap)


def _slice_order(pool: pl.DataFrame, seed: int) -> _SliceOrder:
    """Order one slice's records by ``xxh3_64(f"{seed}:{record_id}")``, then record_id."""
    ids = pool.get_column("record_id")
    keys = np.fromiter((_order_key(seed, rid) for rid in ids), dtype=np.uint64, count=len(ids))
    ordered = pl.DataFrame(
        {"k": keys, "id": ids, "s": pool.get_column("kind") == "synthetic"}
    ).sort(["k", "id"])
    return _SliceOrder(ordered.get_column("id").to_numpy(), ordered.get_column("s").to_numpy())


def sample_mixture(
    pool: pl.DataFrame, *, config: SamplingConfig
) -> tuple[pl.DataFrame, list[SliceResult]]:
    """Return the sampled rows (with ``sample_repeat``) and each slice's numbers."""
    weights = [w for *_, w in config.slices]
    quotas = largest_remainder(weights, config.total)
    synth_caps: list[int | None] = [None] * len(quotas)
    if config.synthetic_max_share is not None:
        cap_total = math.floor(config.synthetic_max_share * config.total + 1e-9)
        synth_caps = list(largest_remainder([float(q) for q in quotas], cap_total))
    orders = []
    for intent, difficulty, _ in config.slices:
        part = pool.filter((pl.col("intent") == intent) & (pl.col("difficulty") == difficulty))
        orders.append(_slice_order(part, config.seed))
    caps = [
        o.capacity(max_repeats=config.max_repeats, synth_cap=c)
        for o, c in zip(orders, synth_caps, strict=True)
    ]
    targets = list(quotas)
    short = [i for i, (t, c) in enumerate(zip(targets, caps, strict=True)) if c < t]
    if short and config.shortfall == "error":
        raise _shortfall_error(short, targets, caps, orders, synth_caps, config)
    if short and config.shortfall == "redistribute":
        targets = _redistribute(targets, caps, weights)
    else:
        targets = [min(t, c) for t, c in zip(targets, caps, strict=True)]
    ids: list[np.ndarray] = []
    repeats: list[np.ndarray] = []
    results = []
    for i, (intent, difficulty, weight) in enumerate(config.slices):
        order = orders[i]
        position, repeat = order.picks(
            targets[i], max_repeats=config.max_repeats, synth_cap=synth_caps[i]
        )
        ids.append(order.ids[position])
        repeats.append(repeat)
        results.append(
            SliceResult(
                intent=intent,
                difficulty=difficulty,
                weight=weight,
                supply=len(order.ids),
                quota=quotas[i],
                target=targets[i],
                actual=len(position),
                unique=len(np.unique(position)),
                max_repeat=int(repeat.max()) + 1 if len(repeat) else 0,
            )
        )
    picked = _picked_frame(ids, repeats, config.seed)
    sampled = (
        picked.join(pool, on="record_id", how="left")
        .sort(["_order", "record_id", "sample_repeat"])
        .drop("_order")
    )
    return sampled, results


def _shortfall_error(
    short: list[int],
    targets: list[int],
    caps: list[int],
    orders: list[_SliceOrder],
    synth_caps: list[int | None],
    config: SamplingConfig,
) -> ShortfallError:
    """The one-line error naming every slice that cannot be filled and what would fill it."""
    details = ", ".join(
        f"{config.slices[i][0]}/{config.slices[i][1]} needs {targets[i]} has {caps[i]}"
        + _cap_note(orders[i], targets[i], synth_caps[i], config)
        for i in short
    )
    msg = (
        f"{len(short)} slice(s) cannot be filled ({details}); set `sampling.shortfall` to "
        "`redistribute` or `allow_short`, raise `sampling.max_repeats`, or add data"
    )
    return ShortfallError(msg)


def _picked_frame(ids: list[np.ndarray], repeats: list[np.ndarray], seed: int) -> pl.DataFrame:
    """The picked record ids with their repeat number and seeded output order (``_order``)."""
    picked_ids = np.concatenate(ids).tolist()
    picked_repeats = np.concatenate(repeats).tolist()
    return pl.DataFrame(
        {
            "record_id": picked_ids,
            "sample_repeat": picked_repeats,
            "_order": [
                _order_key(seed, rid, rep)
                for rid, rep in zip(picked_ids, picked_repeats, strict=True)
            ],
        },
        schema={"record_id": pl.String, "sample_repeat": pl.UInt32, "_order": pl.UInt64},
    )


def _cap_note(order: _SliceOrder, target: int, cap: int | None, config: SamplingConfig) -> str:
    """Say so when the synthetic cap, not the supply, makes a slice short."""
    if cap is None or order.capacity(max_repeats=config.max_repeats, synth_cap=None) < target:
        return ""
    synthetic = int(order.synthetic.sum())
    return (
        f" because of the synthetic cap: `sampling.synthetic_max_share` "
        f"{config.synthetic_max_share} allows {cap} synthetic records in this slice, it has "
        f"{synthetic} (of {len(order.ids)} records)"
    )


def _redistribute(quotas: list[int], caps: list[int], weights: list[float]) -> list[int]:
    """Move the shortfall of short slices to slices with spare capacity, in proportion to weight."""
    targets = [min(q, c) for q, c in zip(quotas, caps, strict=True)]
    missing = sum(quotas) - sum(targets)
    while missing > 0:
        spare = [i for i, (t, c) in enumerate(zip(targets, caps, strict=True)) if c > t]
        if not spare:
            break
        moved = 0
        for i, extra in zip(
            spare, largest_remainder([weights[i] for i in spare], missing), strict=True
        ):
            add = min(extra, caps[i] - targets[i])
            targets[i] += add
            moved += add
        missing -= moved
    return targets
