"""The server's own periodic work: one loop per process, a pass every
EHOME_SCHEDULE_INTERVAL seconds (0: no loop). Each job is safe to run in several processes at
once (see each job's module); a failing pass is logged and the next one runs as usual."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from server.assessments import schedule as assessments
from server.runtime import Runtime

log = logging.getLogger(__name__)


async def run_pass(runtime: Runtime, now: datetime | None = None) -> None:
    await assessments.run(runtime, now or datetime.now(UTC))


async def _loop(runtime: Runtime, interval: int) -> None:
    while True:
        try:
            await run_pass(runtime)
        except Exception:
            log.exception("scheduler pass failed")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(runtime: Runtime, interval: int) -> AsyncIterator[None]:
    """Run the loop for as long as the block lasts."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_loop(runtime, interval), name="ehome-scheduler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
