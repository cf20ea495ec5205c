"""Prefect's SQLite database in ``PREFECT_HOME``: is it warm, and the template a fresh home copies.

A server's first start in a ``PREFECT_HOME`` migrates the database and registers block types
(~6 CPU-seconds). The build records what it found (``mixgate-db-ready.json``: Prefect's version,
the schema revision and the installed collections) so that later starts that match skip both,
and a home with no database gets a copy of a template Prefect migrated once in this environment
(``<venv>/share/mixgate/prefect-<version>.db``, written by ``make venv``). A database the user
chose (``PREFECT_API_DATABASE_CONNECTION_URL``) is left to Prefect. `flows.server` starts the
server; this module only reads and copies files.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from contextlib import closing, suppress
from importlib.metadata import entry_points, version
from pathlib import Path

READY_FILE = "mixgate-db-ready.json"
TEMPLATES_ENV = "MIXGATE_PREFECT_TEMPLATES"  # where template databases live (default: the venv)
DB_URL_VARS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def users_database() -> bool:
    """True when the user chose Prefect's database (then Prefect alone manages it)."""
    return any(os.environ.get(v) for v in DB_URL_VARS)


def schema_revision(db: Path) -> str | None:
    """The alembic revision recorded in Prefect's SQLite database, or None."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def collections() -> list[str]:
    """The installed Prefect collections (their blocks are registered at a server's start)."""
    found = {
        f"{ep.dist.name}=={ep.dist.version}"
        for ep in entry_points(group="prefect.collections")
        if ep.dist
    }
    return sorted(found)


def _ready_marker() -> dict[str, object] | None:
    """What the warm-database marker must say: Prefect's version, the DB's revision and the
    collections whose blocks were registered."""
    if users_database():
        return None  # a database of the user's choosing: leave migrations to Prefect
    revision = schema_revision(prefect_home() / "prefect.db")
    if not revision:
        return None
    return {"prefect": version("prefect"), "revision": revision, "collections": collections()}


def database_is_warm() -> bool:
    marker = _ready_marker()
    try:
        recorded = json.loads((prefect_home() / READY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker is not None and recorded == marker


def mark_database_warm() -> None:
    marker = _ready_marker()
    if marker is None:
        return
    path = prefect_home() / READY_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with suppress(OSError):
        tmp.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


def template_path() -> Path:
    """The template database for this environment's Prefect version."""
    root = os.environ.get(TEMPLATES_ENV) or Path(sys.prefix) / "share" / "mixgate"
    return Path(root) / f"prefect-{version('prefect')}.db"


def seed_from_template() -> bool:
    """Copy the template into a home that has no database yet; True if it did.

    The copy is linked into place, so a database another process created meanwhile is never
    replaced; the home is then marked warm (the template was migrated and its blocks registered).
    """
    if users_database():
        return False
    template, db = template_path(), prefect_home() / "prefect.db"
    if db.exists() or db.with_name("prefect.db-wal").exists() or not template.is_file():
        return False
    tmp = db.with_name(f".prefect.db.{os.getpid()}")
    try:
        db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(template, tmp)
        os.link(tmp, db)
    except OSError:
        return False
    finally:
        with suppress(OSError):
            tmp.unlink()
    mark_database_warm()
    return True


def save_template(db: Path) -> None:
    """Keep a copy of a database Prefect just migrated (no flow has run yet) as the template."""
    template = template_path()
    if template.exists() or schema_revision(db) is None:
        return
    tmp = template.with_name(f".{template.name}.{os.getpid()}")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        with (
            closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as src,
            closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst)
        os.replace(tmp, template)
    except (OSError, sqlite3.Error):
        with suppress(OSError):
            tmp.unlink()


# A warm database is migrated and its block types registered already: the server skips both.
WARM_SETTINGS = {
    "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}
