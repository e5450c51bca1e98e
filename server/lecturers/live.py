"""The live-class channel: session events (STARTED, QUESTION, QUESTION_CLOSED, ENDED) from
the process that committed them to the subscribers of every process.

It rides on the bus the feed uses (Redis pub/sub across processes, in-process otherwise), on a
channel of its own, so the feed's sequencing and replay are untouched. These messages are not
stored: a subscriber that connects (or reconnects) first gets the session's current state from
the database (schema/live_classes.py), then what comes live.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any

from server.feed.bus import LocalBus

CHANNEL = "live"
log = logging.getLogger("ehome.live")


class LiveListener:
    """One subscription's inbox; one that falls behind is marked and ended."""

    __slots__ = ("class_id", "overflowed", "queue")

    def __init__(self, class_id: int, capacity: int) -> None:
        self.class_id = class_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(capacity)
        self.overflowed = False


class LiveHub:
    def __init__(self, bus: LocalBus) -> None:
        self.bus = bus
        self._listeners: dict[int, set[LiveListener]] = defaultdict(set)
        # Subscribed at construction: the Redis bus joins only the channels known when it
        # starts.
        bus.subscribe(CHANNEL, self._on_message)

    async def publish(self, messages: list[dict[str, Any]]) -> None:
        """Announce committed changes; a lost publish is made good by the state a subscriber
        reads when it (re)connects."""
        for message in messages:
            try:
                await self.bus.publish(CHANNEL, json.dumps(message, default=str))
            except Exception as exc:
                log.warning("could not publish live message (%s)", exc)

    async def _on_message(self, text: str) -> None:
        message = json.loads(text)
        for listener in list(self._listeners.get(int(message["class"]), ())):
            if listener.overflowed:
                continue
            try:
                listener.queue.put_nowait(message)
            except asyncio.QueueFull:
                listener.overflowed = True

    def register(self, listener: LiveListener) -> None:
        self._listeners[listener.class_id].add(listener)

    def unregister(self, listener: LiveListener) -> None:
        listeners = self._listeners.get(listener.class_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.class_id]
