"""Acceptance 1/2 of issue 11: the inputs that gave tracebacks give one-line errors (exit 2).

Each case runs the real CLI (`flows.cli.main`); every one fails before Prefect starts.
"""

from __future__ import annotations

import time

import pytest

from flows.cli import main
from tests.conftest import ROOT

DEMO = (
    (ROOT / "mixtures" / "demo.yaml")
    .read_text()
    .replace("../data_samples/", f"{ROOT}/data_samples/")
)
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


@pytest.fixture
def spec_file(tmp_path):
    def make(text: str) -> str:
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        return str(path)

    return make


def _fails_in_one_line(capsys, argv: list[str], needle: str) -> str:
    start = time.monotonic()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors and all(len(line) < 400 for line in errors), err[:2000]
    assert needle in err, err[:2000]
    assert time.monotonic() - start < 30  # never minutes of rendering
    return err


def test_out_is_a_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("")
    _fails_in_one_line(
        capsys,
        ["build", str(ROOT / "mixtures/demo.yaml"), "--out", str(out)],
        "is a file, not a directory",
    )


def test_a_file_where_the_mixture_dir_goes(tmp_path, capsys):
    (tmp_path / "demo").write_text("")
    _fails_in_one_line(
        capsys,
        ["build", str(ROOT / "mixtures/demo.yaml"), "--out", str(tmp_path)],
        "is a file, not a directory",
    )


def test_huge_slice_weights(tmp_path, capsys, spec_file):
    path = spec_file(DEMO.replace("weight: 2}", "weight: 1e308}"))
    _fails_in_one_line(capsys, ["build", path, "--out", str(tmp_path)], "weight")


@pytest.mark.parametrize("where", ["top", "extra_intents", "intent_map"])
def test_yaml_alias_bombs(tmp_path, capsys, spec_file, where):
    if where == "top":
        text = BOMB + DEMO
    elif where == "extra_intents":
        text = BOMB + DEMO + "tagging:\n  extra_intents: *i\n"
    else:
        text = BOMB + DEMO.replace("math_item: math", "math_item: *i", 1)
    path = spec_file(text)
    _fails_in_one_line(capsys, ["build", path, "--out", str(tmp_path)], "alias bomb")


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x"])
def test_mixture_names_that_are_not_safe_directory_names(tmp_path, capsys, spec_file, name):
    path = spec_file(DEMO.replace("name: demo\n", f'name: "{name}"\n', 1))
    _fails_in_one_line(capsys, ["build", path, "--out", str(tmp_path / "out")], "`name`")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
