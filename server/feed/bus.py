"""The bus between server processes: in-process by default, Redis pub/sub when
EHOME_REDIS_URL is set. Messages are short strings on named channels.

The Redis bus keeps one listener per process that reconnects with backoff; after a reconnect
it tells its subscribers (`on_reconnect`), since messages sent while it was away are lost and
they must catch up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import redis.asyncio as redis

log = logging.getLogger("ehome.bus")
Handler = Callable[[str], Awaitable[None]]
Reconnect = Callable[[], Awaitable[None]]


class LocalBus:
    """One process: publishing calls the subscribers directly."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._reconnects: list[Reconnect] = []

    def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers[channel].append(handler)

    def on_reconnect(self, callback: Reconnect) -> None:
        self._reconnects.append(callback)

    async def publish(self, channel: str, message: str) -> None:
        for handler in list(self._handlers[channel]):
            try:
                await handler(message)
            except Exception:
                log.exception("bus handler for %s failed", channel)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(LocalBus):
    """Many processes: publish to Redis; one listener task delivers to local subscribers."""

    def __init__(self, url: str, *, prefix: str = "ehome", max_backoff: float = 5.0) -> None:
        super().__init__()
        self._url = url
        # One Redis may serve several deployments: each speaks on channels of its own.
        self._prefix = prefix + ":"
        self._client = redis.Redis.from_url(url)
        self._task: asyncio.Task[None] | None = None
        self._max_backoff = max_backoff
        self._subscribed = asyncio.Event()

    async def publish(self, channel: str, message: str) -> None:
        await self._client.publish(self._prefix + channel, message)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="ehome-bus-listener")
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._client.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(*(self._prefix + c for c in self._handlers))
                self._subscribed.set()
                if not first:
                    log.warning("bus reconnected to Redis; catching up")
                    for callback in self._reconnects:
                        await callback()
                first, backoff = False, 0.1
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    channel = message["channel"].decode().removeprefix(self._prefix)
                    data = message["data"].decode()
                    for handler in list(self._handlers[channel]):
                        try:
                            await handler(data)
                        except Exception:
                            log.exception("bus handler for %s failed", channel)
            except asyncio.CancelledError:
                raise
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("bus lost Redis (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


Bus = LocalBus


def make_bus(redis_url: str | None, prefix: str = "ehome") -> Bus:
    return RedisBus(redis_url, prefix=prefix) if redis_url else LocalBus()
