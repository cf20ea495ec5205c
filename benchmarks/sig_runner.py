"""One signature implementation over the cached synthetic corpus, timed inside its own process.

Run by `bench_dedup.py --signatures` (rensa's variants with a throwaway environment's python):
``python benchmarks/sig_runner.py IMPL DOCS.jsonl``. Prints one JSON line: wall and CPU seconds
(this process and its children) of the signature step alone, docs, and the growth of this
process's peak RSS during the step (VmHWM reset first).
Shingles for the per-doc APIs: word 5-grams of ``\\w+`` tokens of the lowercased text (what
mixgate's word shingles give on this ASCII corpus); a doc under 5 tokens is one shingle.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from pathlib import Path

WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 5) -> list[str]:
    tokens = WORD.findall(text.lower())
    if len(tokens) < n:
        return [" ".join(tokens)] if tokens else []
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def datasketch_default(texts):
    from datasketch import MinHash

    out = []
    for text in texts:
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([s.encode() for s in shingles(text)])
        out.append(m)
    return out


def rensa_perdoc(texts):
    from rensa import RMinHash

    out = []
    for text in texts:
        m = RMinHash(num_perm=128, seed=1)
        m.update(shingles(text))
        out.append(m)
    return out


def rensa_flat(texts):
    """rensa's fastest path (minhash-baseline.md `rensa_flat_pl`): polars token hashes, numpy
    5-gram combine, `digest_matrix_from_flat_token_hashes` over the flat buffer."""
    import numpy as np
    import polars as pl
    from rensa import RMinHash

    tokens = pl.Series(texts).str.to_lowercase().str.extract_all(r"\w+")
    lengths = tokens.list.len().to_numpy().astype(np.int64)
    h = tokens.explode().drop_nulls().hash(seed=1).to_numpy()
    ends = np.cumsum(lengths)
    n = 5
    m = len(h) - n + 1
    g = h[:m].copy()
    for k in range(1, n):
        g = g * np.uint64(0x9E3779B97F4A7C15) + h[k : m + k]
    doc = np.repeat(np.arange(len(lengths)), lengths)[:m]
    valid = np.arange(n, m + n) <= ends[doc]
    g, doc = g[valid], doc[valid]
    counts = np.bincount(doc, minlength=len(lengths))
    # docs under n tokens: one shingle of their tokens (first token hash stands in)
    short = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short):
        g = np.concatenate([g, h[ends[short] - lengths[short]]])
        doc = np.concatenate([doc, short])
        order = np.argsort(doc, kind="stable")
        g = g[order]
        counts = np.bincount(doc, minlength=len(lengths))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.uint64)
    return RMinHash.digest_matrix_from_flat_token_hashes(g, offsets, 128, 1)


def mixgate(workers):
    def run(texts):
        from pipeline.stages.dedup.minhash import text_signatures
        from pipeline.stages.dedup.shingles import MinHashConfig

        return text_signatures(texts, config=MinHashConfig(), workers=workers)

    return run


def mixgate_sets(texts):
    """The path before issue 15: every shingle set first, then signatures."""
    from pipeline.stages.dedup.minhash import compute_signatures
    from pipeline.stages.dedup.shingles import MinHashConfig, compute_shingle_sets

    config = MinHashConfig()
    return compute_signatures(compute_shingle_sets(texts, config=config), config=config)


IMPLS = {
    "datasketch": datasketch_default,
    "rensa_perdoc": rensa_perdoc,
    "rensa_flat": rensa_flat,
    "mixgate_1proc": mixgate(1),
    "mixgate_2proc": mixgate(2),
    "mixgate_sets_1proc": mixgate_sets,
}


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _status_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main(name: str, corpus: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with open(corpus, encoding="utf-8") as fh:  # one JSON string per line: no big temporaries
        texts = [json.loads(line) for line in fh]
    impl = IMPLS[name]
    if name.startswith("mixgate"):
        import pipeline.stages.dedup.minhash  # noqa: F401  (imports are not the step timed)
    elif name.startswith("rensa"):
        import numpy  # noqa: F401
        import polars  # noqa: F401
        import rensa  # noqa: F401
    else:
        import datasketch  # noqa: F401
    rss0 = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the current RSS
    start, cpu0 = time.perf_counter(), _cpu()
    result = impl(texts)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu0
    peak = _status_kb("VmHWM") - rss0
    print(json.dumps({"wall": wall, "cpu": cpu, "docs": len(texts), "peak_mb": peak / 1024}))
    del result


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
