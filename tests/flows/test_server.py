"""Which Prefect API a build uses, and when the temporary server may skip its migrations."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from flows import prefect_home as home
from flows import server
from tests.conftest import ROOT


def _db_at(home, revision: str | None) -> None:
    with sqlite3.connect(home / "prefect.db") as conn:
        if revision is not None:
            conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
            conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))


def test_a_fresh_home_is_not_warm(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    assert not home.database_is_warm()
    home.mark_database_warm()  # no database yet: nothing recorded
    assert not (tmp_path / home.READY_FILE).exists()


def test_the_marker_holds_only_for_the_revision_and_prefect_version_it_saw(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    for name in home.DB_URL_VARS:
        monkeypatch.delenv(name, raising=False)
    _db_at(tmp_path, "abc123")
    home.mark_database_warm()
    assert home.database_is_warm()
    recorded = json.loads((tmp_path / home.READY_FILE).read_text())
    assert recorded["revision"] == "abc123"
    with sqlite3.connect(tmp_path / "prefect.db") as conn:  # a newer Prefect migrated it
        conn.execute("UPDATE alembic_version SET version_num = 'def456'")
    assert not home.database_is_warm()
    (tmp_path / "prefect.db").unlink()  # the database was deleted
    assert not home.database_is_warm()


def test_a_database_of_the_users_choosing_is_left_to_prefect(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    _db_at(tmp_path, "abc123")
    home.mark_database_warm()
    monkeypatch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", "postgresql+asyncpg://x/y")
    assert not home.database_is_warm()


def test_a_fresh_home_gets_a_copy_of_the_template_and_starts_warm(tmp_path, monkeypatch):
    fresh, templates = tmp_path / "home", tmp_path / "templates"
    monkeypatch.setenv("PREFECT_HOME", str(fresh))
    monkeypatch.setenv(home.TEMPLATES_ENV, str(templates))
    for name in home.DB_URL_VARS:
        monkeypatch.delenv(name, raising=False)
    assert not home.seed_from_template()  # no template yet: Prefect migrates
    templates.mkdir()
    _db_at(templates, "abc123")
    (templates / "prefect.db").rename(home.template_path())
    assert home.seed_from_template()
    assert (fresh / "prefect.db").read_bytes() == home.template_path().read_bytes()
    assert home.database_is_warm()  # migrated and blocks registered: nothing to redo
    recorded = json.loads((fresh / home.READY_FILE).read_text())
    assert recorded["revision"] == "abc123" and recorded["collections"] == home.collections()
    with sqlite3.connect(fresh / "prefect.db") as conn:  # the home's runs are its own
        conn.execute("CREATE TABLE runs (id TEXT)")
    assert not home.seed_from_template()  # never over an existing database
    assert "runs" not in home.template_path().read_bytes().decode("latin-1")


def test_a_template_is_kept_only_from_a_migrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv(home.TEMPLATES_ENV, str(tmp_path / "templates"))
    (tmp_path / "empty").mkdir()
    _db_at(tmp_path / "empty", None)
    home.save_template(tmp_path / "empty" / "prefect.db")
    assert not home.template_path().exists()
    _db_at(tmp_path, "abc123")
    home.save_template(tmp_path / "prefect.db")
    assert home.schema_revision(home.template_path()) == "abc123"


def test_a_database_of_the_users_choosing_gets_no_template(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(home.TEMPLATES_ENV, str(tmp_path))
    _db_at(tmp_path, "abc123")
    (tmp_path / "prefect.db").rename(home.template_path())
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://x/y")
    assert not home.seed_from_template()
    assert not (tmp_path / "home" / "prefect.db").exists()


def test_the_temporary_server_skips_what_one_build_does_not_need(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED", "true")  # the user's choice
    cold, warm = server.server_env(warm=False), server.server_env(warm=True)
    assert "PREFECT_API_URL" not in cold and cold["PREFECT__SERVER_EPHEMERAL"] == "1"
    assert cold["PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED"] == "true"
    assert cold["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "100"
    assert "PREFECT_SERVER_DATABASE_MIGRATE_ON_START" not in cold
    assert warm["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] == "false"
    assert warm["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] == "false"


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
    """A first start without a template migrates, and keeps the database as the template."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(home.TEMPLATES_ENV, str(tmp_path / "templates"))
    started = server.BackgroundServer()
    assert not started.warm and started.fresh
    try:
        url = started.wait_ready()
        assert url.startswith("http://127.0.0.1:") and started.healthy()
        assert (tmp_path / "home" / home.READY_FILE).is_file()  # the next start skips migrations
    finally:
        started.stop()
    assert not started.healthy()
    revision = home.schema_revision(tmp_path / "home" / "prefect.db")
    assert revision and home.schema_revision(home.template_path()) == revision
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "other-home"))  # a fresh home starts warm
    assert home.seed_from_template() and home.database_is_warm()
