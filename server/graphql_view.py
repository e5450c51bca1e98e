"""The one strawberry ASGI view behind /graphql (POST, GET and WebSocket).

HTTP follows GraphQL-over-HTTP:

- A client that accepts `application/graphql-response+json` gets it, with its status codes:
  400 (no `data`) for a request that fails parsing, validation, variable coercion or the
  choice of its operation, or is refused before it runs (403 allow-list, 429 rate limit);
  200 once execution began. A client that accepts only `application/json` gets the legacy
  behaviour: 200 and `application/json` for every GraphQL result.
- Requests that are not well-formed are refused whatever the client accepts: 400 (no query,
  bad JSON, bad `variables`, an array while batching is off or over EHOME_BATCH_MAX), 405 (a
  mutation over GET, never run; any method but GET and POST), 413 (a body over
  EHOME_MAX_BODY, refused before it is read whole), 415 (a POST that is not
  `application/json`: forms and text/plain are how cross-site requests forge calls).
- Persisted queries and partner allow-lists (server/persisted.py) are resolved before the
  operation runs; GraphiQL is served in dev only (its page loads from a CDN).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from graphql import GraphQLError, GraphQLFormattedError
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from schema.context import Context
from server.audit import service as audit
from server.auth.identity import Revoked
from server.db import Db
from server.errors import AppError, Unauthenticated
from server.logs import request_id_var
from server.persisted import Persisted, PersistedQueryNotFound, Unregistered
from server.runtime import Runtime
from server.ws import TransportHandler

MAX_SUBSCRIPTIONS = 20  # per connection
ALERT_WINDOW = timedelta(minutes=10)  # one alert per subject and kind in this time

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
ALLOWED = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
# graphql-response+json: the status of a request refused before execution, by error code.
REFUSED_STATUS = {
    "FORBIDDEN": 403,
    "RATE_LIMITED": 429,
    "INTERNAL_SERVER_ERROR": 500,
    "TIMEOUT": 504,
    # Apollo clients expect 200 here, then send the text; caches must not keep it.
    "PERSISTED_QUERY_NOT_FOUND": 200,
}
NO_STORE = {"cache-control": "private, no-cache, must-revalidate"}
# GraphiQL (dev only) loads React and GraphiQL from unpkg and runs an inline script.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https:; "
    "font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


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


class HttpError(Exception):
    """A request that is not well-formed: answered with this status whatever it accepts."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}


def bad_request(message: str) -> HttpError:
    return HttpError(400, message, "BAD_REQUEST")


def app_error(error: AppError) -> dict[str, Any]:
    return {"message": error.message, "extensions": {**error.extensions, "code": error.code}}


def _json_param(raw: str | None, name: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(f"`{name}` must be JSON") from None


def _operation(item: object) -> tuple[Any, Any, Any, Any]:
    """(query, operationName, variables, extensions) of one operation in a request body."""
    if not isinstance(item, dict):
        raise bad_request("a request is a JSON object: {query, operationName, variables}")
    query, name = item.get("query"), item.get("operationName")
    variables, extensions = item.get("variables"), item.get("extensions")
    if not isinstance(query, str | None):
        raise bad_request("`query` must be a string")
    if not isinstance(name, str | None):
        raise bad_request("`operationName` must be a string")
    if not isinstance(variables, dict | None):
        raise bad_request("`variables` must be an object")
    if not isinstance(extensions, dict | None):
        raise bad_request("`extensions` must be an object")
    return query, name, variables, extensions


class Answer:
    """One operation's result as it leaves: its body, and whether it ran at all."""

    __slots__ = ("body", "code", "executed", "retry_after")

    def __init__(self, body: dict[str, Any], executed: bool) -> None:
        self.body, self.executed = body, executed
        errors = body.get("errors") or ()
        first = errors[0].get("extensions") or {} if errors else {}
        self.code: str | None = first.get("code")
        self.retry_after: float | None = None
        for error in errors:
            extensions = error.get("extensions") or {}
            if extensions.get("code") == "RATE_LIMITED":
                retry = extensions.get("retryAfter")
                if isinstance(retry, int | float) and not isinstance(retry, bool):
                    self.retry_after = max(self.retry_after or 0, retry)

    @classmethod
    def refused(cls, errors: list[dict[str, Any]]) -> Answer:
        return cls({"data": None, "errors": errors}, executed=False)

    @classmethod
    def of(cls, result: ExecutionResult) -> Answer:
        body = cast(dict[str, Any], process_result(result))
        # Located nowhere and no data: the request failed before execution began.
        executed = result.data is not None or any(e.path is not None for e in result.errors or ())
        return cls(body, executed)

    def spec_body(self) -> dict[str, Any]:
        """graphql-response+json: a request error carries no `data` at all."""
        if self.executed:
            return self.body
        return {k: v for k, v in self.body.items() if k != "data"}


class GuardedTransportHandler(TransportHandler):
    """graphql-transport-ws: an allow-listed partner key runs only its registered operations
    over the socket too."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        context = self.context
        view = self.view
        if self.connection_acknowledged and isinstance(view, EhomeGraphQL):
            payload = message["payload"]
            try:
                resolved = await view.persisted.resolve(
                    payload.get("query"),
                    payload.get("operationName"),
                    payload.get("extensions"),
                    context.principal,
                )
            except AppError as refused:
                if isinstance(refused, Unregistered):
                    context.audit(refused.audit_entry(context.client_address))
                    await context.flush()
                error = cast(GraphQLFormattedError, app_error(refused))
                refusal = ErrorMessage(id=message["id"], type="error", payload=[error])
                await self.send_message(refusal)
                return
            if resolved.query is not None:
                payload["query"] = resolved.query
        await super().handle_subscribe(message)


class EhomeGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = GuardedTransportHandler

    def __init__(self, schema: Any, *, runtime: Runtime, graphiql: bool | None = None) -> None:
        settings = runtime.settings
        if graphiql is None:
            graphiql = settings.env == "dev"
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
            # graphql-transport-ws only: the legacy protocol has no way to carry our rules.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Same-origin pages always connect; a partner's browser app on a listed origin too.
            allowed_origins=settings.cors_origins,
        )
        self.runtime = runtime
        self.max_body = settings.max_body
        self.batch_max = settings.batch_max
        self.persisted = Persisted(
            runtime.engine, runtime.bus, redis_url=settings.redis_url, prefix=settings.redis_prefix
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["type"] == "http":
                request = Request(scope, receive)
                try:
                    response = await self.answer(request)
                except HttpError as refused:
                    response = self.refusal(request, refused)
                await response(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            # Whatever happened: audit what the request left, give its connection back.
            context = scope.get("state", {}).pop("ehome_context", None)
            if context is not None:
                await context.close()

    # -- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def media_type(request: Request) -> str:
        return GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in request.headers.get("accept", "") else JSON

    def refusal(self, request: Request, refused: HttpError) -> Response:
        body = {"errors": [{"message": refused.message, "extensions": {"code": refused.code}}]}
        return Response(
            orjson.dumps(body),
            status_code=refused.status,
            headers=refused.headers,
            media_type=self.media_type(request),
        )

    async def answer(self, request: Request) -> Response:
        method = request.method
        if method == "GET":
            params = request.query_params
            if "query" not in params and "extensions" not in params:
                if "text/html" in request.headers.get("accept", ""):
                    if self.graphql_ide:
                        return HTMLResponse(
                            self.graphql_ide_html,
                            headers={"content-security-policy": GRAPHIQL_CSP},
                        )
                    return PlainTextResponse("GraphiQL is served in development only", 404)
                raise bad_request("no GraphQL query: send `query` (or a persisted query hash)")
            data: Any = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
                "variables": _json_param(params.get("variables"), "variables"),
                "extensions": _json_param(params.get("extensions"), "extensions"),
            }
        elif method == "POST":
            content_type = request.headers.get("content-type", "")
            if content_type.partition(";")[0].strip().lower() != JSON:
                raise HttpError(
                    415, "send GraphQL requests as application/json", "UNSUPPORTED_MEDIA_TYPE"
                )
            try:
                data = orjson.loads(await self.read_body(request))
            except orjson.JSONDecodeError:
                raise bad_request("the body is not valid JSON") from None
        else:
            raise HttpError(
                405, "GraphQL is served over GET and POST", "METHOD_NOT_ALLOWED",
                {"allow": "GET, POST"},
            )  # fmt: skip

        if isinstance(data, list):
            if not self.batch_max:
                raise bad_request("batching is off: send one operation per request")
            if not data or len(data) > self.batch_max:
                raise bad_request(f"a batch holds 1 to {self.batch_max} operations")
            operations = [_operation(item) for item in data]
        else:
            operations = [_operation(data)]

        sub_response = Response()
        sub_response.status_code = None  # type: ignore[assignment]
        del sub_response.headers["content-length"]
        context = await self.get_context(request, sub_response)
        # One after the other: the operations of a batch share the request's connection.
        answers = [await self.run_one(method, operation, context) for operation in operations]

        spec = self.media_type(request) == GRAPHQL_RESPONSE
        headers: dict[str, str] = {}
        status = 200
        if isinstance(data, list):
            body: Any = [a.spec_body() if spec else a.body for a in answers]
        else:
            [single] = answers
            body = single.spec_body() if spec else single.body
            if spec and not single.executed:
                status = REFUSED_STATUS.get(single.code or "", 400)
        if any(a.code == PersistedQueryNotFound.code for a in answers):
            headers.update(NO_STORE)
        retry = max((a.retry_after for a in answers if a.retry_after is not None), default=None)
        if retry is not None:
            headers["retry-after"] = str(max(1, math.ceil(retry)))
        response = Response(
            orjson.dumps(body),
            status_code=sub_response.status_code or status,
            headers=headers,
            media_type=GRAPHQL_RESPONSE if spec else JSON,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    async def read_body(self, request: Request) -> bytes:
        """The body, refused (413) as soon as it is known to be over the limit: by its
        Content-Length before reading, or while it streams in (chunked)."""
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise bad_request("bad Content-Length")
            if int(declared) > self.max_body:
                raise self.too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise self.too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def too_large(self) -> HttpError:
        return HttpError(
            413, f"the request body is over {self.max_body} bytes", "PAYLOAD_TOO_LARGE"
        )

    async def run_one(
        self, method: str, operation: tuple[Any, Any, Any, Any], context: Context
    ) -> Answer:
        query, operation_name, variables, extensions = operation
        try:
            resolved = await self.persisted.resolve(
                query, operation_name, extensions, context.principal
            )
        except AppError as refused:
            if isinstance(refused, Unregistered):
                context.audit(refused.audit_entry(context.client_address))
            return Answer.refused([app_error(refused)])
        if not resolved.query:
            raise bad_request("no GraphQL query: send `query` (or a persisted query hash)")
        try:
            result = await self.schema.execute(
                resolved.query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=ALLOWED[method],
                operation_extensions=extensions,
            )
        except InvalidOperationTypeError as wrong:
            if wrong.operation_type is OperationType.MUTATION:
                # GraphQL-over-HTTP: a GET may be replayed, prefetched or forged by a link.
                raise HttpError(
                    405, "mutations are sent with POST, never GET", "METHOD_NOT_ALLOWED",
                    {"allow": "POST"},
                ) from None  # fmt: skip
            raise bad_request(
                "subscriptions are served over WebSocket (graphql-transport-ws) on /graphql"
            ) from None
        except CannotGetOperationTypeError as unknown:
            reason = (
                "the document holds several operations: name one in `operationName`"
                if unknown.operation_name is None
                else f"the document holds no operation named {unknown.operation_name!r}"
            )
            error = GraphQLError(reason, extensions={"code": "BAD_REQUEST"})
            return Answer.refused([dict(error.formatted)])
        except MissingQueryError:
            raise bad_request("no GraphQL query") from None
        answer = Answer.of(result)
        if resolved.remember and answer.executed:
            await self.persisted.remember(resolved.remember, resolved.query)
        return answer

    # -- context and WebSocket ---------------------------------------------------------------

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
