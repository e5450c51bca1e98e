"""The one strawberry ASGI view behind /graphql (POST, GET and WebSocket)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from schema.context import Context
from server.audit import service as audit
from server.auth.identity import Revoked
from server.db import Db
from server.errors import Unauthenticated
from server.logs import request_id_var
from server.runtime import Runtime
from server.ws import TransportHandler

MAX_SUBSCRIPTIONS = 20  # per connection
ALERT_WINDOW = timedelta(minutes=10)  # one alert per subject and kind in this time


def client_of(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


async def alert_revoked_use(runtime: Runtime, refused: Revoked, client: str | None) -> None:
    """A revoked session or key came back: raise a security alert (once per 10 minutes)."""
    now = datetime.now(UTC)
    async with runtime.write() as (conn, outbox):
        entry = audit.Entry(
            principal=refused.subject,
            action="token.revoked_use",
            tenant_path=refused.path or await audit.home_of(conn, refused.subject),
            subject=refused.subject,
            client_address=client,
        )
        event = await audit.alert_once(
            conn, kind="token.revoked_use", entry=entry, now=now, window=ALERT_WINDOW
        )
        outbox.extend([event] if event else [])


class EhomeGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportHandler

    def __init__(self, schema: Any, *, runtime: Runtime, graphiql: bool = True) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
            # graphql-transport-ws only: the legacy protocol has no way to carry our rules.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
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
            if isinstance(exc, Revoked):
                await alert_revoked_use(runtime, exc, client_of(request))
        context = Context(
            db=Db(runtime.reads),
            runtime=runtime,
            principal=principal,
            auth_error=refused,
            request_id=request_id_var.get() or "-",
            client_address=client_of(request),
            request=request,
            response=response if isinstance(response, Response) else None,
        )
        request.state.ehome_context = context  # closed by __call__, after the last operation
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws: `connection_init` must carry `{"authorization": "Bearer .."}`;
        otherwise the socket is closed with 4403 before anything runs."""
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        try:
            principal = self.runtime.identity.resolve(header if isinstance(header, str) else None)
        except Unauthenticated as refused:
            if isinstance(refused, Revoked):
                await alert_revoked_use(self.runtime, refused, context.client_address)
            raise ConnectionRejectionError({"reason": refused.extensions.get("reason")}) from None
        if principal is None:
            raise ConnectionRejectionError({"reason": "missing"})
        context.principal, context.auth_error = principal, None
        return UNSET

    def encode_json(self, data: object) -> str:
        # Text, not bytes: strawberry sends bytes as binary WebSocket frames, and the
        # graphql-transport-ws protocol is JSON text.
        return orjson.dumps(data).decode()
