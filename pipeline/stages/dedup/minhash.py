"""MinHash signatures of shingle sets and of raw texts, vectorized over batches of documents.

The shingles (tokens, token hashes, n-gram hashes, exact sets) are defined in
`pipeline.stages.dedup.shingles`, and callers import them from there.

Signatures use multiply-shift hashing ``(a*h mod 2**64) >> 32`` (Dietzfelbinger) with random
odd ``a`` (PCG64 raw output: stable across numpy versions) and one ``np.minimum.reduceat`` per
permutation over cache-sized blocks. The additive ``+ b`` of the textbook variant is left out:
the shingle hashes are already uniformly mixed, accuracy is unchanged
(tests/pipeline/stages/dedup/test_minhash.py) and it saves a pass over the data.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence

import numpy as np

from pipeline.errors import InternalError
from pipeline.stages.dedup.shingles import (
    BATCH_DOCS,
    MinHashConfig,
    ShingleSets,
    batch_shingles,
)

EMPTY_SLOT = np.uint32(0xFFFFFFFF)  # signature value of an empty shingle set
_SIG_BLOCK = 1 << 17  # shingle hashes per signature block (1 MiB: one 512-document batch)


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
    a shingle repeats, so each batch's shingle hashes (grouped by document) are never made
    unique, and no batch outlives its rows of `out`.
    """
    for lo in range(0, len(texts), BATCH_DOCS):
        batch = texts[lo : lo + BATCH_DOCS]
        hashes, sizes = batch_shingles(batch, config)
        offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        out[lo : lo + len(batch)] = compute_signatures(ShingleSets(hashes, offsets), config=config)


def _signature_part(texts: Sequence[str], config: MinHashConfig, out: np.ndarray) -> None:
    """Child process body of `text_signatures`: fill its rows of the shared matrix, exit."""
    try:
        _text_signatures(texts, config, out)
    except BaseException:
        os._exit(1)
    os._exit(0)


def text_signatures(texts: Sequence[str], *, config: MinHashConfig, workers: int = 1) -> np.ndarray:
    """Return the ``(len(texts), num_perm)`` uint32 signatures of raw texts.

    Bit-identical to ``compute_signatures(compute_shingle_sets(texts))`` (tests/pipeline/stages/dedup/test_minhash.py),
    in less memory: only one batch of shingle hashes exists at a time, so the peak is the
    signature matrix plus a few MB. With ``workers > 1`` (word shingles, ``fork``), forked
    children fill consecutive row ranges of a shared matrix while the parent fills the last one.

    >>> sig = text_signatures(["a b c d e f", ""], config=MinHashConfig(num_perm=4))
    >>> sig.shape, bool((sig[1] == EMPTY_SLOT).all())
    ((2, 4), True)
    """
    n, p = len(texts), config.num_perm
    # char shingles use polars, whose thread pool does not survive a fork: one process
    if workers <= 1 or n < 2 * BATCH_DOCS or config.unit != "word" or not hasattr(os, "fork"):
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
