"""The temporary server's process: Prefect's API app, built with the garbage collector paused.

Building Prefect's server app imports Prefect, SQLAlchemy, FastAPI and every API router and ORM
model: several hundred thousand long-lived objects, which the cyclic garbage collector scans
again and again while they are being created (measured: importing the server module and
`create_app` 3.8-4.4 CPU-s with the collector on, 2.7-3.3 off; load ~15). `LAUNCH` starts
uvicorn with the collector off; `create_app` builds Prefect's app, freezes what survived (the
collector never scans it again) and turns the collector back on for the build.
"""

from __future__ import annotations

import gc
from typing import Any

LAUNCH = (
    "import gc, sys; gc.disable(); sys.argv[0] = 'uvicorn'; from uvicorn.main import main; main()"
)


def create_app() -> Any:
    """Prefect's server app (`prefect.server.api.server.create_app`), collector back on."""
    from prefect.server.api.server import create_app as prefect_app

    app = prefect_app()
    gc.freeze()
    gc.enable()
    return app
