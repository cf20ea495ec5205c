"""Which Prefect API a build uses, and when the temporary server may skip its migrations."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from flows import server
from tests.conftest import ROOT


def _db_at(home, revision: str | None) -> None:
    with sqlite3.connect(home / "prefect.db") as conn:
        if revision is not None:
            conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
            conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))


def test_a_fresh_home_is_not_warm(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert not server._database_is_warm()
    server._mark_database_warm()  # no database yet: nothing recorded
    assert not (tmp_path / server.READY_FILE).exists()


def test_the_marker_holds_only_for_the_revision_and_prefect_version_it_saw(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    for name in server._DB_URL_VARS:
        monkeypatch.delenv(name, raising=False)
    _db_at(tmp_path, "abc123")
    server._mark_database_warm()
    assert server._database_is_warm()
    recorded = json.loads((tmp_path / server.READY_FILE).read_text())
    assert recorded["revision"] == "abc123"
    with sqlite3.connect(tmp_path / "prefect.db") as conn:  # a newer Prefect migrated it
        conn.execute("UPDATE alembic_version SET version_num = 'def456'")
    assert not server._database_is_warm()
    (tmp_path / "prefect.db").unlink()  # the database was deleted
    assert not server._database_is_warm()


def test_a_database_of_the_users_choosing_is_left_to_prefect(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    _db_at(tmp_path, "abc123")
    server._mark_database_warm()
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql+asyncpg://x/y")
    assert not server._database_is_warm()


def test_a_configured_api_url_starts_no_server():
    """Without Prefect imported, the environment decides; nothing is started."""
    code = (
        "import os, sys; os.environ['PREFECT_API_URL'] = 'http://127.0.0.1:9/api'\n"
        "from flows import server\n"
        "assert server.start_server() is None\n"
        "assert 'prefect' not in sys.modules, 'checking the URL imported Prefect'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.flow
def test_the_background_server_answers_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    started = server.BackgroundServer()
    try:
        url = started.wait_ready()
        assert url.startswith("http://127.0.0.1:") and started.healthy()
        assert (tmp_path / server.READY_FILE).is_file()  # the next start skips migrations
    finally:
        started.stop()
    assert not started.healthy()
