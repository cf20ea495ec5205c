"""Build time and peak memory at scale: N synthetic records, dedup and decontamination on.

Input (generated once per N, seeded, *not* timed): six JSONL sources (Alpaca-style SFT x3,
chat ``messages``, preference ``prompt``/``chosen``/``rejected``, synthetic with a generator),
records of a few hundred characters built from word lists and templates. Planted: ~3 % exact
duplicates (case/whitespace variants, also across sources), ~3 % near duplicates (same prompt,
one of the reply's last two words replaced), ~0.5 % holdout contamination (a holdout question inside a prompt), ~0.2 % records
with an email or phone number. The holdout has 2,000 items.

The build runs the product's own path: the Prefect flow `mixgate-build` with Prefect's
`DaskTaskRunner` on a 2-worker `LocalCluster` (`--runner dask`, the default), exactly as
`mixgate build SPEC --runner dask --no-cache` does, with its one temporary Prefect server
(`flows.server`: the flow and both workers use it; until 2026-12-02 this benchmark let each
Dask worker start a server of its own, three in all); per-shard tasks (50,000 rows) go to the Dask
workers, the cross-source stages run in the flow process. `--runner pool` runs `run_build`
in-process with a 2-process `ProcessPoolExecutor` instead (no Prefect; for profiling). The
mixture size is fixed (`--total`, default 50,000 records) so that the pool size is the only
thing that changes between N.

Each build runs in a fresh process (as `mixgate build` does), so one N's build does not leave
memory behind for the next. Peak RSS is the maximum over time of the *sum* of the resident set
sizes of that process and all its descendants (Dask workers, Prefect's server; or the pool
workers), sampled every 50 ms by psutil from this process. Wall time is measured inside the
build process around the build call (interpreter start and imports excluded).

Usage::

    .venv/bin/python benchmarks/bench_scale.py --records 250000 1000000 [--work /tmp/mixgate-scale]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

from pipeline.build.run import load, run_build

WORDS = [
    "river",
    "market",
    "garden",
    "station",
    "harbour",
    "library",
    "valley",
    "bridge",
    "workshop",
    "village",
    "forest",
    "castle",
    "tickets",
    "apples",
    "stamps",
    "pencils",
    "books",
    "shells",
    "seeds",
    "coins",
    "marbles",
    "cards",
    "lanterns",
    "kites",
    "quiet",
    "golden",
    "narrow",
    "ancient",
    "frozen",
    "windy",
    "crowded",
    "hidden",
    "busy",
    "careful",
    "bright",
    "gentle",
    "learn",
    "build",
    "carry",
    "measure",
    "repeat",
    "explain",
    "compare",
    "follow",
    "notice",
    "gather",
    "describe",
    "travel",
    "teacher",
    "student",
    "farmer",
    "sailor",
    "painter",
    "baker",
    "doctor",
    "engineer",
    "gardener",
    "pilot",
    "writer",
    "morning",
    "evening",
    "winter",
    "summer",
    "autumn",
    "spring",
    "season",
    "journey",
    "lesson",
    "story",
    "method",
    "result",
    "because",
    "although",
    "while",
    "after",
    "before",
    "since",
    "until",
    "unless",
    "whereas",
    "therefore",
    "however",
]
TOPICS = (
    "tides",
    "photosynthesis",
    "recursion",
    "fractions",
    "volcanoes",
    "sorting",
    "gravity",
    "inflation",
    "poetry",
    "bridges",
    "migration",
    "compilers",
    "orbits",
    "erosion",
)
SOURCES = (  # name, kind, share of records, license, fixed intent/difficulty or None (tagger)
    ("alpaca_a", "sft", 0.22, "MIT", ("educational_explanation", "straightforward")),
    ("alpaca_b", "sft", 0.18, "CC-BY-4.0", ("coding", "straightforward")),
    ("alpaca_c", "sft", 0.15, "Apache-2.0", ("math", "multi_step")),
    ("chat", "sft", 0.15, "MIT", None),
    ("pairs", "preference", 0.15, "Apache-2.0", ("conversation", "straightforward")),
    ("generated", "synthetic", 0.15, "CC-BY-4.0", ("creative_writing", "straightforward")),
)
HOLDOUT_ITEMS = 2000
# Written last: the inputs under a directory are complete. The name carries the generator's
# version, so inputs of an older generator are regenerated, never silently reused.
# v2: the near-duplicate plant edits one of the reply's last two words (v1 replaced ~1 in 25
# reply words anywhere: reply Jaccard ~0.67 < 0.8, so near_dedup_v2 dropped none of them).
GENERATED = ".generated-v2"


def _sentence(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=n)
    return " ".join(words).capitalize() + "."


def _prompt(rng: random.Random) -> str:
    topic = rng.choice(TOPICS)
    return (
        f"Explain {topic} to a {rng.choice(WORDS)} {rng.choice(WORDS)} in simple terms. "
        f"{_sentence(rng, rng.randint(8, 18))}"
    )


def _reply(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(9, 16)) for _ in range(rng.randint(3, 5)))


def _holdout(rng: random.Random) -> list[str]:
    return [
        f"A {rng.choice(WORDS)} ferry leaves the {rng.choice(WORDS)} pier at {i % 12 + 1} o'clock "
        f"carrying {rng.randint(10, 99)} {rng.choice(WORDS)} passengers; "
        f"{_sentence(rng, 12)} How many riders are aboard at the {rng.choice(WORDS)} stop?"
        for i in range(HOLDOUT_ITEMS)
    ]


def _variant(text: str, rng: random.Random) -> str:
    """Near duplicate of a reply: one of its last two words replaced (by a vocabulary word).

    near_dedup_v2 drops a record only when *both* sides reach the threshold (0.8, word
    5-grams); the plant keeps the prompt and changes at most 2 of the reply's >= 23 shingles,
    so its reply Jaccard is >= 21/25 = 0.84. (Generator v1 replaced ~1 in 25 words anywhere:
    ~10 of ~50 shingles, Jaccard ~0.67, so at scale no plant was a near duplicate any more.)

    >>> _variant("one two three four five six.", random.Random(1)).split()[:4]
    ['one', 'two', 'three', 'four']
    """
    words = text.split(" ")
    at = len(words) - 1 - rng.randrange(min(2, len(words)))
    last = words[at].endswith(".")
    words[at] = rng.choice(WORDS) + ("." if last else "")
    return " ".join(words)


def _raw_record(
    kind: str, prompt: str, reply: str, rng: random.Random, other: str
) -> dict[str, Any]:
    if kind == "preference":
        return {"prompt": prompt, "chosen": reply, "rejected": other}
    if kind == "synthetic":
        return {"prompt": prompt, "completion": reply, "model": rng.choice(("gen-7b", "gen-70b"))}
    return {"instruction": prompt, "input": "", "output": reply}


def generate(root: Path, n: int, seed: int = 13) -> None:
    """Write the sources and the holdout under `root`, one line at a time (memory stays flat at
    any N), then the `GENERATED` marker (an interrupted generation is redone)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    holdout = _holdout(rng)
    with (root / "holdout.jsonl").open("w") as fh:
        for q in holdout:
            fh.write(json.dumps({"question": q, "answer": "42"}) + "\n")
    recent: list[tuple[str, str]] = []
    for name, kind, share, _, _ in SOURCES:
        with (root / f"{name}.jsonl").open("w") as fh:
            for _ in range(int(n * share)):
                roll = rng.random()
                if roll < 0.03 and recent:  # exact duplicate (case / spacing variant)
                    prompt, reply = rng.choice(recent)
                    prompt = prompt.upper() if rng.random() < 0.5 else prompt.replace(" ", "  ", 2)
                elif roll < 0.06 and recent:  # near duplicate
                    prompt, reply = rng.choice(recent)
                    reply = _variant(reply, rng)
                else:
                    prompt, reply = _prompt(rng), _reply(rng)
                    if roll < 0.065:
                        prompt = f"{prompt} {rng.choice(holdout)}"
                    elif roll < 0.067:
                        prompt = f"{prompt} Contact me at {rng.choice(WORDS)}{rng.randint(1, 999)}@example.org."
                    recent.append((prompt, reply))
                    if len(recent) > 5000:
                        recent.pop(rng.randrange(len(recent)))
                if kind == "sft" and name == "chat":
                    raw = {
                        "messages": [
                            {"role": "user", "content": prompt},
                            {"role": "assistant", "content": reply},
                        ]
                    }
                else:
                    raw = _raw_record(kind, prompt, reply, rng, _reply(rng))
                fh.write(json.dumps(raw) + "\n")
    (root / GENERATED).write_text(f"{n} records, seed {seed}\n")


def write_spec(root: Path, n: int, total: int) -> Path:
    """Write the spec of the N-record input under `root` and return its path."""
    path = root / "spec.yaml"
    path.write_text(_spec(n, total))
    return path


def _spec(n: int, total: int) -> str:
    lines = [f"name: scale{n}", "seed: 7", f"total: {total}", "sources:"]
    for name, kind, _, lic, labels in SOURCES:
        lines += [
            f"  - name: {name}",
            f"    kind: {kind}",
            f"    path: {name}.jsonl",
            f"    license: {lic}",
        ]
        if kind == "synthetic":
            lines.append("    generator: {field: model}")
        if labels:
            lines += [f"    intent: {labels[0]}", f"    difficulty: {labels[1]}"]
    lines += [
        "holdouts:",
        "  - {name: ferry_eval, path: holdout.jsonl, fields: [question]}",
        "license_policy: {allow: [], deny: [], unknown: deny}",
        "slices:",
        "  - {intent: educational_explanation, difficulty: straightforward, weight: 2}",
        "  - {intent: coding, difficulty: straightforward, weight: 1}",
        "  - {intent: math, difficulty: multi_step, weight: 1}",
        "  - {intent: conversation, difficulty: straightforward, weight: 1}",
        "  - {intent: creative_writing, difficulty: straightforward, weight: 1}",
        "sampling: {max_repeats: 1, shortfall: redistribute}",
    ]
    return "\n".join(lines) + "\n"


class PoolRunner:
    """A `StageRunner`: `map` on a pool of worker processes, `call` in this process."""

    def __init__(self, executor: ProcessPoolExecutor) -> None:
        self.executor = executor
        self.events: list[tuple[str, float, float]] = []  # (name, start, end), perf_counter

    def call(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` now, here."""
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.events.append((name, t0, time.perf_counter()))
        return result

    def map(
        self, name: str, fn: Callable[..., Any], items: Sequence[Any], /, **kwargs: Any
    ) -> list[Any]:
        """Run `fn(item, **kwargs)` on the workers; results in item order."""
        t0 = time.perf_counter()
        futures = [self.executor.submit(fn, item, **kwargs) for item in items]
        results = [f.result() for f in futures]
        self.events.append((name, t0, time.perf_counter()))
        return results


def _role(proc: psutil.Process, root: int) -> str:
    """What a process of the build is: the flow, a Prefect server, a Dask worker or other."""
    if proc.pid == root:
        return "flow"
    line = " ".join(proc.cmdline())
    if "uvicorn" in line or "prefect.server" in line:
        return "prefect server"
    if "spawn_main" in line:
        return "worker"  # Dask worker or pool worker (multiprocessing spawn)
    return "other"


class RssSampler:
    """Peak of the summed RSS of process `pid` and its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval, self.peak, self.peak_driver = pid, interval, 0, 0
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (role, last CPU seconds seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            try:
                total = driver = root.memory_info().rss
                children = root.children(recursive=True)
            except psutil.Error:
                return
            for child in children:
                try:
                    total += child.memory_info().rss
                    self._cpu(child)
                except psutil.Error:
                    pass
            self._cpu(root)
            self.peak, self.peak_driver = max(self.peak, total), max(self.peak_driver, driver)
            time.sleep(self.interval)

    def _cpu(self, proc: psutil.Process) -> None:
        """Remember `proc`'s CPU seconds (a process that ends loses < one interval of them)."""
        with suppress(psutil.Error):
            role = self.cpu.get(proc.pid, ("", 0.0))[0] or _role(proc, self.pid)
            times = proc.cpu_times()
            self.cpu[proc.pid] = (role, times.user + times.system)

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds of the build's processes, summed by role (flow, Dask worker, ...)."""
        roles: dict[str, float] = {}
        for role, seconds in self.cpu.values():
            roles[role] = round(roles.get(role, 0.0) + seconds, 1)
        return dict(sorted(roles.items()))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _summary(result: Any, seconds: float) -> dict[str, Any]:
    run = json.loads((result.version_dir / "run.json").read_text())
    counts = result.manifest["counts"]["stages"]
    return {
        "seconds": round(seconds, 1),
        "stage_seconds": run["stage_seconds"],  # wall time inside the shard tasks
        "stage_cpu_seconds": run.get("stage_cpu_seconds"),  # CPU time of the same
        # the flow process, per phase in order: wall and CPU (every thread) of each stage call
        "wall_seconds": run.get("wall_seconds"),
        "flow_cpu_seconds": run.get("flow_cpu_seconds"),
        "dropped": {st: sum(v["dropped"] for v in per.values()) for st, per in counts.items()},
        "sampled": result.manifest["slices"]["total"]["actual"],
    }


def run_dask(spec: Path, out: Path) -> dict[str, Any]:
    """Build `spec` with the Prefect flow on Dask, as `mixgate build --runner dask` does."""
    for key, value in (
        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        ("DO_NOT_TRACK", "1"),
        ("PREFECT_LOGGING_LEVEL", "WARNING"),
        ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"),
    ):
        os.environ.setdefault(key, value)
    from flows.server import start_server, using_server

    server = start_server()  # as `mixgate build` does: before the imports and the plan
    from flows.build import run_build_flow
    from pipeline.output.publish import read_manifest

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        # the flow and both Dask workers talk to this one server (`PREFECT_API_URL` is in the
        # workers' environment); without it every worker started a Prefect server of its own
        with using_server(server):
            version_dir = run_build_flow(
                str(spec), out=str(out), version=None, runner="dask", use_cache=False
            )
    finally:
        if server is not None:
            server.stop()
    seconds = time.perf_counter() - t0

    class _Result:  # the fields `_summary` reads
        pass

    result = _Result()
    result.version_dir = Path(version_dir)
    result.manifest = read_manifest(Path(version_dir))
    return _summary(result, seconds)


def run_pool(spec: Path, out: Path, workers: int) -> dict[str, Any]:
    """Build `spec` in-process with a process pool for the per-shard tasks (no Prefect)."""
    shutil.rmtree(out, ignore_errors=True)
    loaded = load(spec)
    # spawn, not fork: forking a process whose polars thread pool is running can deadlock
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pool.submit(os.getpid).result()  # start the workers before timing
        runner = PoolRunner(pool)
        t0 = time.perf_counter()
        result = run_build(loaded, out_dir=out, runner=runner, runner_name=f"pool{workers}")
        seconds = time.perf_counter() - t0
    return _summary(result, seconds)


def run_child(args: argparse.Namespace) -> None:
    """Build one N in this (fresh) process and print its summary as the last line."""
    root = args.work / f"n{args.child}"
    spec, out = root / "spec.yaml", args.work / f"out{args.child}"
    measured = run_dask(spec, out) if args.runner == "dask" else run_pool(spec, out, args.workers)
    print(json.dumps(measured), flush=True)


def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the build of N in a child process; return its summary and the peak RSS of its tree."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(n),
        "--work",
        str(args.work),
        "--runner",
        args.runner,
        "--workers",
        str(args.workers),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with RssSampler(child.pid) as rss:
        stdout, _ = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"build of {n} records failed (exit {child.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    measured = json.loads(stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        **measured,
        "peak_rss_gib": round(rss.peak / 2**30, 2),
        "peak_driver_gib": round(rss.peak_driver / 2**30, 2),
        # the flow process's peak RSS per input record (imports and the fixed part included)
        "driver_bytes_per_record": round(rss.peak_driver / n),
        # user + sys of the build's process tree (every reaped descendant), load-independent-ish
        "cpu_seconds": round(cpu, 1),
        "cpu_by_process": rss.cpu_by_role(),  # sampled every 50 ms (psutil), by role
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    """Generate inputs (untimed), build each N, print JSON lines and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mixgate-scale"))
    parser.add_argument("--workers", type=int, default=2, help="--runner pool only")
    parser.add_argument("--runner", choices=("dask", "pool"), default="dask")
    parser.add_argument("--total", type=int, default=50_000, help="records in the mixture")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # internal: build one N here
    args = parser.parse_args()
    if args.child is not None:
        run_child(args)
        return
    rows = []
    for n in args.records:
        root = args.work / f"n{n}"
        if not (root / GENERATED).is_file():
            t0 = time.perf_counter()
            generate(root, n)
            print(
                f"generated {n} records in {time.perf_counter() - t0:.0f} s (not timed)", flush=True
            )
        write_spec(root, n, args.total)
        result = {"records": n, "runner": args.runner, **measure(n, args)}
        print(json.dumps(result), flush=True)
        rows.append(result)
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print(
        "| records | wall s | CPU s (tree) | records/s | peak RSS GiB (sum) | peak flow GiB "
        "| flow B/record | load avg (before -> after) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['records']:,} | {r['seconds']} | {r['cpu_seconds']} "
            f"| {r['records'] / r['seconds']:,.0f} | {r['peak_rss_gib']} | {r['peak_driver_gib']} "
            f"| {r['driver_bytes_per_record']} | {r['loadavg_before'][0]} -> {r['loadavg_after'][0]} |"
        )


if __name__ == "__main__":
    main()
