"""The web dashboard: a static page at ``/`` over the REST routes and the event WebSocket.

No build step and no network at run time: the page is plain HTML/JS/CSS in ``static/`` and plotly.js is
served from the installed ``plotly`` package. The page holds no secret; it asks for the API key and keeps it
in ``sessionStorage`` (one browser tab's session).
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def install(app: FastAPI) -> None:
    """Serve the page at ``/``, its files under ``/dashboard/`` and plotly.js at ``/dashboard/plotly.min.js``."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/dashboard/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    app.mount("/dashboard", StaticFiles(directory=STATIC), name="dashboard")
