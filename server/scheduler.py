"""The server's own periodic work: one loop per process, a pass every
EHOME_SCHEDULE_INTERVAL seconds (0: no loop).

Processes share one leader: each pass first takes or renews the scheduler lease (a row in the
database, see server/reminders/lease.py), and only its holder runs the jobs; the others stand
by and take over when the leader stops (it releases the lease on shutdown) or its lease
expires (three intervals, at least 30 s). Each job is also safe to run in several processes
at once (see each job's module), so a takeover in mid-pass costs nothing but repeated reads.
A failing pass is logged and the next one runs as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from server.archives import schedule as archives
from server.assessments import schedule as assessments
from server.reminders import lease
from server.reminders import schedule as reminders
from server.runtime import Runtime

log = logging.getLogger(__name__)


async def run_pass(runtime: Runtime, now: datetime | None = None) -> None:
    """The jobs, once (whoever calls it: the leader's loop, a test, a command)."""
    now = now or datetime.now(UTC)
    await assessments.run(runtime, now)
    await archives.run(runtime, now)
    await reminders.run(runtime, now)


async def lead_and_run(
    runtime: Runtime,
    holder: str,
    now: datetime | None = None,
    *,
    ttl: timedelta | None = None,
) -> bool:
    """Take or renew the scheduler lease as `holder` and, holding it, run a pass; whether
    this holder led (and so ran the pass)."""
    now = now or datetime.now(UTC)
    ttl = ttl or lease.ttl_for(runtime.settings.schedule_interval)
    if not await lease.acquire(runtime.engine, holder=holder, now=now, ttl=ttl):
        return False
    await run_pass(runtime, now)
    # One line a pass, from the leader only: which process ran the jobs, and when.
    log.info("scheduler pass run by leader %s", holder)
    return True


async def _loop(runtime: Runtime, interval: int, holder: str) -> None:
    leading = False
    while True:
        try:
            led = await lead_and_run(runtime, holder)
            if led != leading:
                log.info(
                    "scheduler: %s %s", holder, "leads" if led else "stands by (another leads)"
                )
            leading = led
        except Exception:
            log.exception("scheduler pass failed")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(runtime: Runtime, interval: int) -> AsyncIterator[None]:
    """Run the loop for as long as the block lasts; release the lease when it ends."""
    if interval <= 0:
        yield
        return
    holder = lease.holder_id()
    task = asyncio.create_task(_loop(runtime, interval, holder), name="ehome-scheduler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            if await lease.release(runtime.engine, holder=holder, now=datetime.now(UTC)):
                log.info("scheduler: %s released the lease", holder)
        except Exception:
            # It expires on its own; the others take over then.
            log.exception("scheduler: could not release the lease")
