r"""MinHash signatures and exact shingle sets, vectorized over batches of documents.

Shingling (identical for signatures and for exact verification):

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

Signatures use multiply-shift hashing ``(a*h mod 2**64) >> 32`` (Dietzfelbinger) with random
odd ``a`` (PCG64 raw output: stable across numpy versions) and one ``np.minimum.reduceat`` per
permutation over cache-sized blocks. The additive ``+ b`` of the textbook variant is left out:
the shingle hashes are already uniformly mixed, accuracy is unchanged (tests/test_minhash.py)
and it saves a pass over the data.
"""

from __future__ import annotations

import functools
import mmap
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xxhash

from pipeline.errors import ConfigError, InternalError
from pipeline.records.text import normalize_text

UNITS = ("word", "char")
EMPTY_SLOT = np.uint32(0xFFFFFFFF)  # signature value of an empty shingle set

_COMBINE = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_HASH_BITS = 52  # shingle hashes are 52-bit so that ``doc << 52 | hash`` sorts in one key
_HASH_MASK = np.uint64((1 << _HASH_BITS) - 1)
_BATCH_DOCS = 512  # documents per batch: small temporaries (<= 1 << (64 - _HASH_BITS))
_SIG_BLOCK = 1 << 16  # shingle hashes per signature block (512 KiB, fits in L2)


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
    """Finalize 64-bit hashes (splitmix64) so every output bit depends on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def _word_byte_table() -> np.ndarray:
    """Return the 256-entry mask of bytes that belong to word tokens (after `_word_bytes`)."""
    return np.array([c >= 128 or chr(c).isalnum() or c == 95 for c in range(256)], dtype=bool)


_IS_WORD_BYTE = _word_byte_table()
# Token hash: sum of xxh3-derived random values, one per (position mod 64, byte) -- simple
# tabulation hashing, computed for all tokens at once in numpy, stable across library versions.
# Non-word bytes have value 0.
_TOKEN_TABLE = np.array(
    [
        xxhash.xxh3_64_intdigest(bytes((pos, byte))) if _IS_WORD_BYTE[byte] else 0
        for pos in range(64)
        for byte in range(256)
    ],
    dtype=np.uint64,
)
_SEPARATOR = "\x00"  # joins the documents of a batch; never part of a word


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


def _word_bytes(texts: Sequence[str]) -> bytes:
    """Return the UTF-8 of the normalized texts joined by NUL, ready for `_IS_WORD_BYTE`.

    ASCII bytes are classified by the byte table; in non-ASCII texts the non-word characters
    are replaced by spaces first, so every non-ASCII byte left belongs to a word character.
    """
    normalized = [_normalize_for_words(t) for t in texts]
    non_ascii = [i for i, t in enumerate(normalized) if not t.isascii()]
    if non_ascii:
        cleaned = _clean_non_ascii(_SEPARATOR.join(normalized[i] for i in non_ascii))
        for i, text in zip(non_ascii, cleaned.split(_SEPARATOR), strict=True):
            normalized[i] = text
    return _SEPARATOR.join(normalized).encode("utf-8")


def _word_token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (flat token hashes, per-document token counts) for ``\w+`` tokens, in numpy."""
    buf = np.frombuffer(_word_bytes(texts), dtype=np.uint8)
    word = _IS_WORD_BYTE[buf]
    first_byte, last_byte = word.copy(), word.copy()
    first_byte[1:] &= ~word[:-1]
    last_byte[:-1] &= ~word[1:]
    starts, ends = np.flatnonzero(first_byte), np.flatnonzero(last_byte) + 1
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(len(texts), dtype=np.int64)
    # position of every byte since the last token start (a running count reset at each start);
    # non-word bytes have all-zero table entries, so each token's sum runs up to the next start
    step = np.ones(len(buf), dtype=np.int64)
    step[starts[0]] = 1 - starts[0]
    step[starts[1:]] = 1 - np.diff(starts)
    index = np.cumsum(step)
    index -= 1
    index &= 63
    index <<= 8
    index |= buf
    token_len = ends - starts
    hashes = np.add.reduceat(_TOKEN_TABLE[index], starts) + token_len.astype(np.uint64) * _COMBINE
    # tokens before each document separator -> tokens per document
    before = np.searchsorted(starts, np.flatnonzero(buf == 0))
    counts = np.diff(np.concatenate(([0], before, [len(starts)])))
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
    """Combine token hashes into 52-bit shingle hashes; return (hashes, their document ids)."""
    ends = np.cumsum(lengths)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    m = len(h) - n + 1
    if m > 0:
        g = h[:m].copy()
        for k in range(1, n):
            g = g * _COMBINE + h[k : m + k]
        token_doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)[:m]
        valid = np.arange(n, m + n, dtype=np.int64) <= ends[token_doc]
        parts.append((g[valid], token_doc[valid]))
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):
        lens = lengths[short]
        starts = ends[short] - lens
        g = np.zeros(len(short), dtype=np.uint64)
        for k in range(n - 1):
            src = np.minimum(starts + k, len(h) - 1)
            g = np.where(k < lens, g * _COMBINE + h[src], g)
        parts.append((g ^ (lens.astype(np.uint64) << np.uint64(56)), short))
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    hashes = _mix64(np.concatenate([p[0] for p in parts])) >> np.uint64(64 - _HASH_BITS)
    return hashes, np.concatenate([p[1] for p in parts])


def unique_per_doc(hashes: np.ndarray, doc_ids: np.ndarray, n_docs: int) -> ShingleSets:
    """Sort each document's hashes and drop repeats (one sort of ``doc << 52 | hash`` keys)."""
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
    for lo in range(0, len(texts), _BATCH_DOCS):
        batch = texts[lo : lo + _BATCH_DOCS]
        h, lengths = (
            _word_token_hashes(batch) if config.unit == "word" else _char_token_hashes(batch)
        )
        hashes, doc_ids = _ngram_hashes(h, lengths, config.n)
        parts.append(unique_per_doc(hashes, doc_ids, len(lengths)))
    return concat_shingle_sets(parts) if len(parts) != 1 else parts[0]


def shingle_set(text: str, *, config: MinHashConfig) -> np.ndarray:
    """Return the sorted uint64 shingle hashes of one text."""
    return compute_shingle_sets([text], config=config).doc(0)


def filter_shingle_sets(sets: ShingleSets, keep: np.ndarray) -> ShingleSets:
    """Return `sets` with only the hashes where the boolean mask `keep` is true."""
    sizes = np.bincount(sets.doc_ids()[keep], minlength=len(sets))
    return ShingleSets(sets.hashes[keep], np.concatenate(([0], np.cumsum(sizes))).astype(np.int64))


def _multipliers(config: MinHashConfig) -> np.ndarray:
    """Return the odd uint64 multipliers of the multiply-shift permutations."""
    raw = np.random.PCG64(config.seed).random_raw(config.num_perm)
    return np.asarray(raw, dtype=np.uint64) | np.uint64(1)


def compute_signatures(sets: ShingleSets, *, config: MinHashConfig) -> np.ndarray:
    """Return the ``(len(sets), num_perm)`` uint32 MinHash signatures of shingle sets.

    Documents are processed in blocks of about ``_SIG_BLOCK`` hashes (cache-sized), each
    block through all permutations. An empty set has ``EMPTY_SLOT`` in every slot.
    """
    a = _multipliers(config)
    sig = np.full((len(sets), config.num_perm), EMPTY_SLOT, dtype=np.uint32)
    nonempty = np.flatnonzero(sets.sizes > 0)
    starts = sets.offsets[nonempty]
    lo = 0
    while lo < len(nonempty):
        hi = max(int(np.searchsorted(starts, starts[lo] + _SIG_BLOCK, side="right")), lo + 1)
        base, end = starts[lo], sets.offsets[nonempty[hi - 1] + 1]
        block, local = sets.hashes[base:end], starts[lo:hi] - base
        buf = np.empty_like(block)
        minima = np.empty((hi - lo, config.num_perm), dtype=np.uint64)
        for p in range(config.num_perm):
            np.multiply(block, a[p], out=buf)
            minima[:, p] = np.minimum.reduceat(buf, local)
        # min(x >> 32) == min(x) >> 32: shift only the per-document minima
        sig[nonempty[lo:hi]] = minima >> np.uint64(32)
        lo = hi
    return sig


def _text_signatures(texts: Sequence[str], config: MinHashConfig, out: np.ndarray) -> None:
    """Write the signatures of `texts` into the rows of `out`, one batch of documents at a time.

    Equal to ``compute_signatures(compute_shingle_sets(texts))``: a minimum does not change when
    a shingle repeats, so each batch's shingle hashes are only grouped by document (a stable
    sort of the document ids), never made unique, and no batch outlives its rows of `out`.
    """
    for lo in range(0, len(texts), _BATCH_DOCS):
        batch = texts[lo : lo + _BATCH_DOCS]
        h, lengths = (
            _word_token_hashes(batch) if config.unit == "word" else _char_token_hashes(batch)
        )
        hashes, doc_ids = _ngram_hashes(h, lengths, config.n)
        order = np.argsort(doc_ids, kind="stable")
        sizes = np.bincount(doc_ids, minlength=len(batch))
        offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        out[lo : lo + len(batch)] = compute_signatures(
            ShingleSets(hashes[order], offsets), config=config
        )


def _signature_part(texts: Sequence[str], config: MinHashConfig, out: np.ndarray) -> None:
    """Child process body of `text_signatures`: fill its rows of the shared matrix, exit."""
    try:
        _text_signatures(texts, config, out)
    except BaseException:
        os._exit(1)
    os._exit(0)


def text_signatures(texts: Sequence[str], *, config: MinHashConfig, workers: int = 1) -> np.ndarray:
    """Return the ``(len(texts), num_perm)`` uint32 signatures of raw texts.

    Bit-identical to ``compute_signatures(compute_shingle_sets(texts))`` (tests/test_minhash.py),
    in less memory: only one batch of shingle hashes exists at a time, so the peak is the
    signature matrix plus a few MB. With ``workers > 1`` (word shingles, ``fork``), forked
    children fill consecutive row ranges of a shared matrix while the parent fills the last one.

    >>> sig = text_signatures(["a b c d e f", ""], config=MinHashConfig(num_perm=4))
    >>> sig.shape, bool((sig[1] == EMPTY_SLOT).all())
    ((2, 4), True)
    """
    n, p = len(texts), config.num_perm
    # char shingles use polars, whose thread pool does not survive a fork: one process
    if workers <= 1 or n < 2 * _BATCH_DOCS or config.unit != "word" or not hasattr(os, "fork"):
        sig = np.empty((n, p), dtype=np.uint32)
        _text_signatures(texts, config, sig)
        return sig
    shared = mmap.mmap(-1, n * p * 4)  # anonymous MAP_SHARED: children write into it
    sig = np.frombuffer(shared, dtype=np.uint32).reshape(n, p)
    cuts = [round(n * k / workers) for k in range(workers + 1)]
    children = []
    for k in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            _signature_part(texts[cuts[k] : cuts[k + 1]], config, sig[cuts[k] : cuts[k + 1]])
        children.append(pid)
    _text_signatures(texts[cuts[-2] :], config, sig[cuts[-2] :])
    failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
    if failed:
        msg = f"signature worker process(es) {failed} failed"
        raise InternalError(msg)
    result = sig.copy()
    del sig
    shared.close()
    return result


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Return the MinHash Jaccard estimate (share of equal slots) of signature rows."""
    return np.mean(sig_a == sig_b, axis=-1)


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Return the exact Jaccard similarity of two sorted unique hash arrays (0.0 if both empty)."""
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (union - inter)
