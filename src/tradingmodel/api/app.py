"""The FastAPI application: configuration, lifespan (engine, event hub, training workers), errors, limits.

Every error is JSON ``{"detail": "<what is wrong>"}``; an unexpected one is logged and answered 500 with no
traceback. Route handlers that touch the database are plain ``def`` functions, which FastAPI runs in its
thread pool, so a database call never blocks the event loop. ``/`` is left free (a dashboard may be
served there); ``/docs`` and ``/openapi.json`` describe the API and need no key (a browser cannot send
one with a page request; they hold no data — docs/api.md, "Public on purpose"), every ``/api/v1`` route
and the WebSocket do.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradingmodel.config import AppConfig
from tradingmodel.services.errors import ServiceError

log = logging.getLogger("tradingmodel.api")
MAX_BODY_BYTES = 2_000_000


@dataclass
class ApiConfig:
    """What one server needs; ``workers=0`` starts no training worker (jobs stay queued)."""

    database_url: str
    api_keys: list[str]
    app_config: AppConfig = field(default_factory=AppConfig)
    models_dir: Path = Path("models")
    workers: int = 1
    heartbeat_s: float = 15.0
    poll_s: float = 0.1
    ws_queue: int = 10_000  # events queued per WebSocket client before it is dropped as too slow
    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = MAX_BODY_BYTES
    paper: Any = None  # a started paper session handle (``serve --paper``), stopped with the server


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _too_large(self.limit, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge
            return msg

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.limit, send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    body = f'{{"detail": "request body too large: at most {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _location(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, e: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        parts = [f"{_location(err)}: {err.get('msg', 'invalid')}" for err in e.errors()[:5]]
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, e: OperationalError) -> JSONResponse:
        log.error("database error: %s", e)
        return JSONResponse({"detail": "the database is not answering; try again"}, status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"detail": f"internal error ({type(e).__name__}); see the server log"}, status_code=500)


def create_app(cfg: ApiConfig) -> FastAPI:
    """The API over ``cfg.database_url``; keys in ``cfg.api_keys`` (at least one)."""
    if not cfg.api_keys:
        raise ValueError("the API needs at least one key (TRADINGMODEL_API_KEYS)")
    from tradingmodel.api import routes_data, routes_model, ws
    from tradingmodel.api.events import EventHub
    from tradingmodel.jobs import WorkerPool
    from tradingmodel.store import get_engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = get_engine(cfg.database_url)
        app.state.engine = engine
        app.state.hub = hub = EventHub(engine, poll_s=cfg.poll_s, queue_size=cfg.ws_queue)
        await hub.start()
        pool = WorkerPool(cfg.database_url, cfg.models_dir, cfg.workers)
        interrupted = pool.start() if cfg.workers > 0 else []
        if interrupted:
            log.warning("marked training job(s) %s interrupted: their worker was gone", interrupted)
        app.state.pool = pool
        try:
            yield
        finally:
            if cfg.paper is not None:
                await cfg.paper.stop()
            await hub.stop()
            pool.stop()

    app = FastAPI(
        title="tradingmodel",
        version="1",
        lifespan=lifespan,
        description="Market data, predictions, the paper portfolio, background training and a "
        "WebSocket of events. Every /api/v1 route needs an X-API-Key header.",
    )
    app.state.api_keys = list(cfg.api_keys)
    app.state.cfg = cfg
    app.state.heartbeat_s = cfg.heartbeat_s
    _install_errors(app)
    app.include_router(routes_data.router)
    app.include_router(routes_model.router)
    app.include_router(ws.router)
    from tradingmodel.api.routes import runs as runs_routes  # past runs (docs/dashboard.md)

    app.include_router(runs_routes.router)
    from tradingmodel.dashboard import install as install_dashboard

    install_dashboard(app)  # the page at / (docs/dashboard.md)
    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)
    if cfg.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    return app
