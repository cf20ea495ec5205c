"""Repetition screen: which replies `repetition_reason` can fail, decided for a batch at once.

`repetition_reason` fails a reply only through a repeated line or a repeated n-gram. A plain
reply (ASCII, no newline, no ```` ``` ````) has no line check, and its words are the runs of
non-blanks of its bytes through `checks._ASCII_WORDS` (what `_words` splits). The plain replies
of a batch are blanked and joined, their words found and keyed with numpy, and a reply is ruled
out (it passes) when

- it has fewer than ``min_words`` words, or
- no key of its smallest measured n-gram repeats (then no n-gram of that n or longer repeats:
  every measure is 0), or
- every top n-gram bound passes (``cap * (n * longest + n - 1) / size <= limit``, `cap` the
  top count of the smallest top n, as in `checks._top_ngram_reason`) and no key of the
  smallest duplicate n repeats (then every duplicate measure is 0).

Equal words get equal keys and equal n-grams equal n-gram keys, so a key's count is at least
its n-gram's: a collision can only keep a reply in, to be checked one by one. Every other reply
(non-ASCII, multi-line, fenced code) is checked one by one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from pipeline.stages.quality.checks import _ASCII_WORDS
from pipeline.stages.quality.config import RepetitionLimits

_PAD = b" " * 8
_BATCH_CHARS = 1 << 22  # characters per numpy pass: bounds its arrays (~50 bytes per character)
_U64 = np.uint64
# The low `n` bytes of a little-endian 8-byte read (n = 0..8).
_LOW = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=_U64)
_K1, _K2, _K3 = _U64(0x9E3779B97F4A7C15), _U64(0xC2B2AE3D27D4EB4F), _U64(0x165667B19E3779F9)
_MIN_WIDTH = 16


def _word_keys(padded: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start offsets, lengths and keys of the words (runs of non-blanks) of `padded`.

    `padded` starts and ends with 8 blanks. A key mixes the word's length, its first 8 bytes
    and, past 8 bytes, its last 8: a function of the word.
    """
    is_word = np.frombuffer(padded, dtype=np.uint8) != ord(" ")
    edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1  # blanks at both ends: pairs
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    view = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    keys = view[starts] & _LOW[np.minimum(lengths, 8)]
    keys *= _K1
    keys ^= lengths.astype(_U64)
    long = np.flatnonzero(lengths > 8)
    keys[long] ^= view[ends[long] - 8] * _K2
    return starts, lengths, keys


def _odd(joined: str, ends: np.ndarray) -> np.ndarray:
    """Per text of `joined` (texts joined by NUL, `ends` one past each NUL): a newline or fence."""
    odd = np.zeros(len(ends), dtype=bool)
    for needle in ("\n", "```"):
        at = joined.find(needle)
        while at >= 0:
            k = int(np.searchsorted(ends, at, side="right"))
            odd[k] = True
            at = joined.find(needle, int(ends[k]))  # the next text
    return odd


def _sorted_rows(
    grams: np.ndarray, owner: np.ndarray, count: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(texts, table)``: each text's `grams` sorted, a row of a padded table.

    `owner` (ascending) is each value's text (0..count-1). One table per power-of-two width:
    many short row sorts cost far less than one long sort. Padding values are distinct, so
    they repeat nothing (a real value equal to one can only add a repeat).
    """
    sizes = np.bincount(owner, minlength=count)
    position = np.arange(len(grams)) - (np.cumsum(sizes) - sizes)[owner]
    widths = np.maximum(_MIN_WIDTH, 1 << np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64))
    widths[sizes == 0] = 0
    for width in np.unique(widths[widths > 0]).tolist():
        rows = np.flatnonzero(widths == width)
        row_of = np.zeros(count, dtype=np.int64)
        row_of[rows] = np.arange(len(rows))
        table = np.empty((len(rows), width), dtype=_U64)
        table[:] = ~np.arange(width, dtype=_U64)
        mine = widths[owner] == width
        table[row_of[owner[mine]], position[mine]] = grams[mine]
        table.sort(axis=1)
        yield rows, table


def _repeats(grams: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """Per text, whether some value of `grams` occurs twice in it."""
    out = np.zeros(count, dtype=bool)
    for rows, table in _sorted_rows(grams, owner, count):
        out[rows] = (table[:, 1:] == table[:, :-1]).any(axis=1)
    return out


def _max_counts(grams: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """Per text, the count of its most frequent value in `grams` (0: none)."""
    out = np.zeros(count, dtype=np.int64)
    for rows, table in _sorted_rows(grams, owner, count):
        columns = np.broadcast_to(np.arange(table.shape[1]), table.shape)
        new = np.ones(table.shape, dtype=bool)
        new[:, 1:] = table[:, 1:] != table[:, :-1]
        run_start = np.maximum.accumulate(np.where(new, columns, 0), axis=1)
        out[rows] = (columns - run_start).max(axis=1) + 1
    return out


def _grams(keys: np.ndarray, owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-gram keys of the words (`keys`, each of text `owner`) and each n-gram's text."""
    if len(keys) < n:
        return keys[:0], owner[:0]
    grams = keys[: len(keys) - n + 1].copy()
    for j in range(1, n):
        grams = grams * _K3 + keys[j : len(keys) - n + 1 + j]
    inside = owner[: len(grams)] == owner[n - 1 :]
    return grams[inside], owner[: len(grams)][inside]


def _maybe(texts: list[str], size: np.ndarray, limits: RepetitionLimits) -> np.ndarray:
    """For ASCII `texts` of lengths `size`, whether `repetition_reason` may fail each."""
    count = len(texts)
    joined = "\0".join(texts)
    ends = np.cumsum(size + 1)
    odd = _odd(joined, ends)  # checked one by one
    starts, lengths, keys = _word_keys(_PAD + joined.encode("ascii").translate(_ASCII_WORDS) + _PAD)
    words = np.diff(np.searchsorted(starts - 8, ends, side="left"), prepend=0)
    owner = np.repeat(np.arange(count), words)
    keep = (words >= limits.min_words)[owner]
    top = [n for n, _ in limits.top_ngram_max_frac]
    dup = [n for n, _ in limits.dup_ngram_max_frac]
    maybe = _repeats(*_grams(keys[keep], owner[keep], min(top + dup)), count)
    keep = maybe[owner]
    keys, owner, lengths = keys[keep], owner[keep], lengths[keep]
    fails = np.zeros(count, dtype=bool)
    if top:
        cap = _max_counts(*_grams(keys, owner, min(top)), count)
        longest = np.zeros(count, dtype=np.int64)
        np.maximum.at(longest, owner, lengths)
        for n, limit in limits.top_ngram_max_frac:
            fails |= (cap >= 2) & (cap * (n * longest + n - 1) / np.maximum(size, 1) > limit)
    if dup:
        fails |= _repeats(*_grams(keys, owner, min(dup)), count)
    return odd | (maybe & fails)


def repetition_candidates(
    texts: list[str], indices: list[int], limits: RepetitionLimits
) -> list[int]:
    """The `indices` (ascending) whose text `repetition_reason` may fail; the others pass it.

    >>> limits = RepetitionLimits(min_words=4)
    >>> repetition_candidates(["a b a b", "a b c d", "a\\na", "Ünï ünï"], [0, 1, 2, 3], limits)
    [0, 2, 3]
    """
    plain = [i for i in indices if texts[i].isascii()]
    keep = set(indices).difference(plain)
    values = [texts[i] for i in plain]
    if not (limits.top_ngram_max_frac or limits.dup_ngram_max_frac):
        keep.update(i for i, text in zip(plain, values) if "\n" in text or "```" in text)
        return sorted(keep)
    size = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    cuts = np.flatnonzero(np.diff(np.cumsum(size + 1) // _BATCH_CHARS, prepend=0)) + 1
    for a, b in itertools.pairwise([0, *cuts.tolist(), len(values)]):
        if b > a:
            maybe = _maybe(values[a:b], size[a:b], limits)
            keep.update(itertools.compress(plain[a:b], maybe.tolist()))
    return sorted(keep)
