"""The one strawberry ASGI view behind /graphql (POST, GET and WebSocket)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context
from server.db import Db, read_engine
from server.logs import request_id_var
from tenants.scope import Scope as TenantScope


class EhomeGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: Any,
        *,
        engine: AsyncEngine,
        timezone: ZoneInfo,
        graphiql: bool = True,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.reads = read_engine(engine)
        self.timezone = timezone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Whatever happened, the request's connection goes back to the pool.
            context = scope.get("state", {}).pop("ehome_context", None)
            if context is not None:
                await context.close()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            db=Db(self.reads),
            # Until authorization lands, every request sees the whole tree.
            scope=TenantScope.everything(),
            request_id=request_id_var.get() or "-",
            timezone=self.timezone,
            request=request,
            response=response if isinstance(response, Response) else None,
        )
        if isinstance(request, Request):
            request.state.ehome_context = context  # closed by __call__
        return context

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
