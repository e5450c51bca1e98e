"""The scheduler's leader lease: one row per lease in `scheduler_leases`, held by one process
until `expires_at`.

Every scheduler pass first tries to take or renew the lease, each attempt in its own short
transaction:

1. a conditional UPDATE that renews the lease when this holder has it, or takes it over when
   it has expired: `WHERE name = :name AND (holder = :me OR expires_at <= :now)`. Of two
   processes racing for an expired lease, PostgreSQL lets the second UPDATE wait for the
   first and re-check its WHERE on the updated row (which no longer matches); SQLite has one
   writer at a time. Exactly one sees a row count of 1.
2. when no row exists yet, an INSERT: a second process inserting at the same time fails on
   the primary key (IntegrityError), and does not lead.

Only the holder runs the pass. On shutdown the holder releases the lease (its `expires_at`
set to the release time), so another process takes over at its next pass instead of waiting
for the lease to run out. A holder that dies without releasing (killed, host lost) is replaced
once its lease has expired: the TTL is three pass intervals, at least 30 s, so a leader slow
by a pass or two is not taken over.

Times are the processes' own clocks (UTC): hosts whose clocks differ by more than a pass
interval could overlap by that much; the jobs are idempotent, the lease keeps the work from
being done twice in the normal case and names one place where it runs.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.reminders.models import SchedulerLease

SCHEDULER = "scheduler"
MIN_TTL = timedelta(seconds=30)
TTL_PASSES = 3

L = SchedulerLease


def holder_id() -> str:
    """This process's name as a lease holder: host, pid and a random part (a restarted process
    with a recycled pid is still another holder)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def ttl_for(interval: int) -> timedelta:
    """How long a lease lasts: three pass intervals, at least 30 s."""
    return max(MIN_TTL, timedelta(seconds=TTL_PASSES * interval))


async def acquire(
    engine: AsyncEngine, *, holder: str, now: datetime, ttl: timedelta, name: str = SCHEDULER
) -> bool:
    """Take or renew the lease until `now + ttl`; whether `holder` holds it now."""
    expires = now + ttl
    async with engine.begin() as conn:
        taken = await conn.execute(
            update(L)
            .where(L.name == name, or_(L.holder == holder, L.expires_at <= now))
            .values(holder=holder, expires_at=expires)
        )
        if taken.rowcount == 1:
            return True
        if await conn.scalar(select(L.holder).where(L.name == name)) is not None:
            return False  # another holder's lease, still running
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(L).values(name=name, holder=holder, expires_at=expires))
    except IntegrityError:
        return False  # another process inserted it first
    return True


async def release(
    engine: AsyncEngine, *, holder: str, now: datetime, name: str = SCHEDULER
) -> bool:
    """End `holder`'s lease now, if it holds it; whether it did."""
    async with engine.begin() as conn:
        released = await conn.execute(
            update(L)
            .where(L.name == name, L.holder == holder, L.expires_at > now)
            .values(expires_at=now)
        )
    return released.rowcount == 1


async def current(engine: AsyncEngine, *, now: datetime, name: str = SCHEDULER) -> str | None:
    """Who holds the lease at `now` (None when nobody does)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(L.holder, L.expires_at).where(L.name == name))).first()
    return None if row is None or row.expires_at <= now else str(row.holder)
