"""Start-up and fixed cost of `mixgate build`, timed as a user runs it: a process per run.

Modes (each run is a fresh ``mixgate build`` process with a fresh output directory, so no file
cache):

- ``cold``: no ``PREFECT_API_URL``, a fresh, empty ``PREFECT_HOME`` for every run (a first
  ``make demo`` in a new clone): the build starts Prefect's temporary server, whose database is
  copied from the environment's template (``flows.server``; ``make venv`` writes it);
- ``first``: as ``cold``, but with no template either (what a first build pays in an
  environment made without ``make venv``): Prefect runs every migration (not in the default modes);
- ``warm`` (alias ``ephemeral``): as ``cold``, in one ``PREFECT_HOME`` shared by every run,
  warmed once, untimed (every later ``make demo``);
- ``server``: ``PREFECT_API_URL`` points at a ``prefect server start`` the benchmark started;
- ``spec-error``: ``build`` of ``tests/data/check/planted.yaml`` (ten planted mistakes): time to
  the first ``error:`` line on stderr, and to the exit.

For every run it prints wall time, CPU seconds of the CLI process and of the Prefect server it
started (sampled with psutil every 50 ms; the server's CPU split into start-up and the build),
and a breakdown from the version's ``run.json``: ``check`` (spec and inputs checked),
``imports`` (Prefect and the library), ``plan`` (engines, hashes, holdouts), ``server wait``
(blocked on the API), ``flow start`` (flow run created, until the build starts), ``work``
(the stages), ``write+exit`` (writing the version, draining logs, stopping the server).
Medians over ``--repeat`` interleaved runs; the load average before and after.

``--compare ROOT`` runs the same modes with another checkout (its own ``.venv``), interleaved
with this one, e.g. the ``main`` branch before a change.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_startup.py --repeat 3`` (add ``--modes
spec-error,first,cold,warm,server`` for the first build without a template database)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SPEC = "mixtures/demo.yaml"
PLANTED = "tests/data/check/planted.yaml"


def _env(home: Path, api_url: str | None, templates: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MIXGATE_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
        TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="",
        DO_NOT_TRACK="1",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if templates is not None:
        env["MIXGATE_PREFECT_TEMPLATES"] = str(templates)
    return env


def _is_server(proc: psutil.Process) -> bool:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return "uvicorn" in cmd or "prefect.server" in cmd


def _run(
    root: Path, args: list[str], env: dict[str, str], external: psutil.Process | None = None
) -> dict:
    """Run one CLI process; sample CPU of it and of its server (its child, or `external`);
    time the first error line."""
    ext0 = _cpu(external)
    t0 = time.perf_counter()
    cli = subprocess.Popen(
        [str(root / ".venv" / "bin" / "python"), "-m", "flows.cli", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    me = psutil.Process(cli.pid)
    cpu: dict[int, float] = {}
    server_pids: set[int] = set()
    timeline: list[tuple[float, float]] = []  # (seconds, server CPU so far)
    os.set_blocking(cli.stderr.fileno(), False)
    err, first_error = "", None
    while cli.poll() is None:
        try:
            for proc in [me, *me.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
                    if proc.pid != me.pid and proc.pid not in server_pids and _is_server(proc):
                        server_pids.add(proc.pid)
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        own = sum(cpu.get(p, 0.0) for p in server_pids)
        timeline.append((time.perf_counter() - t0, own + _cpu(external) - ext0))
        err += _read_some(cli.stderr)
        if first_error is None and "error:" in err:
            first_error = time.perf_counter() - t0
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    out = cli.stdout.read().decode("utf-8", "replace")
    err += _read_some(cli.stderr)
    if first_error is None and "error:" in err:
        first_error = wall
    server_cpu = sum(cpu.get(p, 0.0) for p in server_pids) + _cpu(external) - ext0
    return {
        "rc": cli.returncode,
        "wall": wall,
        "first_error": first_error,
        "cli_cpu": cpu.get(cli.pid, 0.0),
        "server_cpu": server_cpu,
        "timeline": timeline,
        "other_cpu": sum(v for p, v in cpu.items() if p != cli.pid and p not in server_pids),
        "version_dir": out.strip().splitlines()[-1] if out.strip() else None,
        "stderr": err,
    }


def _read_some(stream) -> str:
    try:
        return (stream.read() or b"").decode("utf-8", "replace")
    except BlockingIOError:
        return ""


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        total = proc.cpu_times().user + proc.cpu_times().system
        for child in proc.children(recursive=True):
            total += child.cpu_times().user + child.cpu_times().system
    except psutil.Error:
        return 0.0
    return total


def _breakdown(result: dict) -> dict[str, float]:
    """Phases of a successful build, from its run.json (seconds)."""
    run = json.loads((Path(result["version_dir"]) / "run.json").read_text())
    marks, walls = run.get("startup_marks", {}), run["wall_seconds"]
    startup = walls.get("startup", 0.0)
    phases: dict[str, float] = {}
    last = 0.0
    for name in ("check", "imports", "plan", "server"):
        if name in marks:
            phases[name if name != "server" else "server wait"] = marks[name] - last
            last = marks[name]
    phases["flow start"] = startup - last
    work = run["seconds"]
    phases["work"] = work
    phases["write+exit"] = result["wall"] - startup - work
    ready = marks.get("server", 0.0)  # server CPU until the API answered, then during the build
    at_ready = max((c for t, c in result["timeline"] if t <= ready), default=0.0)
    result["server_start_cpu"] = at_ready
    result["server_build_cpu"] = result["server_cpu"] - at_ready
    return phases


def _prefect_server(root: Path, home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            str(root / ".venv" / "bin" / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
        ],
        env=_env(home, None),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("prefect server start: no answer after 300 s")


def _mode_env(mode: str, home: Path, api_url: str | None, scratch: Path) -> dict[str, str]:
    """The environment of one run: `home` is the shared, warmed home; `scratch` a fresh path."""
    if mode in ("cold", "first"):  # a home nothing has used yet (and, for `first`, no template)
        scratch.mkdir(parents=True, exist_ok=True)  # Prefect creates the home, not its parents
        return _env(scratch / "home", None, scratch / "templates" if mode == "first" else None)
    return _env(home, api_url if mode == "server" else None)


def _template(root: Path) -> str:
    """Which template database `root`'s environment holds (cold runs copy it)."""
    found = sorted((root / ".venv" / "share" / "mixgate").glob("prefect-*.db"))
    return ", ".join(str(p) for p in found) or "none (cold runs migrate)"


def _load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="spec-error,cold,warm,server")
    parser.add_argument("--compare", type=Path, default=None, help="another checkout to interleave")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for this checkout's runs only (A/B against --compare)",
    )
    parser.add_argument(
        "--spec",
        default=SPEC,
        help=f"the spec the build modes build (default: {SPEC}); e.g. a bench_scale spec, to see "
        "the server's CPU per task run on a larger build",
    )
    parser.add_argument("-v", action="store_true", help="print every run")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers it started
    roots = {"this": ROOT} | ({"compare": args.compare.resolve()} if args.compare else {})
    modes = [{"ephemeral": "warm"}.get(m, m) for m in args.modes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="mixgate-bench-startup-"))
    results: dict[tuple[str, str], list[dict]] = {}
    servers = []
    print(f"load average before: {_load()}")
    try:
        homes = {name: work / f"home-{name}" for name in roots}
        urls: dict[str, str] = {}
        for name, root in roots.items():  # warm each home (migrations), untimed
            _run(
                root,
                ["build", SPEC, "--out", str(work / "warm"), "--quiet"],  # demo: warms the home
                _env(homes[name], None),
            )
            if "server" in modes:
                server, urls[name] = _prefect_server(root, homes[name])
                servers.append(server)
        external = {name: psutil.Process(s.pid) for name, s in zip(urls, servers, strict=True)}
        for name, root in roots.items():
            print(f"template database of {name}: {_template(root)}")
        for i in range(args.repeat):
            for mode in modes:
                for name, root in roots.items():
                    out = work / f"out-{name}-{mode}-{i}"
                    spec = PLANTED if mode == "spec-error" else args.spec
                    env = _mode_env(mode, homes[name], urls.get(name), work / f"{name}-{mode}-{i}")
                    if name == "this":
                        env.update(kv.split("=", 1) for kv in args.set)
                    ext = external.get(name) if mode == "server" else None
                    r = _run(root, ["build", spec, "--out", str(out), "--quiet"], env, ext)
                    if mode != "spec-error":
                        if r["rc"] != 0:
                            print(r["stderr"][-2000:])
                            raise SystemExit(f"{name} {mode}: exit {r['rc']}")
                        r["phases"] = _breakdown(r)
                    results.setdefault((name, mode), []).append(r)
                    if args.v:
                        print(
                            f"  {name:7} {mode:10} run {i}: wall {r['wall']:.2f} s, "
                            f"cli cpu {r['cli_cpu']:.2f} s, server cpu {r['server_cpu']:.2f} s, "
                            f"other cpu {r['other_cpu']:.2f} s, "
                            f"load {_load()}"
                        )
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    print(f"load average after:  {_load()}")
    _report(results)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _report(results: dict[tuple[str, str], list[dict]]) -> None:
    print("\nmedians (seconds; wall min-max; CPU = user+sys per process, total = all of them)")
    print(
        f"{'checkout':8} {'mode':10} {'wall':>6} {'(min-max)':>11} {'first err':>9} "
        f"{'cli cpu':>7} {'server cpu':>10} {'(start':>6} {'build)':>6} {'other cpu':>9} "
        f"{'total cpu':>9}"
    )
    for (name, mode), runs in results.items():
        first = _median([r["first_error"] for r in runs if r["first_error"] is not None])
        med = {
            k: _median([r[k] for r in runs if k in r])
            for k in (
                "wall",
                "cli_cpu",
                "server_cpu",
                "server_start_cpu",
                "server_build_cpu",
                "other_cpu",
            )
        }
        walls = [r["wall"] for r in runs]
        total = _median([r["cli_cpu"] + r["server_cpu"] + r["other_cpu"] for r in runs])
        print(
            f"{name:8} {mode:10} {med['wall']:6.2f} {min(walls):5.1f}-{max(walls):<5.1f} "
            f"{first:9.2f} {med['cli_cpu']:7.2f} {med['server_cpu']:10.2f} "
            f"{med['server_start_cpu']:6.2f} {med['server_build_cpu']:6.2f} "
            f"{med['other_cpu']:9.2f} {total:9.2f}"
        )
    print("\nbreakdown of successful builds, medians (seconds, wall)")
    for (name, mode), runs in results.items():
        if not runs or "phases" not in runs[0]:
            continue
        keys = list(dict.fromkeys(k for r in runs for k in r["phases"]))
        parts = ", ".join(
            f"{k} {_median([r['phases'].get(k, 0.0) for r in runs]):.2f}" for k in keys
        )
        print(f"{name:8} {mode:10} {parts}")


if __name__ == "__main__":
    sys.exit(main())
