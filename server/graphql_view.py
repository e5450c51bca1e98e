"""The one strawberry ASGI view behind /graphql (POST, GET and WebSocket)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context
from server.db import Db
from server.errors import Unauthenticated
from server.logs import request_id_var
from server.runtime import Runtime


class EhomeGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: Any, *, runtime: Runtime, graphiql: bool = True) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Whatever happened: audit what the request left, give its connection back.
            context = scope.get("state", {}).pop("ehome_context", None)
            if context is not None:
                await context.close()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        runtime = self.runtime
        await runtime.ready()
        principal, refused = None, None
        try:
            principal = runtime.identity.resolve(request.headers.get("authorization"))
        except Unauthenticated as exc:
            refused = exc  # only sign-in answers now; everything else says why
        context = Context(
            db=Db(runtime.reads),
            runtime=runtime,
            principal=principal,
            auth_error=refused,
            request_id=request_id_var.get() or "-",
            client_address=request.client.host if request.client else None,
            request=request,
            response=response if isinstance(response, Response) else None,
        )
        if isinstance(request, Request):
            request.state.ehome_context = context  # closed by __call__
        return context

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
