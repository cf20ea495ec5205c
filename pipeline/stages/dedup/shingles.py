r"""Shingles: texts to tokens, token hashes and sets of n-gram hashes, vectorized over batches.

Shingling (identical for signatures, `pipeline.stages.dedup.minhash`, and for exact verification):

1. ``normalize_text`` (NFKC, casefold, whitespace collapsed).
2. Tokens: runs of word characters (``\w+``) for ``unit="word"``, single characters of the
   normalized text for ``unit="char"``. Punctuation is therefore not part of word shingles.
3. Each token is hashed once, in numpy: simple tabulation hashing over its bytes with a table
   of xxh3_64 values (characters: xxh3_64 of each distinct character). Stable across library
   versions (no polars ``Series.hash``).
4. ``n`` consecutive token hashes are combined in numpy into one 52-bit shingle hash
   (collisions between distinct shingles: ~1e-16 per pair, irrelevant at our set sizes).
   A document with fewer than ``n`` tokens (but at least one) has exactly one shingle made
   of all its tokens (its length is mixed in, so it never equals a full ``n``-gram).
   A document with no token has no shingle: an empty set, which matches nothing.
5. Per document the shingle hashes are a sorted set (`ShingleSets`).

Word tokens are hashed per token, not per byte (issue 15: this was half of the signature CPU):
a token's first 8 bytes are read as one unaligned uint64 and looked up in 4 tables of byte
pairs; only the rare longer tokens take a second pass. The values are those of the byte-wise
definition above (tests/pipeline/stages/dedup/test_shingles.py checks them against a plain
Python oracle and against digests of the signatures made before this change).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xxhash

from pipeline.errors import ConfigError, InternalError
from pipeline.records.text import normalize_text

UNITS = ("word", "char")

_COMBINE = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_HASH_BITS = 52  # shingle hashes are 52-bit so that ``doc << 52 | hash`` sorts in one key
_HASH_MASK = np.uint64((1 << _HASH_BITS) - 1)
BATCH_DOCS = 512  # documents per batch: small temporaries (<= 1 << (64 - _HASH_BITS))


@dataclass(frozen=True)
class MinHashConfig:
    """How texts become shingles and signatures.

    Parameters
    ----------
    unit
        ``"word"`` (word n-grams, default) or ``"char"`` (character n-grams).
    n
        Shingle length in units (default 5).
    num_perm
        Number of permutations, i.e. signature length (default 128).
    seed
        Seed of the permutation parameters.
    """

    unit: Literal["word", "char"] = "word"
    n: int = 5
    num_perm: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            msg = f"`unit` must be one of {UNITS}; got {self.unit!r}"
            raise ConfigError(msg)
        if not isinstance(self.n, int) or not 1 <= self.n <= 32:
            msg = f"`n` must be an integer in [1, 32]; got {self.n!r}"
            raise ConfigError(msg)
        if not isinstance(self.num_perm, int) or not 2 <= self.num_perm <= 1024:
            msg = f"`num_perm` must be an integer in [2, 1024]; got {self.num_perm!r}"
            raise ConfigError(msg)
        if not isinstance(self.seed, int) or self.seed < 0:
            msg = f"`seed` must be a non-negative integer; got {self.seed!r}"
            raise ConfigError(msg)

    @property
    def slug(self) -> str:
        """Identify the shingling and permutations, e.g. ``word5_p128_s1_v1``."""
        return f"{self.unit}{self.n}_p{self.num_perm}_s{self.seed}_v1"


@dataclass(frozen=True)
class ShingleSets:
    """Shingle hash sets of several documents, stored flat.

    Document ``i`` owns ``hashes[offsets[i]:offsets[i + 1]]``, sorted and unique (uint64).
    """

    hashes: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        """Number of shingles of each document (int64)."""
        return np.diff(self.offsets)

    def doc(self, i: int) -> np.ndarray:
        """Return the sorted shingle hashes of document `i`."""
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]

    def doc_ids(self) -> np.ndarray:
        """Return, for every stored hash, the index of its document (int64)."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes)


def _mix64(x: np.ndarray) -> np.ndarray:
    """Finalize 64-bit hashes in place (splitmix64): every output bit depends on every input bit."""
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def _word_byte_table() -> np.ndarray:
    """Return the 256-entry mask of bytes that belong to word tokens (after `_word_bytes`)."""
    return np.array([c >= 128 or chr(c).isalnum() or c == 95 for c in range(256)], dtype=bool)


_IS_WORD_BYTE = _word_byte_table()
_WORD_FLAGS = bytes(_IS_WORD_BYTE.astype(np.uint8))  # `bytes.translate` table: 1 = word byte
# Token hash: sum of xxh3-derived random values, one per (position mod 64, byte) -- simple
# tabulation hashing, stable across library versions -- plus the token length times _COMBINE.
# Non-word bytes have value 0; an ASCII capital has the value of its lowercase letter, so a
# batch of ASCII texts is hashed as written, never lowercased (the same values as before).
_TOKEN_TABLE = np.array(
    [
        xxhash.xxh3_64_intdigest(bytes((pos, ord(chr(byte).lower()) if byte < 128 else byte)))
        if _IS_WORD_BYTE[byte]
        else 0
        for pos in range(64)
        for byte in range(256)
    ],
    dtype=np.uint64,
)
# The same sums over byte pairs: _PAIR_TABLE[k][b0 | b1 << 8] is the value of bytes b0, b1 at
# positions 2k, 2k + 1, so a token's first 8 bytes (one little-endian uint64) take 4 lookups.
_PAIR_TABLE = np.stack(
    [
        (
            _TOKEN_TABLE[(2 * k + 1) * 256 : (2 * k + 2) * 256, None]
            + _TOKEN_TABLE[None, 2 * k * 256 : (2 * k + 1) * 256]
        ).ravel()
        for k in range(4)
    ]
)
_BYTE_ROWS = np.arange(8, dtype=np.intp) * 256
# the low `length` bytes of a uint64 for length 0..8 (longer: all 8, by `take(mode="clip")`)
_LENGTH_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
_SEPARATOR = "\x00"  # joins the documents of a batch; never part of a word
_PADDING = _SEPARATOR * 8


@functools.lru_cache(maxsize=65536)
def _is_word_char(codepoint: int) -> bool:
    """Return whether a character is a word character (as `re` defines it: alnum or ``_``)."""
    char = chr(codepoint)
    return char.isalnum() or char == "_"


def _normalize_for_words(text: str) -> str:
    """Return NFKC + casefold of `text` (ASCII: ``lower``); whitespace runs do not matter here."""
    if _SEPARATOR in text:
        text = text.replace(_SEPARATOR, " ")
    return text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()


def _clean_non_ascii(joined: str) -> str:
    r"""Return `joined` with every non-ASCII non-word (``\W``) character replaced by a space.

    Characters are classified once per distinct code point, in numpy over UTF-32.
    """
    codepoints = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    high = np.flatnonzero(codepoints >= 128)
    distinct, inverse = np.unique(codepoints[high], return_inverse=True)
    non_word = np.array([not _is_word_char(c) for c in distinct.tolist()], dtype=bool)
    if not non_word.any():
        return joined
    codepoints = codepoints.copy()
    codepoints[high[non_word[inverse]]] = 32
    return codepoints.tobytes().decode("utf-32-le")


def _word_bytes(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """Return the UTF-8 of the normalized texts, and each text's length in bytes.

    Layout: NUL, then every text followed by NUL, then 8 NUL of padding (so a uint64 can be
    read at any token start). ASCII bytes are classified by the byte table; in non-ASCII texts
    the non-word characters are replaced by spaces first, so every non-ASCII byte left belongs
    to a word character. ASCII texts are encoded as they are: the token tables fold capitals,
    and a NUL inside a text is a non-word byte like the space that replaces it elsewhere.
    """
    joined = _SEPARATOR.join(["", *texts, _PADDING])
    if joined.isascii():
        sizes = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        return joined.encode("ascii"), sizes
    normalized = [t if t.isascii() else _normalize_for_words(t) for t in texts]
    non_ascii = [i for i, t in enumerate(normalized) if not t.isascii()]
    sizes = np.array([len(t) for t in normalized], dtype=np.int64)
    if non_ascii:
        cleaned = _clean_non_ascii(_SEPARATOR.join(normalized[i] for i in non_ascii))
        for i, text in zip(non_ascii, cleaned.split(_SEPARATOR), strict=True):
            normalized[i] = text
            sizes[i] = len(text.encode("utf-8"))
    return _SEPARATOR.join(["", *normalized, _PADDING]).encode("utf-8"), sizes


def _token_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Return the start and end offsets of the runs of word bytes in `data` (int64 each).

    `data` starts and ends with a non-word byte (NUL), so the edges alternate start, end.
    """
    word = np.frombuffer(data.translate(_WORD_FLAGS), dtype=np.bool_)
    edges = np.flatnonzero(word[1:] != word[:-1])
    edges += 1
    return edges[0::2], edges[1::2]


def _leading_bytes(at: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Return the ``min(length, 8)`` bytes at each offset as a little-endian uint64, zero-filled.

    `at` is a uint64 view of the batch's bytes at every byte offset (stride 1).
    """
    words = at[offsets]
    words &= _LENGTH_MASKS.take(lengths, mode="clip")
    return words


def _word_token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (flat token hashes, per-document token counts) for ``\w+`` tokens, in numpy."""
    data, doc_bytes = _word_bytes(texts)
    starts, ends = _token_spans(data)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(len(texts), dtype=np.int64)
    lengths = ends - starts
    at = np.ndarray((len(data) - 7,), dtype=np.uint64, buffer=data, strides=(1,))
    first = _leading_bytes(at, starts, lengths).view(np.int64)
    hashes = _PAIR_TABLE[0][first & 0xFFFF]
    for k in range(1, 4):
        hashes += _PAIR_TABLE[k][(first >> (16 * k)) & 0xFFFF]
    long, chunk = np.flatnonzero(lengths > 8), 1
    while len(long):  # bytes 8.. of long tokens, 8 at a time (table rows wrap at 64)
        rest = lengths[long] - 8 * chunk
        chunk_bytes = _leading_bytes(at, starts[long] + 8 * chunk, rest).view(np.uint8)
        index = chunk_bytes.reshape(-1, 8).astype(np.intp) + (_BYTE_ROWS + 2048 * (chunk % 8))
        hashes[long] += _TOKEN_TABLE[index].sum(axis=1, dtype=np.uint64)
        long, chunk = long[rest > 8], chunk + 1
    hashes += lengths.astype(np.uint64) * _COMBINE
    separators = np.cumsum(doc_bytes[:-1] + 1)  # the NUL after each text but the last
    counts = np.diff(np.searchsorted(starts, separators), prepend=0, append=len(starts))
    return hashes, counts.astype(np.int64)


def _char_token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return (flat xxh3_64 character hashes, per-document character counts)."""
    import polars as pl  # here: word shingles (the audit) never need polars

    normalized = pl.Series("t", [normalize_text(t) for t in texts], dtype=pl.String)
    tokens = normalized.str.extract_all(r".")
    lengths = tokens.list.len().to_numpy().astype(np.int64)
    flat = tokens.list.explode(empty_as_null=False, keep_nulls=False).drop_nulls()
    if flat.len() == 0:
        return np.zeros(0, dtype=np.uint64), lengths
    vocab = flat.unique()
    digests = [xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in vocab.to_list()]
    hashed = flat.replace_strict(vocab, pl.Series(digests, dtype=pl.UInt64), return_dtype=pl.UInt64)
    return hashed.to_numpy(), lengths


def _ngram_hashes(h: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Combine token hashes into 52-bit shingle hashes; return (hashes in document order, sizes).

    The n-gram starting at each of the last ``n - 1`` tokens of a document runs into the next
    one: those are dropped (an n-gram starting there belongs to no document).
    """
    ends = np.cumsum(lengths)
    full = np.zeros(0, dtype=np.uint64)
    m = len(h) - n + 1
    if m > 0:
        full = h[:m].copy()
        for k in range(1, n):
            full *= _COMBINE
            full += h[k : m + k]
        cut = (ends[:, None] - np.arange(1, n, dtype=np.int64)).ravel()
        if len(cut):
            valid = np.ones(m, dtype=bool)
            valid[cut[(cut >= 0) & (cut < m)]] = False
            full = full[valid]
    sizes = np.maximum(lengths - (n - 1), 0)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):
        lens = lengths[short]
        starts = ends[short] - lens
        g = np.zeros(len(short), dtype=np.uint64)
        for k in range(n - 1):
            src = np.minimum(starts + k, len(h) - 1)
            g = np.where(k < lens, g * _COMBINE + h[src], g)
        g ^= lens.astype(np.uint64) << np.uint64(56)
        sizes[short] = 1
        offsets = np.cumsum(sizes) - sizes
        merged = np.empty(len(full) + len(short), dtype=np.uint64)
        is_short = np.zeros(len(merged), dtype=bool)
        is_short[offsets[short]] = True  # a short document has no full n-gram: one slot
        merged[is_short] = g
        merged[~is_short] = full
        full = merged
    full = _mix64(full)
    full >>= np.uint64(64 - _HASH_BITS)
    return full, sizes.astype(np.int64)


def batch_shingles(texts: Sequence[str], config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return (shingle hashes grouped by document, not unique; shingles per document) of a batch.

    The raw material of both `compute_shingle_sets` and the signatures (a minimum ignores
    repeats, so signatures never need a set made unique).
    """
    tokens = _word_token_hashes if config.unit == "word" else _char_token_hashes
    h, lengths = tokens(texts)
    return _ngram_hashes(h, lengths, config.n)


def unique_per_doc(hashes: np.ndarray, doc_ids: np.ndarray, n_docs: int) -> ShingleSets:
    """Sort each document's hashes and drop repeats (one sort of ``doc << 52 | hash`` keys).

    At most 4,096 documents: a larger index would wrap into the hash bits (refused, not wrapped).
    """
    if n_docs > 1 << (64 - _HASH_BITS):
        msg = f"unique_per_doc takes at most {1 << (64 - _HASH_BITS)} documents; got {n_docs}"
        raise InternalError(msg)
    keys = np.sort((doc_ids.astype(np.uint64) << np.uint64(_HASH_BITS)) | hashes)
    if len(keys):
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    docs = (keys >> np.uint64(_HASH_BITS)).astype(np.int64)
    sizes = np.bincount(docs, minlength=n_docs)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    return ShingleSets(keys & _HASH_MASK, offsets)


def concat_shingle_sets(parts: Sequence[ShingleSets]) -> ShingleSets:
    """Concatenate several `ShingleSets` in order."""
    if not parts:
        return ShingleSets(np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.int64))
    sizes = np.concatenate([p.sizes for p in parts])
    hashes = np.concatenate([p.hashes for p in parts])
    return ShingleSets(hashes, np.concatenate(([0], np.cumsum(sizes))).astype(np.int64))


def compute_shingle_sets(texts: Sequence[str], *, config: MinHashConfig) -> ShingleSets:
    """Return the exact shingle hash set of every text (see the module docstring).

    >>> sets = compute_shingle_sets(["a b c d e f", "Who are you?", ""], config=MinHashConfig())
    >>> sets.sizes.tolist()
    [2, 1, 0]
    """
    parts = []
    for lo in range(0, len(texts), BATCH_DOCS):
        batch = texts[lo : lo + BATCH_DOCS]
        hashes, sizes = batch_shingles(batch, config)
        doc_ids = np.repeat(np.arange(len(batch), dtype=np.int64), sizes)
        parts.append(unique_per_doc(hashes, doc_ids, len(batch)))
    return concat_shingle_sets(parts) if len(parts) != 1 else parts[0]


def shingle_set(text: str, *, config: MinHashConfig) -> np.ndarray:
    """Return the sorted uint64 shingle hashes of one text."""
    return compute_shingle_sets([text], config=config).doc(0)


def filter_shingle_sets(sets: ShingleSets, keep: np.ndarray) -> ShingleSets:
    """Return `sets` with only the hashes where the boolean mask `keep` is true."""
    sizes = np.bincount(sets.doc_ids()[keep], minlength=len(sets))
    return ShingleSets(sets.hashes[keep], np.concatenate(([0], np.cumsum(sizes))).astype(np.int64))


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Return the exact Jaccard similarity of two sorted unique hash arrays (0.0 if both empty)."""
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (union - inter)
