"""The CLI: thin commands whose errors are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json

import pytest

from flows.cli import main


@pytest.mark.parametrize(
    "command", ["check", "build", "rebuild", "verify", "spec-schema", "audit", "scan-pii"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: mixgate" in capsys.readouterr().out


def test_spec_schema_prints_json_schema(capsys):
    assert main(["spec-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "MixtureSpec"


def test_missing_spec_is_one_line_exit_2(tmp_path, capsys):
    assert main(["build", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    [error] = [line for line in err.splitlines() if ": error: " in line]
    assert "spec file not found" in error
    assert "Traceback" not in err


def test_unknown_spec_key_is_one_line_exit_2(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nseed: 1\ntotal: 1\nsurprise: true\nsources: []\nslices: []\n")
    assert main(["build", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 3  # every mistake, one line each: the key, and the two empty lists
    assert any("`surprise`: unknown key" in e for e in errors)
    assert any("`sources`" in e for e in errors) and any("`slices`" in e for e in errors)
    assert not (tmp_path / "out").exists()


def test_usage_error_is_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["build"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("mixgate: error:")


def test_verify_of_a_non_version_dir_is_exit_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def _broken_verify(version_dir):
    from pipeline.errors import InternalError

    msg = "gate `x` needs column `x_drop_rule`; got columns []"
    raise InternalError(msg)


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_internal_error_is_a_bug_report_exit_3(tmp_path, capsys, monkeypatch, debug):
    import pipeline.output.publish

    monkeypatch.setattr(pipeline.output.publish, "verify_version", _broken_verify)
    assert main(["verify", str(tmp_path), *debug]) == 3
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith("mixgate: internal error (a bug in mixgate")
    assert "needs column `x_drop_rule`" in last
    assert ("Traceback" in err) == bool(debug)
    assert err.count("\n") == 1 or debug


def test_unexpected_exception_is_also_a_bug_report(tmp_path, capsys, monkeypatch):
    import pipeline.output.publish

    def boom(version_dir):
        return {}["missing"]

    monkeypatch.setattr(pipeline.output.publish, "verify_version", boom)
    assert main(["--debug", "verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].endswith("KeyError: 'missing'")


def test_version_flag(capsys):
    """`mixgate --version` prints the package version."""
    from pipeline import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"mixgate {__version__}"


def test_a_stop_signal_wrapped_by_a_library_is_an_interruption_not_a_bug(
    tmp_path, capsys, monkeypatch
):
    """SIGTERM raises KeyboardInterrupt wherever the main thread is; pydantic wraps it when it
    lands in a serializer (seen while Prefect imports). That is exit 130, not a bug report."""
    import pipeline.output.publish

    def interrupted_inside_a_library(version_dir):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            msg = "Error calling function `_ser_model`: KeyboardInterrupt: "
            raise ValueError(msg) from exc

    monkeypatch.setattr(pipeline.output.publish, "verify_version", interrupted_inside_a_library)
    assert main(["verify", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "mixgate: interrupted\n"


def test_start_up_pauses_the_garbage_collector_and_restores_it():
    import gc

    from flows.cli.build import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
