"""What the server does on its own for assessments, on every scheduler pass
(EHOME_SCHEDULE_INTERVAL): close the campaigns whose time is up, and a day before a
campaign closes, remind the evaluators who have not submitted (a WARNING event each).

Both are safe to run in several processes at once: a campaign closes by a conditional update
that one process wins, and reminders go out by setting `reminded_at` the same way.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.assessments import campaigns, results
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentEvaluator,
    AssessmentTarget,
    CampaignStatus,
)
from server.errors import BadUserInput
from server.feed.events import emit, tenant_info
from server.feed.models import FeedKind, Light
from server.runtime import Runtime

C, E = AssessmentCampaign, AssessmentEvaluator
REMIND_BEFORE = timedelta(days=1)
SYSTEM = "system"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pass:
    closed: list[int]
    reminded: dict[int, int]  # campaign -> evaluators reminded


async def run(runtime: Runtime, now: datetime) -> Pass:
    return Pass(await close_due(runtime, now), await remind_due(runtime, now))


async def _tenant_of(conn: AsyncConnection, path: str) -> dict[str, Any]:
    tenant = await tenant_info(conn, path)
    assert tenant is not None  # tenants are never deleted
    return tenant


async def close_due(runtime: Runtime, now: datetime) -> list[int]:
    """Close every open campaign whose closing time has passed, each in its own transaction."""
    async with runtime.engine.connect() as conn:
        due = list(
            await conn.scalars(
                select(C.id)
                .where(C.status == CampaignStatus.OPEN, C.closes_at <= now)
                .order_by(C.id)
            )
        )
    closed: list[int] = []
    for campaign_id in due:
        try:
            async with runtime.write() as (conn, outbox):
                facts = await campaigns.campaign(conn, campaign_id)
                assert facts is not None
                done = await results.close(
                    conn,
                    facts,
                    tenant=await _tenant_of(conn, facts.tenant_path),
                    actor=SYSTEM,
                    client=None,
                    now=now,
                )
                outbox.extend(done.events)
        except BadUserInput:
            continue  # closed meanwhile, by an admin or another process
        log.info("closed assessment campaign %s: %s scored", campaign_id, done.scored)
        closed.append(campaign_id)
    return closed


async def pending_by_evaluator(conn: AsyncConnection, campaign_id: int) -> dict[str, int]:
    """Submissions each evaluator still owes. Per evaluator and method: with an all-targets
    assignment, the targets it has not submitted for; otherwise its unsubmitted own-target
    rows (one submission per target and method, whatever the assignments)."""
    targets = int(
        await conn.scalar(select(func.count()).where(AssessmentTarget.campaign_id == campaign_id))
        or 0
    )
    broad: set[tuple[str, str]] = set()
    done: Counter[tuple[str, str]] = Counter()
    open_rows: Counter[tuple[str, str]] = Counter()
    rows = await conn.execute(
        select(E.username, E.method, E.target_id, E.submitted).where(E.campaign_id == campaign_id)
    )
    for username, method, target_id, submitted in rows:
        key = (username, str(method))
        if target_id is None:
            broad.add(key)
        elif submitted:
            done[key] += 1
        else:
            open_rows[key] += 1
    owed: Counter[str] = Counter()
    for key in broad | set(open_rows):
        owed[key[0]] += max(targets - done[key], 0) if key in broad else open_rows[key]
    return {u: n for u, n in sorted(owed.items()) if n > 0}


async def remind_due(runtime: Runtime, now: datetime) -> dict[int, int]:
    """A day before a campaign closes: one WARNING event per evaluator who still owes
    submissions, once per campaign."""
    async with runtime.engine.connect() as conn:
        due = list(
            await conn.scalars(
                select(C.id)
                .where(
                    C.status == CampaignStatus.OPEN,
                    C.reminded_at.is_(None),
                    C.closes_at > now,
                    C.closes_at <= now + REMIND_BEFORE,
                )
                .order_by(C.id)
            )
        )
    reminded: dict[int, int] = {}
    for campaign_id in due:
        async with runtime.write() as (conn, outbox):
            claimed = await conn.execute(
                update(C)
                .where(C.id == campaign_id, C.reminded_at.is_(None))
                .values(reminded_at=now)
            )
            if claimed.rowcount != 1:
                continue  # another process sends them
            facts = await campaigns.campaign(conn, campaign_id)
            assert facts is not None
            tenant = await _tenant_of(conn, facts.tenant_path)
            owed = await pending_by_evaluator(conn, campaign_id)
            for username, count in owed.items():
                outbox.append(
                    await emit(
                        conn,
                        kind=FeedKind.WARNING,
                        light=Light.YELLOW,
                        title=f"{tenant['name']} · 测评即将截止：{facts.name}，"
                        f"{username} 尚有 {count} 项未提交",
                        tenant=tenant,
                        occurred_at=now,
                        data={
                            "cause": "assessment_due",
                            "campaign": campaign_id,
                            "evaluator": username,
                            "pending": count,
                            "closes_at": facts.closes_at.isoformat(),
                        },
                    )
                )
        reminded[campaign_id] = len(owed)
    return reminded
