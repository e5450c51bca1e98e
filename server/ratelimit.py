"""Rate limits: the cost an operation is measured at (schema/limits.py), spent per minute.

Two budgets, each a fixed window of one minute: the principal's (EHOME_RATE_LIMIT) and the
client address's (EHOME_RATE_LIMIT_ADDRESS; 0 turns either off). A signed-in request spends from
both; an anonymous one from its address's only. An operation runs only if its cost fits in
every budget it spends from, and a refused one spends nothing: RATE_LIMITED, with `retryAfter`,
the seconds until the window turns.

The counters live in the process (`MemoryCounters`) or, with EHOME_REDIS_URL, in Redis, shared
by every process (`RedisCounters`: one small Lua script, so the check and the spending are one
atomic step). If Redis does not answer, requests pass (fail open) and the outage is logged
once; Redis is tried again after a few seconds.

Each refusal is a security alert (`rate_limit`, filed under the principal's home tenant, or the
district's for an anonymous client, with its SECURITY_ALERT feed event), once per subject in ten
minutes as the other alerts (`audit.alert_once`); the process also remembers whom it alerted
about this minute, so a client that keeps knocking costs no database work per request. The
seconds to wait are in the error (`retryAfter`) and, for a Retry-After header, on the request's
state (`request.state.retry_after`, set by schema/limits.py).
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import redis.asyncio as redis
from sqlalchemy import select

from server.audit import service as audit
from server.errors import RateLimited
from tenants.models import Tenant

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("ehome.ratelimit")
WINDOW = 60  # seconds
ALERT_WINDOW = timedelta(minutes=10)  # one alert per subject in this time, as the others
RETRY_REDIS = 5.0  # seconds without Redis after it failed
MEMORY_KEYS = 100_000  # counters kept in a process before stale ones are dropped


@dataclass(frozen=True, slots=True)
class Budget:
    by: str  # "principal" or "address"
    subject: str  # "user:admin", "partner:gov-portal", or "address:10.0.0.7"
    limit: int


class Counters(Protocol):
    async def spend(self, budgets: Sequence[Budget], cost: int, window: int) -> int | None:
        """Spend `cost` from every budget in this window, if it fits in all of them; otherwise
        spend nothing and return the index of the first budget it does not fit in."""
        ...

    async def close(self) -> None: ...


class MemoryCounters:
    """One process's counters."""

    def __init__(self) -> None:
        self._used: dict[str, tuple[int, int]] = {}  # subject -> (window, spent)

    async def spend(self, budgets: Sequence[Budget], cost: int, window: int) -> int | None:
        used = self._used
        spent = []
        for index, budget in enumerate(budgets):
            at, amount = used.get(budget.subject, (window, 0))
            amount = amount if at == window else 0
            if amount + cost > budget.limit:
                return index
            spent.append(amount + cost)
        if len(used) > MEMORY_KEYS:
            for subject in [s for s, (at, _) in used.items() if at != window]:
                del used[subject]
        for budget, amount in zip(budgets, spent, strict=True):
            used[budget.subject] = (window, amount)
        return None

    async def close(self) -> None:
        return None


# KEYS: one counter per budget; ARGV: cost, expiry in seconds, then each budget's limit.
_SPEND = """
local cost = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') + cost > tonumber(ARGV[i + 2]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('INCRBY', key, cost)
  redis.call('EXPIRE', key, ARGV[2])
end
return 0
"""


class RedisCounters:
    """Counters shared by every process on one Redis: `<prefix>:ratelimit:<subject>:<window>`."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.monotonic) -> None:
        # Short timeouts: a Redis that hangs must not hold every request (it fails open).
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._client.register_script(_SPEND)
        self._prefix = prefix + ":ratelimit:"
        self._clock = clock
        self._down_until = 0.0
        self._down = False

    async def spend(self, budgets: Sequence[Budget], cost: int, window: int) -> int | None:
        if self._clock() < self._down_until:
            return None
        keys = [f"{self._prefix}{b.subject}:{window}" for b in budgets]
        try:
            refused = int(
                await self._script(keys=keys, args=[cost, 2 * WINDOW, *(b.limit for b in budgets)])
            )
        except (redis.RedisError, OSError) as exc:
            self._down_until = self._clock() + RETRY_REDIS
            if not self._down:
                self._down = True
                log.warning("rate limits off: Redis does not answer (%s); requests pass", exc)
            return None
        if self._down:
            self._down = False
            log.info("rate limits back on: Redis answers again")
        return refused - 1 if refused else None

    async def close(self) -> None:
        await self._client.aclose()


class RateLimiter:
    """A process's rate limiter: the counters, the clock (tests set it), whom it alerted."""

    def __init__(self, counters: Counters, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.clock = clock
        self._alerted: dict[str, int] = {}  # subject -> the window it was last alerted in

    async def spend(self, budgets: Sequence[Budget], cost: int) -> tuple[Budget, int] | None:
        """None if the cost was spent; otherwise the budget it did not fit in and the seconds
        until the window turns."""
        if not budgets:
            return None
        now = self.clock()
        window = int(now // WINDOW)
        refused = await self.counters.spend(budgets, cost, window)
        if refused is None:
            return None
        return budgets[refused], max(1, math.ceil((window + 1) * WINDOW - now))

    def first_refusal(self, subject: str) -> bool:
        """Whether this is the subject's first refusal in this process this window."""
        window = int(self.clock() // WINDOW)
        if self._alerted.get(subject) == window:
            return False
        if len(self._alerted) > MEMORY_KEYS:
            self._alerted.clear()
        self._alerted[subject] = window
        return True


# One limiter per Runtime (per app), made on first use.
_limiters: dict[int, tuple[weakref.ref[Any], RateLimiter]] = {}


def limiter_for(runtime: Runtime) -> RateLimiter:
    key = id(runtime)
    entry = _limiters.get(key)
    if entry is not None and entry[0]() is runtime:
        return entry[1]
    settings = runtime.settings
    counters: Counters = (
        RedisCounters(settings.redis_url, settings.redis_prefix)
        if settings.redis_url
        else MemoryCounters()
    )
    limiter = RateLimiter(counters)
    _limiters[key] = (weakref.ref(runtime, lambda _ref: _limiters.pop(key, None)), limiter)
    return limiter


async def close(runtime: Runtime) -> None:
    """Let go of the runtime's limiter (its Redis connections)."""
    entry = _limiters.pop(id(runtime), None)
    if entry is not None:
        await entry[1].counters.close()


def budgets_of(runtime: Runtime, principal: str | None, address: str | None) -> list[Budget]:
    settings = runtime.settings
    budgets = []
    if principal is not None and settings.rate_limit > 0:
        budgets.append(Budget("principal", principal, settings.rate_limit))
    if address is not None and settings.rate_limit_address > 0:
        budgets.append(Budget("address", f"address:{address}", settings.rate_limit_address))
    return budgets


async def charge(
    runtime: Runtime, *, principal: str | None, address: str | None, cost: int
) -> None:
    """Spend an operation's cost, or raise RATE_LIMITED (and alert, once)."""
    budgets = budgets_of(runtime, principal, address)
    if not budgets:
        return
    limiter = limiter_for(runtime)
    refused = await limiter.spend(budgets, cost)
    if refused is None:
        return
    budget, retry_after = refused
    if limiter.first_refusal(budget.subject):
        now = datetime.fromtimestamp(limiter.clock(), UTC)
        try:
            await _alert(runtime, budget, principal=principal, address=address, now=now)
        except Exception:  # the refusal stands even if the alert cannot be written
            log.exception("could not record the rate-limit alert about %s", budget.subject)
    who = "this account" if budget.by == "principal" else "this client address"
    raise RateLimited(
        f"too many requests: {who} spent its {budget.limit} cost units for this minute; "
        f"retry in {retry_after} s",
        retryAfter=retry_after,
        by=budget.by,
        limit=budget.limit,
        window=WINDOW,
    )


_ROOT = select(Tenant.path).where(Tenant.parent_id.is_(None)).order_by(Tenant.path).limit(1)


async def _alert(
    runtime: Runtime, budget: Budget, *, principal: str | None, address: str | None, now: datetime
) -> None:
    async with runtime.write() as (conn, outbox):
        # Filed where the principal's admins see it; an anonymous client's at the top.
        home = await audit.home_of(conn, principal) if principal is not None else None
        entry = audit.Entry(
            principal=principal or "anonymous",
            action="graphql.rate_limited",
            tenant_path=home or await conn.scalar(_ROOT),
            subject=budget.subject,
            client_address=address,
            detail={"by": budget.by, "limit": budget.limit, "seconds": WINDOW},
        )
        event = await audit.alert_once(
            conn, kind="rate_limit", entry=entry, now=now, window=ALERT_WINDOW
        )
        outbox.extend([event] if event else [])
