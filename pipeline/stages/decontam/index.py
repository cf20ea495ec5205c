"""The holdout side of decontamination: items, their normalized keys, and the on-disk index.

`HoldoutIndex` holds the holdout items' shingle sets as sorted ``(shingle hash, item)``
postings (the inverted index `pipeline.stages.decontam.match` looks fields up in), the exact-match
keys of items too short to have enough shingles, and is saved as Parquet keyed by the holdout
files' hashes and the shingling settings (`load_holdout_index`), so repeated audits reuse it.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import xxhash

from pipeline.stages.dedup.minhash import MinHashConfig, compute_shingle_sets
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

_SENTENCE = re.compile(r"[.!?;:\n]+")
_KEY_JUNK = re.compile(r"[^\w.!?;:\n]+")  # runs of characters that are neither word nor sentence end


@dataclass(frozen=True)
class DecontamConfig:
    """Parameters of holdout matching.

    Parameters
    ----------
    threshold
        Containment at or above which a field is contaminated by an item; 0.55 is measured
        in docs/dedup.md (10%-edited copies score >= 0.54, unrelated GSM8K pairs <= 0.51).
    shingles
        Shingling: word 3-grams by default (only ``unit`` and ``n`` matter: no signatures).
    template_max_df
        Item shingles shared by more than this many items of a holdout index are ignored.
    min_item_shingles
        Items with fewer (non-template) shingles only match exactly (a whole field or one
        sentence): one or two 3-grams such as "who are you" are too common to be evidence.
    """

    threshold: float = 0.55
    shingles: MinHashConfig = field(default_factory=lambda: MinHashConfig(n=3))
    template_max_df: int = 50
    min_item_shingles: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            msg = f"`threshold` must be in (0, 1]; got {self.threshold!r}"
            raise ConfigError(msg)
        if self.template_max_df < 1:
            msg = f"`template_max_df` must be an integer >= 1; got {self.template_max_df!r}"
            raise ConfigError(msg)
        if self.min_item_shingles < 1:
            msg = f"`min_item_shingles` must be an integer >= 1; got {self.min_item_shingles!r}"
            raise ConfigError(msg)

    @property
    def slug(self) -> str:
        """Identify the matching rule, e.g. ``decontam_c0.55_word3_df50_min3_v1``."""
        return f"decontam_c{self.threshold:.2f}_{shingle_slug(self)}"


class HoldoutItem(NamedTuple):
    """One evaluation item: holdout name, file, 0-based row, and its (joined) text."""

    holdout: str
    file: str
    row: int
    text: str


def _ascii_key_table() -> bytes:
    """Map ASCII bytes that are neither word characters nor sentence ends to a space."""
    keep = {ord(c) for c in ".!?;:\n"}
    return bytes(
        c if c >= 128 or chr(c).isalnum() or c == 95 or c in keep else 32 for c in range(256)
    )


_ASCII_KEY_TABLE = _ascii_key_table()
_SENTENCE_BYTES = re.compile(rb"[.!?;:\n]+")


def _key_parts(text: str) -> list[str]:
    """Return the token strings of each sentence of `text` (normalized, punctuation-free)."""
    if text.isascii():
        pieces = _SENTENCE_BYTES.split(text.lower().encode("ascii").translate(_ASCII_KEY_TABLE))
        return [key for key in (b" ".join(p.split()).decode("ascii") for p in pieces) if key]
    low = unicodedata.normalize("NFKC", text).casefold()
    return [
        part
        for part in (" ".join(p.split()) for p in _SENTENCE.split(_KEY_JUNK.sub(" ", low)))
        if part
    ]


def token_key(text: str) -> str:
    """Return the normalized, punctuation-free token string used for exact matching.

    >>> token_key("  Who ARE you?? ")
    'who are you'
    """
    return " ".join(_key_parts(text))


def sentence_keys(text: str) -> set[str]:
    """Return the token strings of the whole text and of each of its sentences."""
    parts = _key_parts(text)
    return {" ".join(parts), *parts}


@dataclass(frozen=True)
class HoldoutIndex:
    """Holdout items with their shingle postings, ready for `find_contamination`.

    ``sizes[i]`` is the number of (non-template) shingles of item ``i``; ``post_hash`` (sorted)
    and ``post_item`` are the postings. ``exact_keys`` maps the token string of every
    exact-only item to its indices. ``exact_post_*`` hold the *unguarded* shingles of the
    exact-only items with at least ``n`` tokens and ``exact_sizes`` their counts: a field can
    equal such an item (or have a sentence that does) only if it contains all of them, which
    selects the few fields whose sentences are compared. Items under ``n`` tokens are
    ``tiny_keys``: every field is compared with them.
    """

    items: tuple[HoldoutItem, ...]
    sizes: np.ndarray
    post_hash: np.ndarray
    post_item: np.ndarray
    exact_keys: dict[str, list[int]]
    exact_sizes: np.ndarray
    exact_post_hash: np.ndarray
    exact_post_item: np.ndarray
    tiny_keys: frozenset[str]
    shingle_slug: str
    loaded_from_cache: bool = False

    @classmethod
    def build(cls, items: Sequence[HoldoutItem], *, config: DecontamConfig) -> HoldoutIndex:
        """Shingle every item, apply the holdout template guard and sort the postings."""
        items = tuple(items)
        sets = compute_shingle_sets([it.text for it in items], config=config.shingles)
        doc_ids = sets.doc_ids()
        values, counts = np.unique(sets.hashes, return_counts=True)
        common = values[counts > config.template_max_df]
        keep = (
            ~np.isin(sets.hashes, common) if len(common) else np.ones(len(sets.hashes), dtype=bool)
        )
        sizes = np.bincount(doc_ids[keep], minlength=len(items)).astype(np.int64)
        keep &= sizes[doc_ids] >= config.min_item_shingles
        sizes[sizes < config.min_item_shingles] = 0
        exact: dict[str, list[int]] = {}
        tiny: set[str] = set()
        for i in np.flatnonzero(sizes == 0).tolist():
            key = token_key(items[i].text)
            if key:
                exact.setdefault(key, []).append(i)
                if len(key.split(" ")) < config.shingles.n:
                    tiny.add(key)
        exact_item = np.zeros(len(items), dtype=bool)
        exact_item[[i for idx in exact.values() for i in idx]] = True
        exact_sizes = np.where(exact_item, sets.sizes, 0)
        logger.info(
            "holdout index: %d items, %d postings, %d template shingles ignored, "
            "%d exact-only items",
            len(items),
            int(keep.sum()),
            len(common),
            int(exact_item.sum()),
        )
        post_hash, post_item = _postings(sets.hashes[keep], doc_ids[keep])
        exact_hash, exact_post = _postings(
            sets.hashes[exact_item[doc_ids]], doc_ids[exact_item[doc_ids]]
        )
        return cls(
            items=items,
            sizes=sizes,
            post_hash=post_hash,
            post_item=post_item,
            exact_keys=exact,
            exact_sizes=exact_sizes,
            exact_post_hash=exact_hash,
            exact_post_item=exact_post,
            tiny_keys=frozenset(tiny),
            shingle_slug=shingle_slug(config),
        )

    def save(self, directory: Path) -> None:
        """Write the index as ``items.parquet`` and ``postings.parquet`` under `directory`."""
        tmp = directory.with_name(directory.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        exact_of = {i: key for key, idx in self.exact_keys.items() for i in idx}
        pl.DataFrame(
            {
                "holdout": [it.holdout for it in self.items],
                "file": [it.file for it in self.items],
                "row": [it.row for it in self.items],
                "text": [it.text for it in self.items],
                "size": self.sizes,
                "exact_size": self.exact_sizes,
                "exact_key": [exact_of.get(i) for i in range(len(self.items))],
                "tiny": [exact_of.get(i) in self.tiny_keys for i in range(len(self.items))],
            },
            schema={
                "holdout": pl.String,
                "file": pl.String,
                "row": pl.Int64,
                "text": pl.String,
                "size": pl.Int64,
                "exact_size": pl.Int64,
                "exact_key": pl.String,
                "tiny": pl.Boolean,
            },
        ).with_columns(pl.lit(self.shingle_slug).alias("shingle_slug")).write_parquet(
            tmp / "items.parquet"
        )
        pl.concat(
            [
                pl.DataFrame({"hash": self.post_hash, "item": self.post_item, "exact": False}),
                pl.DataFrame(
                    {"hash": self.exact_post_hash, "item": self.exact_post_item, "exact": True}
                ),
            ]
        ).write_parquet(tmp / "postings.parquet")
        tmp.replace(directory)

    @classmethod
    def load(cls, directory: Path) -> HoldoutIndex:
        """Read an index written by `save`."""
        items = pl.read_parquet(directory / "items.parquet")
        postings = pl.read_parquet(directory / "postings.parquet")
        regular, exact_postings = (
            postings.filter(~pl.col("exact")),
            postings.filter(pl.col("exact")),
        )
        exact: dict[str, list[int]] = {}
        for i, key in enumerate(items["exact_key"].to_list()):
            if key is not None:
                exact.setdefault(key, []).append(i)
        tiny = items.filter(pl.col("tiny"))["exact_key"].to_list()
        return cls(
            items=tuple(
                HoldoutItem(*row)
                for row in items.select("holdout", "file", "row", "text").iter_rows()
            ),
            sizes=items["size"].to_numpy(),
            post_hash=regular["hash"].to_numpy(),
            post_item=regular["item"].to_numpy(),
            exact_keys=exact,
            exact_sizes=items["exact_size"].to_numpy(),
            exact_post_hash=exact_postings["hash"].to_numpy(),
            exact_post_item=exact_postings["item"].to_numpy(),
            tiny_keys=frozenset(tiny),
            shingle_slug=items["shingle_slug"][0] if items.height else "",
            loaded_from_cache=True,
        )


def _postings(hashes: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (hashes, items) sorted by hash, items as uint32."""
    order = np.argsort(hashes, kind="stable")
    return hashes[order], items[order].astype(np.uint32)


def load_holdout_index(
    read_items: Callable[[], Sequence[HoldoutItem]],
    *,
    digests: Sequence[str],
    config: DecontamConfig,
    cache_dir: Path | None,
) -> HoldoutIndex:
    """Return the cached index for (`digests`, shingling) from `cache_dir`, or build and cache it.

    `digests` identify the holdout content (the files' sha256s plus the field selection);
    `read_items` is only called when the cache has no entry.
    """
    if cache_dir is None:
        return HoldoutIndex.build(read_items(), config=config)
    payload = json.dumps({"digests": sorted(digests), "shingles": shingle_slug(config)})
    directory = Path(cache_dir) / f"holdout-{xxhash.xxh3_128_hexdigest(payload.encode())}"
    if (directory / "postings.parquet").exists():
        logger.info("holdout index loaded from %s", directory)
        return HoldoutIndex.load(directory)
    index = HoldoutIndex.build(read_items(), config=config)
    index.save(directory)
    return index


def shingle_slug(config: DecontamConfig) -> str:
    s = config.shingles
    return f"{s.unit}{s.n}_df{config.template_max_df}_min{config.min_item_shingles}_v1"
