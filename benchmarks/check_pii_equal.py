"""Equality check for PII speed work: this checkout's findings against another checkout's.

Run from the repository root (needs ../shared/datasets and a reference checkout of mixgate, e.g.
``git worktree add --detach /tmp/pii-base main``)::

    nice -n 10 .venv/bin/python benchmarks/check_pii_equal.py --ref /tmp/pii-base

Each checkout runs in its own process (same interpreter and packages) and screens every string
field of LIMA, GSM8K train and CodeAlpaca (2k + new) with `PiiScanner.scan_texts` under two
configurations: the default, and a wide one (every presidio pattern type the default enables plus
URL, every finding flagged, no allow-lists, four more phone regions). It also runs the build's PII
stage (`BuildConfig.stages["pii"]`: tag, redact, pre-redaction dedup key) on LIMA as a build
ingests and tags it. Findings are compared as ``(file, row, field, entity_type, start, end,
score)``; the stage output frame must be equal column by column. Exit 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
FILES = (
    "lima/lima.json.gz",
    "gsm8k/train.jsonl.gz",
    "codealpaca/code_alpaca_2k.json",
    "codealpaca/new_codealpaca.json.gz",
)


def _configs():
    from pipeline.stages.pii import PiiConfig

    default = PiiConfig()
    wide_types = [e for e in default.entities if e not in ("API_KEY", "CREDENTIAL", "PRIVATE_KEY")]
    wide = PiiConfig(
        actions={**{e: "flag" for e in wide_types}, "URL": "flag", "API_KEY": "flag"},
        allow_email_domains=(),
        allow_ip_networks=(),
        regions=(*default.regions, "DK", "TW", "SA", "JP"),
    )
    return {"default": default, "wide": wide}


def screen(out: Path) -> None:
    """Write this process's checkout findings (and the stage frame) under `out`."""
    from pipeline.io.limits import RowError
    from pipeline.io.readers import iter_rows
    from pipeline.stages.pii import PiiScanner
    from pipeline.tools.scan_pii import iter_raw_fields

    located, texts = [], []
    for file in FILES:
        for row, record in iter_rows(SHARED / file):
            if isinstance(record, RowError):
                continue
            for name, text in iter_raw_fields(record):
                located.append((file, row, name))
                texts.append(text)
    result = {}
    for label, config in _configs().items():
        scanner = PiiScanner(config, cache_size=0)
        cpu = time.process_time()
        findings = [
            [*where, f.entity_type, f.start, f.end, f.score]
            for where, found in zip(located, scanner.scan_texts(texts), strict=True)
            for f in found
        ]
        result[label] = findings
        print(
            f"  {label}: {len(texts)} texts, {len(findings)} findings, "
            f"{time.process_time() - cpu:.1f} s CPU",
            flush=True,
        )
    (out / "findings.json").write_text(json.dumps(result))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_pii_real

    # one path for both checkouts: the file's path is in every record's provenance
    bench_pii_real.LIMA = SHARED / FILES[0]
    lima_frame = bench_pii_real.lima_frame
    work = out / "work"
    work.mkdir()
    frame, build = lima_frame(work)
    build.stages["pii"](frame).write_parquet(out / "stage.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, required=True, help="the other checkout")
    args = parser.parse_args()
    outs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, root in (("this", ROOT), ("ref", args.ref.resolve())):
            out = Path(tmp) / name
            out.mkdir()
            print(f"{name}: {root}", flush=True)
            entry = (
                f"import sys; sys.path.insert(0, {str(root)!r}); "
                f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                f"import check_pii_equal as c; c.ROOT = __import__('pathlib').Path({str(root)!r}); "
                f"c.screen(__import__('pathlib').Path({str(out)!r}))"
            )
            env = {
                **os.environ,
                "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
                "MIXGATE_SECRET_FILE": str(Path(tmp) / "hash.key"),  # one key: equal value hashes
            }
            subprocess.run([sys.executable, "-c", entry], check=True, env=env, cwd=root)
            outs[name] = out
        import polars as pl

        failed = False
        mine = json.loads((outs["this"] / "findings.json").read_text())
        theirs = json.loads((outs["ref"] / "findings.json").read_text())
        for label in mine:
            a = {tuple(f) for f in mine[label]}
            b = {tuple(f) for f in theirs[label]}
            print(
                f"{label}: {len(a)} findings here, {len(b)} in ref; "
                f"only here {len(a - b)}, only in ref {len(b - a)}"
            )
            for f in sorted(a ^ b)[:10]:
                print("   ", "here" if f in a else "ref ", f[:3], f[3:])
            failed |= a != b or len(mine[label]) != len(theirs[label])
        frame_a = pl.read_parquet(outs["this"] / "stage.parquet")
        frame_b = pl.read_parquet(outs["ref"] / "stage.parquet")
        same = frame_a.equals(frame_b)
        print(f"build PII stage on LIMA: {frame_a.shape} vs {frame_b.shape}, equal: {same}")
        if not same and frame_a.columns == frame_b.columns:
            differ = [c for c in frame_a.columns if not frame_a[c].equals(frame_b[c])]
            print(f"    columns that differ: {differ}")
        failed |= not same
    print("EQUAL" if not failed else "DIFFERENT")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
