"""The process-wide parts every request uses: engines, the bus, authorization state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.enforcer import Authz
from policies.sync import Control
from server.auth.identity import Identity
from server.auth.service import TokenPolicy
from server.db import make_engine, read_engine
from server.feed.bus import LocalBus, make_bus
from server.feed.events import Event
from server.feed.hub import Hub
from server.lecturers.live import LiveHub
from server.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    reads: AsyncEngine
    bus: LocalBus
    authz: Authz
    identity: Identity
    control: Control
    tokens: TokenPolicy
    timezone: ZoneInfo
    hub: Hub
    live: LiveHub  # live-class messages (server/lecturers/live.py)
    _started: asyncio.Lock = field(default_factory=asyncio.Lock)
    _ready: bool = False

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url, echo=settings.sql_echo)
        access_ttl = timedelta(seconds=settings.access_ttl)
        authz = Authz(engine)
        identity = Identity(engine, secret=settings.secret_key, access_ttl=access_ttl)
        bus = make_bus(settings.redis_url, settings.redis_prefix)
        return cls(
            hub=Hub(engine, bus),
            live=LiveHub(bus),
            settings=settings,
            engine=engine,
            reads=read_engine(engine),
            bus=bus,
            authz=authz,
            identity=identity,
            control=Control(bus, authz, identity),
            tokens=TokenPolicy(
                secret=settings.secret_key,
                access_ttl=access_ttl,
                refresh_ttl=timedelta(seconds=settings.refresh_ttl),
            ),
            timezone=ZoneInfo(settings.timezone),
        )

    async def ready(self) -> None:
        """Load the authorization state and join the bus, once (the first request waits)."""
        if self._ready:
            return
        async with self._started:
            if not self._ready:
                await self.authz.load()
                await self.identity.load()
                await self.hub.start()
                await self.bus.start()
                self._ready = True

    @asynccontextmanager
    async def write(self) -> AsyncIterator[tuple[AsyncConnection, list[Event]]]:
        """A write transaction and its outbox: events emitted into the list are published once
        the transaction has committed, and never if it rolls back."""
        events: list[Event] = []
        async with self.engine.begin() as conn:
            yield conn, events
        await self.hub.publish(events)

    async def close(self) -> None:
        from server import ratelimit  # it keeps one limiter per runtime

        await ratelimit.close(self)
        await self.hub.stop()
        await self.bus.stop()
        await self.engine.dispose()
