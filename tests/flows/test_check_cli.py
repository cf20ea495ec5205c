"""`mixgate check` and the same check at the start of `build`, before Prefect starts."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.pipeline.build.test_check import EXPECTED, PLANTED


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def test_check_reports_all_ten_mistakes_one_line_each_exit_2():
    """One run, ten error lines on stderr (file:line:column), exit code 2."""
    result = _run("-m", "flows.cli", "check", str(PLANTED))
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ": error: " in ln]
    assert len(errors) == len(EXPECTED) == 10
    for line, key, _, _ in EXPECTED:
        prefix = f"{PLANTED.as_posix()}:{line}:"
        assert any(e.startswith(prefix) and (not key or f"`{key}`" in e) for e in errors), (
            line,
            key,
        )
    assert "10 error(s)" in result.stderr


def test_build_reports_the_same_errors_before_prefect_is_imported():
    """`build` fails with the check's ten errors, exit 2, and never imports Prefect."""
    code = (
        "import sys\nfrom flows.cli import main\n"
        f"rc = main(['build', {str(PLANTED)!r}, '--out', 'unused-out'])\n"
        "sys.stderr.write('PREFECT_IMPORTED=%s\\n' % ('prefect' in sys.modules))\n"
        "raise SystemExit(rc)\n"
    )
    result = _run("-c", code)
    assert result.returncode == 2
    assert len([ln for ln in result.stderr.splitlines() if ": error: " in ln]) == 10
    assert "PREFECT_IMPORTED=False" in result.stderr
    assert "nothing was built" in result.stderr
    assert not (ROOT / "unused-out").exists()


def test_check_json_lists_problems_and_supply():
    """`check --json` is machine-readable: ok flag, problems with positions, supply rows."""
    result = _run("-m", "flows.cli", "check", "mixtures/demo.yaml", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["errors"] == 0
    assert {r["intent"] for r in report["supply"]} >= {"math", "coding"}
    assert all({"line", "column", "key", "message"} <= set(p) for p in report["problems"])
