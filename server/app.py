"""create_app(settings) -> Starlette: routes, middleware, lifespan. Nothing else."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from schema.build import build_schema
from server.db import make_engine
from server.graphql_view import EhomeGraphQL
from server.middleware import RequestId
from server.settings import Settings

FRONTEND = Path(__file__).resolve().parent.parent / "frontend_stub"


def create_app(settings: Settings) -> Starlette:
    engine = make_engine(settings.database_url, echo=settings.sql_echo)
    graphql = EhomeGraphQL(build_schema(), engine=engine, timezone=ZoneInfo(settings.timezone))

    async def healthz(_request: Request) -> JSONResponse:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # the probe reports any failure, it never raises
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Objects made at start-up live as long as the process: keep the collector from
        # rescanning them on every full collection (~2 ms a request, PERFORMANCE.md).
        gc.collect()
        gc.freeze()
        yield
        await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Mount("/", StaticFiles(directory=FRONTEND, html=True)),
        ],
        middleware=[Middleware(RequestId)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    return app
