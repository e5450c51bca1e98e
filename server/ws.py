"""graphql-transport-ws with the server's own hygiene on top of strawberry's handler:

- `connection_init` must arrive within 10 s (4408, strawberry) and before any `subscribe`;
- the server pings every EHOME_WS_PING seconds and drops a peer silent for three intervals
  (4504, "peer silent"); any message from the peer counts as a sign of life;
- a connection ends (4403) when its access token expires: the client reconnects with a fresh
  token and resumes the feed with `after`;
- and (4403) within one ping interval of its session ending or its partner key being revoked,
  in any process (identity reloads on the control bus).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    SubscribeMessage,
)

SILENT_INTERVALS = 3
PEER_SILENT = 4504
TOKEN_EXPIRED = 4403


class TransportHandler(BaseGraphQLTransportWSHandler[Any, None]):
    _watchers: list[asyncio.Task[None]]
    _heard_at: float

    def on_request_accepted(self) -> None:
        super().on_request_accepted()
        # strawberry counts a connection as acknowledged from the start; here it is only
        # after `connection_init` passed on_ws_connect.
        self.connection_acknowledged = False
        self._heard_at = time.monotonic()
        self._watchers = [asyncio.create_task(self._ping(), name="ehome-ws-ping")]

    async def handle_message(self, message: Message) -> None:
        self._heard_at = time.monotonic()
        await super().handle_message(message)
        if message.get("type") == "connection_init" and self.connection_acknowledged:
            self._watchers.append(asyncio.create_task(self._expire(), name="ehome-ws-expiry"))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        for task in self._watchers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await super().shutdown()

    async def _ping(self) -> None:
        interval = float(self.view.runtime.settings.ws_ping)  # type: ignore[attr-defined]
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self._heard_at > SILENT_INTERVALS * interval:
                await self.websocket.close(code=PEER_SILENT, reason="peer silent")
                return
            if self._revoked():
                await self.websocket.close(code=TOKEN_EXPIRED, reason="credential revoked")
                return
            await self.send_message({"type": "ping"})

    def _revoked(self) -> bool:
        """Whether the connection's session has ended or its partner key was revoked."""
        principal = getattr(self.context, "principal", None)
        if principal is None:
            return False
        identity = self.view.runtime.identity  # type: ignore[attr-defined]
        if principal.kind == "partner":
            return all(p.name != principal.name for p in identity.partners.values())
        return principal.session_id in identity.revoked

    async def _expire(self) -> None:
        principal = getattr(self.context, "principal", None)
        expires_at = getattr(principal, "expires_at", None)
        if expires_at is None:
            return  # partner keys do not expire by the clock
        await asyncio.sleep(max(0.0, expires_at.timestamp() - time.time()))
        await self.websocket.close(code=TOKEN_EXPIRED, reason="token expired")
