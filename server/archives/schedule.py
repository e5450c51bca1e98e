"""The archive's scheduler job: once a day, rescore every cadre over the rolling window
(the window moves even when no record does) and re-evaluate every light.

A pass does nothing when today's scores are in (every cadre scored, the oldest score computed
today in EHOME_TIMEZONE), so a second pass the same day, or in another process, is a no-op. The
work runs in one transaction that first takes the writers' turn (the audit head's row lock,
server/feed/events.py), then checks again: of two processes, the second waits for the first
to commit and then finds the day done. Its events are published after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.archives import lights, scoring
from server.archives.models import Cadre, CadreScore
from server.feed.events import take_turn
from server.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pass:
    scored: int
    events: int


async def done_today(conn: AsyncConnection, today: date, zone: ZoneInfo) -> bool:
    cadres = int(await conn.scalar(select(func.count()).select_from(Cadre)) or 0)
    if cadres == 0:
        return True
    scored, oldest = (
        await conn.execute(select(func.count(), func.min(CadreScore.computed_at)))
    ).one()
    return scored >= cadres and oldest is not None and oldest.astimezone(zone).date() == today


async def run(runtime: Runtime, now: datetime) -> Pass | None:
    """One pass: the day's scores and lights, unless they are done. Returns what it did."""
    zone = runtime.timezone
    today = now.astimezone(zone).date()
    async with runtime.engine.connect() as conn:
        if await done_today(conn, today, zone):
            return None
    async with runtime.write() as (conn, outbox):
        await take_turn(conn)
        if await done_today(conn, today, zone):
            return None  # another process did it meanwhile
        scored = await scoring.score_all(conn, now, today=today)
        events = await lights.evaluate(conn, None, now, today=today)
        outbox.extend(events)
    log.info("archive: %s cadres scored, %s light changes", scored, len(events))
    return Pass(scored, len(events))
