"""The holdout side of decontamination: the match config, the shingle postings, the on-disk index.

`HoldoutIndex` holds every holdout item's word shingles as sorted ``(shingle hash, item)``
postings (the inverted index `pipeline.stages.decontam.match` looks fields up in) and, per item,
the fewest shared shingles a field needs before the match rule is worth asking
(`MatchRule.min_shared`). Nothing is left out of an item: no document frequency is counted, so
an item's verdict never depends on which other holdouts share the index. The index is saved as
Parquet keyed by the holdout files' hashes, the field selection and the config
(`load_holdout_index`), so repeated audits reuse it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from pipeline.errors import ConfigError
from pipeline.stages.decontam.evidence import MatchRule
from pipeline.stages.decontam.holdouts import HoldoutFile, HoldoutItem, collect_items
from pipeline.stages.decontam.screen import ItemTable, item_table
from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets

HASH_BITS = 52  # shingle hashes from `compute_shingle_sets` are 52-bit
PRESENCE_BITS = 22  # `HoldoutIndex.presence`: 2**22 booleans (4 MB)

logger = logging.getLogger(__name__)

__all__ = ["DecontamConfig", "HoldoutIndex", "HoldoutItem", "load_holdout_index", "shingle_slug"]


@dataclass(frozen=True)
class DecontamConfig:
    """Parameters of holdout matching (the rule is `pipeline.stages.decontam.evidence`).

    Parameters
    ----------
    threshold
        Containment at or above which a long item matches; 0.55 is measured in docs/dedup.md.
    shingles
        Shingling of the candidate index: word 3-grams (only ``unit`` and ``n`` matter).
    exact_below_words
        Items with fewer words match only a whole field or a whole line (8: "What do you think
        about ChatGPT?" must not match "What do you think about black people?").
    aligned_below_words
        Items with fewer words (and not exact) match by word alignment with at most
        ``edit_rate`` of their words edited; longer items also match by containment.
    edit_rate
        Share of an item's words that may differ in an aligned match (at least one word).
    max_gap
        Longest run of consecutive item shingles a containment match may miss.
    """

    threshold: float = 0.55
    shingles: MinHashConfig = field(default_factory=lambda: MinHashConfig(n=3))
    exact_below_words: int = 8
    aligned_below_words: int = 30
    edit_rate: float = 0.1
    max_gap: int = 6

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            msg = f"`threshold` must be in (0, 1]; got {self.threshold!r}"
            raise ConfigError(msg)
        if self.shingles.unit != "word":
            msg = f"`shingles.unit` must be 'word' for decontamination; got {self.shingles.unit!r}"
            raise ConfigError(msg)
        _ = self.rule  # the rule validates its own fields

    @property
    def rule(self) -> MatchRule:
        """Return the match rule these settings describe."""
        return MatchRule(
            threshold=self.threshold,
            n=self.shingles.n,
            exact_below_words=self.exact_below_words,
            aligned_below_words=self.aligned_below_words,
            edit_rate=self.edit_rate,
            max_gap=self.max_gap,
        )

    @property
    def slug(self) -> str:
        """Identify the matching rule, e.g. ``decontam_c0.55_word3_x8_a30_e0.10_g6_v2``."""
        return (
            f"decontam_c{self.threshold:.2f}_{self.shingles.unit}{self.shingles.n}_"
            f"x{self.exact_below_words}_a{self.aligned_below_words}_e{self.edit_rate:.2f}_"
            f"g{self.max_gap}_v2"
        )


@dataclass(frozen=True)
class HoldoutIndex:
    """Holdout items with their shingle postings, ready for `find_contamination`.

    ``sizes[i]`` is the number of distinct shingles of item ``i`` and ``need[i]`` the fewest a
    field must share with it to be judged; ``post_hash`` (sorted) and ``post_item`` are the
    postings; ``max_postings`` is the longest posting list of one hash (it bounds the work per
    field shingle). ``files`` are the holdout files' summaries (`HoldoutFile.summary`: fields
    used, items, unreadable rows), kept with a cached index.
    """

    items: tuple[HoldoutItem, ...]
    sizes: np.ndarray
    need: np.ndarray
    post_hash: np.ndarray
    post_item: np.ndarray
    shingle_slug: str
    files: tuple[dict[str, Any], ...] = ()
    loaded_from_cache: bool = False

    @cached_property
    def presence(self) -> np.ndarray:
        """Which top `PRESENCE_BITS` bits of a hash some posting has (rules out most field
        shingles before a binary search). Built once per index, not per chunk of fields."""
        present = np.zeros(1 << PRESENCE_BITS, dtype=bool)
        present[self.post_hash >> np.uint64(HASH_BITS - PRESENCE_BITS)] = True
        return present

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the presence map (4 MB; rebuilt in ~1 ms where it is used) and the
        item table (filled where it is used)."""
        state = dict(self.__dict__)
        state.pop("presence", None)
        state.pop("_item_table", None)
        return state

    def item_table(self, rule: MatchRule) -> ItemTable:
        """Return the screen's description of the items (`pipeline.stages.decontam.screen`),
        kept with the index so each item is described once per process, not per shard."""
        table = self.__dict__.get("_item_table")
        if table is None or table.rule != rule:
            table = item_table([it.text for it in self.items], rule)
            self.__dict__["_item_table"] = table  # a cache, as `cached_property` stores one
        return table

    @cached_property
    def max_postings(self) -> int:
        """Return the longest run of equal hashes in the postings (1 if empty)."""
        if len(self.post_hash) == 0:
            return 1
        _, counts = np.unique(self.post_hash, return_counts=True)
        return int(counts.max())

    @classmethod
    def build(
        cls,
        items: Sequence[HoldoutItem],
        *,
        config: DecontamConfig,
        files: Sequence[dict[str, Any]] = (),
    ) -> HoldoutIndex:
        """Shingle every item and sort the postings."""
        items = tuple(items)
        sets = compute_shingle_sets([it.text for it in items], config=config.shingles)
        rule = config.rule
        need = np.array(
            [
                rule.min_shared(len(it.text.split()), int(s))
                for it, s in zip(items, sets.sizes, strict=True)
            ],
            dtype=np.int64,
        )
        post_hash, post_item = _postings(sets.hashes, sets.doc_ids())
        logger.info("holdout index: %d items, %d postings", len(items), len(post_hash))
        return cls(
            items=items,
            sizes=sets.sizes.astype(np.int64),
            need=need,
            post_hash=post_hash,
            post_item=post_item,
            shingle_slug=shingle_slug(config),
            files=tuple(files),
        )

    def save(self, directory: Path) -> None:
        """Write the index as ``items.parquet`` and ``postings.parquet`` under `directory`.

        The files go to a uniquely named hidden sibling that is renamed into place, so a reader
        never sees a partial index, and two processes saving the same index at once both
        succeed (the first rename wins; the other's copy is removed).
        """
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent)
        )
        try:
            self._write(tmp)
            os.rename(tmp, directory)
        except OSError:
            if not (directory / "postings.parquet").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _write(self, tmp: Path) -> None:
        import polars as pl  # here: `mixgate audit --no-cache` never pays for importing polars

        pl.DataFrame(
            {
                "holdout": [it.holdout for it in self.items],
                "file": [it.file for it in self.items],
                "row": [it.row for it in self.items],
                "text": [it.text for it in self.items],
                "turn": [it.turn for it in self.items],
                "size": self.sizes,
                "need": self.need,
            },
            schema={
                "holdout": pl.String,
                "file": pl.String,
                "row": pl.Int64,
                "text": pl.String,
                "turn": pl.Int64,
                "size": pl.Int64,
                "need": pl.Int64,
            },
        ).with_columns(pl.lit(self.shingle_slug).alias("shingle_slug")).write_parquet(
            tmp / "items.parquet"
        )
        pl.DataFrame({"hash": self.post_hash, "item": self.post_item}).write_parquet(
            tmp / "postings.parquet"
        )
        (tmp / "files.json").write_text(json.dumps(list(self.files), sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> HoldoutIndex:
        """Read an index written by `save`."""
        import polars as pl

        items = pl.read_parquet(directory / "items.parquet")
        postings = pl.read_parquet(directory / "postings.parquet")
        return cls(
            items=tuple(
                HoldoutItem(*row)
                for row in items.select("holdout", "file", "row", "text", "turn").iter_rows()
            ),
            sizes=items["size"].to_numpy(),
            need=items["need"].to_numpy(),
            post_hash=postings["hash"].to_numpy(),
            post_item=postings["item"].to_numpy(),
            shingle_slug=items["shingle_slug"][0] if items.height else "",
            files=tuple(json.loads((directory / "files.json").read_text())),
            loaded_from_cache=True,
        )


def _postings(hashes: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (hashes, items) sorted by hash, items as uint32."""
    order = np.argsort(hashes, kind="stable")
    return hashes[order], items[order].astype(np.uint32)


def load_holdout_index(
    read_files: Callable[[], Sequence[HoldoutFile]],
    *,
    digests: Sequence[str],
    config: DecontamConfig,
    cache_dir: Path | None,
) -> HoldoutIndex:
    """Return the cached index for (`digests`, config) from `cache_dir`, or build and cache it.

    `digests` identify the holdout content (the files' sha256s plus the field selection);
    `read_files` is only called when the cache has no entry.
    """
    if cache_dir is not None:
        payload = json.dumps({"digests": sorted(digests), "config": config.slug})
        directory = Path(cache_dir) / f"holdout-{xxhash.xxh3_128_hexdigest(payload.encode())}"
        if (directory / "files.json").exists():
            logger.info("holdout index loaded from %s", directory)
            return HoldoutIndex.load(directory)
    files = read_files()
    index = HoldoutIndex.build(
        collect_items(files), config=config, files=[f.summary() for f in files]
    )
    if cache_dir is not None:
        index.save(directory)
    return index


def shingle_slug(config: DecontamConfig) -> str:
    """Identify what an index depends on: the config slug (shingling and the rule's prefilter)."""
    return config.slug
