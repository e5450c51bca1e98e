"""The member reminders' scheduler job: every pass, each cause in its own transaction (see
server/reminders/service.py), its events published once it commits.

Safe to run in several processes at once (each reminder is created once, whoever runs the
pass), though the scheduler's lease lets only one process run it. A cause that fails is
logged and does not keep the others from running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from server.reminders import service
from server.reminders.service import Cause, Outcome
from server.runtime import Runtime

log = logging.getLogger(__name__)


async def run(runtime: Runtime, now: datetime) -> dict[Cause, int]:
    """One reminders pass at `now`: the reminders each cause created."""
    today = now.astimezone(runtime.timezone).date()
    causes: dict[Cause, Callable[[AsyncConnection], Awaitable[Outcome]]] = {
        Cause.DUES_OVERDUE: lambda c: service.remind_dues(c, today=today, now=now),
        Cause.TRAVEL_UNDECLARED: lambda c: service.remind_travel(c, today=today, now=now),
        Cause.POLITICAL_BIRTHDAY: lambda c: service.remind_birthdays(c, today=today, now=now),
        Cause.ASSESSMENT_DUE: lambda c: service.remind_assessments(c, now=now, tz=runtime.timezone),
        Cause.VENUE_BOOKING: lambda c: service.remind_venue_bookings(
            c, now=now, tz=runtime.timezone
        ),
    }
    created: dict[Cause, int] = {}
    for cause, remind in causes.items():
        try:
            async with runtime.write() as (conn, outbox):
                outcome = await remind(conn)
                outbox.extend(outcome.events)
        except Exception:
            log.exception("reminders: %s failed", cause.value)
            continue
        created[cause] = outcome.created
        if outcome.created:
            log.info("reminders: %s created %s", cause.value, outcome.created)
    return created
