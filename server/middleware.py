"""Pure ASGI middleware: a request id on every request, its log lines and its response; security
headers on every response; CORS for the origins in EHOME_CORS_ORIGINS only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.logs import request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


# What the API's answers (JSON) need: nothing may load, nothing may frame them.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The command-center screen (frontend_stub/): its own scripts, styles and fonts, its own
# GraphQL endpoint over HTTP and WebSocket, nothing from elsewhere, no inline script. ECharts
# writes its tooltips as HTML with style attributes: those alone may be inline.
SCREEN_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'{sockets}; manifest-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HOST = re.compile(rb"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def screen_csp(host: bytes | None) -> bytes:
    # 'self' covers ws:/wss: to the same host in CSP 3 browsers; older ones need them named.
    sockets = f" ws://{host.decode()} wss://{host.decode()}" if host and _HOST.match(host) else ""
    return SCREEN_CSP.format(sockets=sockets).encode()


class SecurityHeaders:
    """nosniff, no referrer, no framing, and a Content-Security-Policy on every response:
    the screen's for HTML pages, the API's for everything else, unless the app set its own
    (GraphiQL in dev)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.api_csp = API_CSP.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                csp = self.api_csp
                for name, value in headers:
                    if name == b"content-security-policy":
                        csp = b""
                        break
                    if name == b"content-type" and value.startswith(b"text/html"):
                        csp = screen_csp(_header(scope, b"host"))
                headers.extend(_ALWAYS)
                if csp:
                    headers.append((b"content-security-policy", csp))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


ALLOW_METHODS = b"GET, POST"
ALLOW_HEADERS = b"authorization, content-type"
EXPOSE_HEADERS = b"x-request-id, retry-after"
PREFLIGHT_MAX_AGE = b"600"


class Cors:
    """Browsers on the listed origins (exact scheme, host and port) may call the API: their
    origin is echoed in Access-Control-Allow-Origin. Others get no CORS header, so their
    browser keeps the answer from the page; their preflights are refused. No credentials
    mode: ehome reads bearer tokens, never cookies. Added only when origins are listed."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(o.encode() for o in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        allowed = origin is not None and origin in self.origins
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(origin if allowed else None, scope, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                # Answers differ by origin: caches must keep them apart.
                headers.append((b"vary", b"Origin"))
                if allowed and origin is not None:
                    headers.append((b"access-control-allow-origin", origin))
                    headers.append((b"access-control-expose-headers", EXPOSE_HEADERS))
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(origin: bytes | None, scope: Scope, send: Send) -> None:
        method = (_header(scope, b"access-control-request-method") or b"").strip().upper()
        if origin is None or method not in (b"GET", b"POST"):
            body = b"CORS preflight refused: origin or method not allowed"
            headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"vary", b"Origin")]
            await _answer(send, 403, headers, body)
            return
        headers = [
            (b"vary", b"Origin"),
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        ]
        await _answer(send, 204, headers, b"")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    if status != 204:  # a 204 carries no Content-Length (RFC 9110)
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
