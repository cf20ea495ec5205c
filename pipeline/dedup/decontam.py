"""Decontamination: find evaluation holdout items inside training text fields.

Score: **containment** of a holdout item in one text field,
``|shingles(item) & shingles(field)| / |shingles(item)|``, on exact (hashed) shingle sets.

Candidate generation is an inverted index over the holdout side (small): sorted
``(shingle hash, item)`` postings. Every shingle of a field is looked up with
``np.searchsorted``; the hits, counted per ``(field, item)``, *are* the exact intersection sizes,
so every reported score is exact and nothing is estimated. Containment is asymmetric (a short
item inside a long field), which Jaccard LSH cannot find; the postings can.

Holdout template guard: shingles shared by more than ``template_max_df`` items of one index
(e.g. "write a python function that") are left out of the item sets. This also bounds the work
per field shingle to ``template_max_df`` postings.

Items with fewer than ``min_item_shingles`` shingles left (short, e.g. "Who are you?", or
mostly template) match by exact equality of their token string (normalized, punctuation-free)
with a whole
field or with one sentence of it (method ``exact``).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import xxhash

from pipeline.dedup.minhash import MinHashConfig, ShingleSets, compute_shingle_sets
from pipeline.errors import ConfigError
from pipeline.schemas import iter_text_fields

logger = logging.getLogger(__name__)

RULE_ID = "decontam_v1"
REASON = "contaminated"
_SENTENCE = re.compile(r"[.!?;:\n]+")
_KEY_JUNK = re.compile(
    r"[^\w.!?;:\n]+"
)  # runs of characters that are neither word nor sentence end
_HASH_BITS = 52  # shingle hashes from `compute_shingle_sets` are 52-bit
_PRESENCE_BITS = 22
_MAX_PAIRS = 8_000_000  # postings expanded at once; bounds memory per chunk of fields


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
        return f"decontam_c{self.threshold:.2f}_{_shingle_slug(self)}"


class HoldoutItem(NamedTuple):
    """One evaluation item: holdout name, file, 0-based row, and its (joined) text."""

    holdout: str
    file: str
    row: int
    text: str


class Finding(NamedTuple):
    """One field of one training record found to contain one holdout item."""

    record: int  # position of the record in the caller's sequence
    field: str
    holdout: str
    holdout_file: str
    holdout_row: int
    score: float
    method: str  # "containment" | "exact"


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


def _sentence_keys(text: str) -> set[str]:
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
            shingle_slug=_shingle_slug(config),
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
    payload = json.dumps({"digests": sorted(digests), "shingles": _shingle_slug(config)})
    directory = Path(cache_dir) / f"holdout-{xxhash.xxh3_128_hexdigest(payload.encode())}"
    if (directory / "postings.parquet").exists():
        logger.info("holdout index loaded from %s", directory)
        return HoldoutIndex.load(directory)
    index = HoldoutIndex.build(read_items(), config=config)
    index.save(directory)
    return index


def _count_pairs(
    field_sets: ShingleSets, post_hash: np.ndarray, post_item: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (field, item, shared shingle count) for every pair sharing a posting."""
    # a 2**22-bit presence map of the postings' top bits rules out most field shingles cheaply
    present = np.zeros(1 << _PRESENCE_BITS, dtype=bool)
    present[post_hash >> np.uint64(_HASH_BITS - _PRESENCE_BITS)] = True
    maybe = np.flatnonzero(present[field_sets.hashes >> np.uint64(_HASH_BITS - _PRESENCE_BITS)])
    needles = field_sets.hashes[maybe]
    lo = np.searchsorted(post_hash, needles, side="left")
    hi = np.searchsorted(post_hash, needles, side="right")
    counts = hi - lo
    hit = counts > 0
    if not hit.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    lo, counts, fields = lo[hit], counts[hit], field_sets.doc_ids()[maybe[hit]]
    total = int(counts.sum())
    first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    items = post_item[first + np.arange(total)].astype(np.int64)
    keys, shared = np.unique(np.repeat(fields, counts) * n_items + items, return_counts=True)
    return keys // n_items, keys % n_items, shared


def _chunks(sizes: np.ndarray, budget: int) -> Iterable[tuple[int, int]]:
    """Yield [lo, hi) ranges of fields whose shingle total stays within `budget` (at least 1)."""
    lo, acc = 0, 0
    for i, size in enumerate(sizes.tolist()):
        if acc and acc + size > budget:
            yield lo, i
            lo, acc = i, 0
        acc += size
    if lo < len(sizes):
        yield lo, len(sizes)


def find_contamination(
    fields: Sequence[tuple[int, str, str]], *, index: HoldoutIndex, config: DecontamConfig
) -> list[Finding]:
    """Return every (field, holdout item) match at or above ``config.threshold``.

    Parameters
    ----------
    fields
        ``(record, field name, text)`` triples; ``record`` is the caller's record key.
    index
        The holdout index (built with the same shingling, see `HoldoutIndex.config_slug`).
    config
        Threshold and shingling.
    """
    if index.shingle_slug != _shingle_slug(config):
        msg = (
            f"holdout index shingling `{index.shingle_slug}` differs from the config's "
            f"`{_shingle_slug(config)}`"
        )
        raise ConfigError(msg)
    findings: list[Finding] = []
    texts = [text for _, _, text in fields]
    budget = max(1, _MAX_PAIRS // max(1, config.template_max_df))
    n_items = len(index.items)
    exact_candidates: set[int] = set(range(len(fields))) if index.tiny_keys else set()
    for lo, hi in _chunks(np.array([len(t) // 4 + 1 for t in texts]), budget):
        sets = compute_shingle_sets(texts[lo:hi], config=config.shingles)
        f_idx, i_idx, shared = _count_pairs(sets, index.post_hash, index.post_item, n_items)
        scores = shared / np.maximum(index.sizes[i_idx], 1)
        for f, i, s in zip(f_idx.tolist(), i_idx.tolist(), scores.tolist(), strict=True):
            if s >= config.threshold:
                findings.append(_finding(fields[lo + f], index.items[i], s, "containment"))
        if index.exact_keys and not index.tiny_keys:
            f_idx, i_idx, shared = _count_pairs(
                sets, index.exact_post_hash, index.exact_post_item, n_items
            )
            exact_candidates.update((lo + f_idx[shared == index.exact_sizes[i_idx]]).tolist())
    for fi in sorted(exact_candidates):
        for key in _sentence_keys(fields[fi][2]) & index.exact_keys.keys():
            findings.extend(
                _finding(fields[fi], index.items[i], 1.0, "exact") for i in index.exact_keys[key]
            )
    return findings


def _finding(
    record_field: tuple[int, str, str], item: HoldoutItem, score: float, method: str
) -> Finding:
    record, name, _ = record_field
    return Finding(record, name, item.holdout, item.file, item.row, float(score), method)


def _shingle_slug(config: DecontamConfig) -> str:
    s = config.shingles
    return f"{s.unit}{s.n}_df{config.template_max_df}_min{config.min_item_shingles}_v1"


def _best_per_record(findings: Iterable[Finding]) -> dict[int, tuple[Finding, int]]:
    """Return, per record, its strongest finding (ties: lowest holdout, row) and finding count."""
    best: dict[int, tuple[Finding, int]] = {}
    for f in findings:
        current = best.get(f.record)
        count = current[1] + 1 if current else 1
        if current is None or (-f.score, f.holdout, f.holdout_row, f.field) < (
            -current[0].score,
            current[0].holdout,
            current[0].holdout_row,
            current[0].field,
        ):
            best[f.record] = (f, count)
        else:
            best[f.record] = (current[0], count)
    return best


def tag_contamination(
    frame: pl.DataFrame, *, index: HoldoutIndex, config: DecontamConfig
) -> pl.DataFrame:
    """Add ``decontam_*`` columns: which holdout item (if any) each record contains.

    Every text field of a record (`iter_text_fields`) is matched separately; a record with any
    finding gets ``decontam_drop_rule = "decontam_v1"``, its strongest finding in
    ``decontam_holdout``, ``decontam_holdout_row``, ``decontam_score``, and JSON
    ``decontam_detail`` (field, method, holdout file, number of findings). Other rows get nulls.
    """
    columns = [c for c in ("messages", "chosen", "rejected") if c in frame.columns]
    fields = [
        (i, name, text)
        for i, record in enumerate(frame.select(columns).iter_rows(named=True))
        for name, text in iter_text_fields(record)
    ]
    best = _best_per_record(find_contamination(fields, index=index, config=config))
    rows = [best.get(i) for i in range(frame.height)]
    detail = [
        json.dumps(
            {
                "field": b[0].field,
                "method": b[0].method,
                "holdout_file": b[0].holdout_file,
                "findings": b[1],
            },
            sort_keys=True,
        )
        if b
        else None
        for b in rows
    ]
    return frame.with_columns(
        pl.Series("decontam_drop_rule", [RULE_ID if b else None for b in rows], dtype=pl.String),
        pl.Series("decontam_drop_reason", [REASON if b else None for b in rows], dtype=pl.String),
        pl.Series("decontam_holdout", [b[0].holdout if b else None for b in rows], dtype=pl.String),
        pl.Series(
            "decontam_holdout_row", [b[0].holdout_row if b else None for b in rows], dtype=pl.Int64
        ),
        pl.Series("decontam_score", [b[0].score if b else None for b in rows], dtype=pl.Float64),
        pl.Series("decontam_detail", detail, dtype=pl.String),
    )
