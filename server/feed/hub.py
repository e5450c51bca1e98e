"""The process's hub: one listener on the bus, many subscribers.

Events reach the hub from the bus (this process's own and other processes' commits), from a
catch-up read of the database after the bus reconnects, and from a poll every few seconds
(which also covers a publish lost between a commit and a crash). One task puts them in id
order: an event already seen is dropped, a gap is first back-filled from the database (ids
commit in order, see server/feed/events.py), so every subscriber gets ascending ids with no
duplicate and no gap. Each subscriber has a bounded queue; one that falls behind is marked
overflowed and its subscription ends with the last cursor it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.feed.bus import LocalBus
from server.feed.events import Event
from server.feed.models import FeedEventRow
from tenants.paths import ROOT, ancestors
from tenants.scope import Scope

CHANNEL = "feed"
BACKFILL_CHUNK = 500
log = logging.getLogger("ehome.feed")


class Subscriber:
    __slots__ = ("kinds", "overflowed", "queue", "scope")

    def __init__(self, scope: Scope, kinds: frozenset[str] | None, capacity: int) -> None:
        self.scope = scope
        self.kinds = kinds
        self.queue: asyncio.Queue[Event] = asyncio.Queue(capacity)
        self.overflowed = False

    def wants(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        branch = event.branch["id"] if event.branch else None
        return self.scope.admits(event.path, branch=branch)


class _CatchUp:
    """A request, in the hub's inbox, to read whatever the database holds past `last_id`."""


CATCH_UP = _CatchUp()


class Hub:
    def __init__(self, engine: AsyncEngine, bus: LocalBus, *, poll_seconds: float = 2.0) -> None:
        self.engine = engine
        self.bus = bus
        self.poll_seconds = poll_seconds
        # Most subscribers see whole subtrees: index them by their roots, so an event meets
        # only the subscribers of its own ancestors. The others are checked one by one.
        self._by_root: dict[str, set[Subscriber]] = defaultdict(set)
        self._others: set[Subscriber] = set()
        self.last_id = 0
        self._inbox: asyncio.Queue[Event | _CatchUp] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        bus.subscribe(CHANNEL, self._on_message)
        bus.on_reconnect(self.catch_up)

    async def start(self) -> None:
        """Begin at the newest stored event: subscribers replay older ones themselves."""
        async with self.engine.connect() as conn:
            self.last_id = int(await conn.scalar(select(func.max(FeedEventRow.id))) or 0)
        self._tasks = [
            asyncio.create_task(self._sequence(), name="ehome-feed-sequencer"),
            asyncio.create_task(self._poll(), name="ehome-feed-poll"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # -- in ---------------------------------------------------------------------------------

    async def publish(self, events: Sequence[Event]) -> None:
        """Announce committed events to every process (this one included). A publish that
        fails is caught up by the pollers, so the change that made the events stands."""
        for event in events:
            try:
                await self.bus.publish(CHANNEL, event.to_json())
            except Exception as exc:
                log.warning("could not publish event %s (%s); pollers will catch up", event.id, exc)

    async def _on_message(self, text: str) -> None:
        self._inbox.put_nowait(Event.from_json(text))

    async def catch_up(self) -> None:
        self._inbox.put_nowait(CATCH_UP)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            self._inbox.put_nowait(CATCH_UP)

    async def _sequence(self) -> None:
        while True:
            item = await self._inbox.get()
            try:
                if isinstance(item, _CatchUp):
                    await self._backfill(upto=None)
                elif item.id > self.last_id:
                    if item.id > self.last_id + 1:
                        await self._backfill(upto=item.id - 1)
                    if item.id > self.last_id:
                        self._deliver(item)
            except Exception:
                # A database hiccup: the next catch-up retries from the same place.
                log.exception("feed sequencer failed at event %s", self.last_id)

    async def _backfill(self, *, upto: int | None) -> None:
        while True:
            stmt = select(FeedEventRow).where(FeedEventRow.id > self.last_id)
            if upto is not None:
                stmt = stmt.where(FeedEventRow.id <= upto)
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(stmt.order_by(FeedEventRow.id).limit(BACKFILL_CHUNK))
                ).all()
            for row in rows:
                self._deliver(Event.from_row(row))
            if len(rows) < BACKFILL_CHUNK:
                return

    # -- out --------------------------------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        self.last_id = event.id
        path = event.path
        reached: list[Subscriber] = []
        for ancestor in (ROOT, *ancestors(path), path):
            reached.extend(self._by_root.get(ancestor, ()))
        reached.extend(s for s in self._others if s.wants(event))
        for subscriber in reached:
            if subscriber.overflowed:
                continue
            if subscriber.kinds is not None and event.kind not in subscriber.kinds:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True

    def register(self, subscriber: Subscriber) -> int:
        """Start delivering to `subscriber`; returns the id of the last event it will not get
        live (it replays up to there from the database when it resumes)."""
        scope = subscriber.scope
        if scope.within is None and not scope.branch_ids and not scope.member_ids:
            for root in scope.roots:  # minimal roots: an event lies under one at most
                self._by_root[root].add(subscriber)
        else:
            self._others.add(subscriber)
        return self.last_id

    def unregister(self, subscriber: Subscriber) -> None:
        self._others.discard(subscriber)
        for root in subscriber.scope.roots:
            members = self._by_root.get(root)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self._by_root[root]
