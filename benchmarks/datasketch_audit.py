"""A plain datasketch decontamination script, as a user would write it (the e2e baseline).

Run: ``python benchmarks/datasketch_audit.py DATA.jsonl HOLDOUT.jsonl OUT.json``.
MinHashLSH (threshold 0.5, 128 permutations) over the holdout questions' word 5-grams; every
string field of every data record is queried, candidates are verified by exact containment
(>= 0.55 of the item's shingles in the field). Writes ``[[data row, holdout row], ...]``.
"""

import json
import re
import sys

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")


def shingles(text, n=5):
    tokens = WORD.findall(text.lower())
    if len(tokens) < n:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)}


def leaves(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)


def main(data, holdout, out):
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    items = []
    with open(holdout, encoding="utf-8") as fh:
        for row, line in enumerate(fh):
            s = shingles(json.loads(line)["question"])
            items.append(s)
            m = MinHash(num_perm=128)
            m.update_batch(list(s))
            lsh.insert(row, m)
    found = set()
    with open(data, encoding="utf-8") as fh:
        for row, line in enumerate(fh):
            for text in leaves(json.loads(line)):
                s = shingles(text)
                if not s:
                    continue
                m = MinHash(num_perm=128)
                m.update_batch(list(s))
                for i in lsh.query(m):
                    if items[i] and len(items[i] & s) / len(items[i]) >= 0.55:
                        found.add((row, i))
    with open(out, "w") as fh:
        json.dump(sorted(found), fh)


if __name__ == "__main__":
    main(*sys.argv[1:4])
