"""create_app(settings) -> Starlette: routes, middleware, lifespan. Nothing else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from schema.build import build_schema
from server import scheduler
from server.graphql_view import EhomeGraphQL
from server.middleware import Cors, RequestId, SecurityHeaders
from server.runtime import Runtime
from server.settings import Settings

FRONTEND = Path(__file__).resolve().parent.parent / "frontend_stub"
GC_THRESHOLDS = (50_000, 50, 1_000)


def create_app(settings: Settings) -> Starlette:
    runtime = Runtime.create(settings)
    graphql = EhomeGraphQL(build_schema(), runtime=runtime)

    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # the probe reports any failure, it never raises
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.ready()
        # Objects made at start-up live as long as the process: keep the collector from
        # rescanning them on every full collection (~2 ms a request, PERFORMANCE.md).
        gc.collect()
        gc.freeze()
        # A server holds many live objects (a thousand open subscriptions and their state):
        # with the default thresholds, full collections walk them all every few seconds and
        # stall the loop ~10-15 ms, the feed's p99 (bench/feed.py: 17.8 -> 8.4 ms). Reference
        # counting frees almost everything; the collector only has cycles to find.
        gc.set_threshold(*GC_THRESHOLDS)
        async with scheduler.running(runtime, settings.schedule_interval):
            yield
        await graphql.persisted.close()
        await runtime.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Mount("/", StaticFiles(directory=FRONTEND, html=True)),
        ],
        middleware=[
            Middleware(RequestId),
            Middleware(SecurityHeaders),
            # Browsers on other origins get no CORS header at all unless their origin is listed.
            *([Middleware(Cors, origins=settings.cors_origins)] if settings.cors_origins else []),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.engine = runtime.engine
    app.state.persisted = graphql.persisted
    return app
