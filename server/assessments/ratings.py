"""Fortress Stars (1-5) per branch and the Vanguard Index (0-100) per member.

Both blend the latest result of their standard campaign with the activity records of the last
365 days (and, for members, the learning hours of the last 365 days), and are recomputed when
such a campaign closes, when the branch records an activity and (the Vanguard Index) when the
member completes a learning item. A branch or member gets its first value from a result:
activity or learning alone never rates. The formulas (also in the README):

    Fortress Stars: composite = 0.8 x A + 0.2 x T, where A is the branch's latest fortress_star
        score and T = min(100, 100 x activities in the last 365 days / 12), one a month being
        the norm of the three meetings and a lecture. Stars: composite >= 85 gives 5, >= 70 4,
        >= 55 3, >= 40 2, below 40 1.
    Vanguard Index: 0.6 x A + 0.2 x T + 0.2 x L, where A is the member's latest vanguard_index
        score, T = min(100, 100 x attendance at its branch's activities in the last 365 days /
        (members of the branch x 12)): how fully the branch takes part, month by month, and
        L = min(100, 100 x the member's learning hours in the last 365 days / 32): 32 credit
        hours (学时) a year being the party-member education norm. Learning hours are the credit
        hours of the learning items the member completed in the window (server/learning).

A branch at 2 stars or fewer gets a YELLOW warning, at 1 star RED: after every Fortress Star
campaign (a new finding each time), and after an activity only when its light changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Numeric, cast, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.activities.models import Activity
from server.assessments.models import BranchRating, MemberIndex
from server.assessments.scoring import Outcome
from server.branches.models import Branch
from server.feed.events import TENANT_FACTS, Event, tenant_facts
from server.feed.models import Light
from server.feed.service import open_warning
from server.learning.models import LearningEnrolment
from server.members.models import Member
from tenants.models import Tenant

FORTRESS_STAR = "fortress_star"
VANGUARD_INDEX = "vanguard_index"
WINDOW = timedelta(days=365)
MONTHS = 12
STAR_FLOORS = ((85.0, 5), (70.0, 4), (55.0, 3), (40.0, 2))
BRANCH_ASSESSMENT_SHARE = 0.8
# The Vanguard Index's shares of A (assessment), T (participation) and L (learning).
MEMBER_ASSESSMENT_SHARE, MEMBER_ACTIVITY_SHARE, MEMBER_LEARNING_SHARE = 0.6, 0.2, 0.2
LEARNING_NORM_HOURS = 32.0  # 学时 a year: the party-member education norm


def stars_of(composite: float) -> int:
    return next((stars for floor, stars in STAR_FLOORS if composite >= floor), 1)


def light_of(stars: int | None) -> Light | None:
    if stars is None or stars > 2:
        return None
    return Light.RED if stars == 1 else Light.YELLOW


def blend(assessment: float, activity: float, share: float) -> float:
    return round(share * assessment + (1 - share) * activity, 2)


def vanguard(assessment: float, activity: float, learning: float) -> float:
    return round(
        MEMBER_ASSESSMENT_SHARE * assessment
        + MEMBER_ACTIVITY_SHARE * activity
        + MEMBER_LEARNING_SHARE * learning,
        2,
    )


def learning_score_of(hours: float) -> float:
    return round(min(100.0, 100.0 * hours / LEARNING_NORM_HOURS), 2)


def _pairs(rows: Iterable[Any]) -> dict[int, Any]:
    return {row[0]: row[1] for row in rows}


async def branch_activity_scores(
    conn: AsyncConnection, branch_ids: Sequence[int], now: datetime
) -> dict[int, float]:
    if not branch_ids:
        return {}
    rows = await conn.execute(
        select(Activity.branch_id, func.count())
        .where(Activity.branch_id.in_(branch_ids), Activity.occurred_at > now - WINDOW)
        .group_by(Activity.branch_id)
    )
    counts = {r[0]: r[1] for r in rows}
    return {b: round(min(100.0, 100.0 * counts.get(b, 0) / MONTHS), 2) for b in branch_ids}


async def participation_scores(
    conn: AsyncConnection, branch_ids: Sequence[int], now: datetime
) -> dict[int, float]:
    """Per branch: attendance in the window against one full turnout a month."""
    if not branch_ids:
        return {}
    attended = _pairs(
        await conn.execute(
            select(Activity.branch_id, func.sum(Activity.attendance))
            .where(Activity.branch_id.in_(branch_ids), Activity.occurred_at > now - WINDOW)
            .group_by(Activity.branch_id)
        )
    )
    sizes = _pairs(
        await conn.execute(
            select(Member.branch_id, func.count())
            .where(Member.branch_id.in_(branch_ids))
            .group_by(Member.branch_id)
        )
    )
    return {
        b: round(min(100.0, 100.0 * (attended.get(b) or 0) / (max(sizes.get(b, 0), 1) * MONTHS)), 2)
        for b in branch_ids
    }


async def learning_hours(
    conn: AsyncConnection, member_ids: Sequence[int], now: datetime
) -> dict[int, float]:
    """Per member: credit hours of the items it completed in the last 365 days."""
    E = LearningEnrolment
    hours: dict[int, Any] = {}
    # In chunks: a district-wide campaign indexes tens of thousands of members, past what one
    # statement may bind on some drivers.
    for start in range(0, len(member_ids), 5000):
        chunk = list(member_ids[start : start + 5000])
        hours |= _pairs(
            await conn.execute(
                select(E.member_id, func.sum(E.credit_hours))
                .where(
                    E.member_id.in_(chunk),
                    E.completed_at.is_not(None),
                    E.completed_at > now - WINDOW,
                )
                .group_by(E.member_id)
            )
        )
    return {m: float(hours.get(m) or 0.0) for m in member_ids}


async def learning_scores(
    conn: AsyncConnection, member_ids: Sequence[int], now: datetime
) -> dict[int, float]:
    """Per member: L = min(100, 100 x learning hours in the window / 32)."""
    hours = await learning_hours(conn, member_ids, now)
    return {m: learning_score_of(h) for m, h in hours.items()}


async def _branch_places(conn: AsyncConnection, branch_ids: Iterable[int]) -> dict[int, Any]:
    rows = await conn.execute(
        select(Branch.id, Branch.name, *TENANT_FACTS)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(Branch.id.in_(sorted(branch_ids)))
    )
    return {r.id: r for r in rows}


async def _warn(conn: AsyncConnection, place: Any, stars: int, now: datetime, why: str) -> Event:
    light = light_of(stars)
    assert light is not None
    return await open_warning(
        conn,
        cause="fortress_stars",
        tenant=tenant_facts(place),
        branch={"id": place.id, "name": place.name},
        title=f"{place.t_name} · {place.name}：堡垒指数{stars}星（{why}）",
        light=light,
        now=now,
        data={"branch": place.id, "stars": stars},
    )


async def rate_branches(
    conn: AsyncConnection, campaign_id: int, outcomes: Sequence[Outcome], now: datetime
) -> list[Event]:
    scored = {o.target_id: o.score for o in outcomes if o.score is not None}
    if not scored:
        return []
    ids = sorted(scored)
    activity = await branch_activity_scores(conn, ids, now)
    rows: list[dict[str, Any]] = []
    for b in ids:
        composite = blend(scored[b] or 0.0, activity[b], BRANCH_ASSESSMENT_SHARE)
        rows.append(
            {
                "branch_id": b,
                "stars": stars_of(composite),
                "score": composite,
                "assessment_score": scored[b],
                "activity_score": activity[b],
                "campaign_id": campaign_id,
                "updated_at": now,
            }
        )
    # Replace: the newest result is the one that counts (portable, unlike an upsert).
    await conn.execute(delete(BranchRating).where(BranchRating.branch_id.in_(ids)))
    await conn.execute(insert(BranchRating), rows)
    low = [r for r in rows if light_of(r["stars"]) is not None]
    places = await _branch_places(conn, (r["branch_id"] for r in low))
    return [await _warn(conn, places[r["branch_id"]], r["stars"], now, "星级评定") for r in low]


async def index_members(
    conn: AsyncConnection, campaign_id: int, outcomes: Sequence[Outcome], now: datetime
) -> None:
    scored = {o.target_id: o.score for o in outcomes if o.score is not None}
    if not scored:
        return
    ids = sorted(scored)
    branch_of = _pairs(
        await conn.execute(select(Member.id, Member.branch_id).where(Member.id.in_(ids)))
    )
    activity = await participation_scores(conn, sorted(set(branch_of.values())), now)
    learning = await learning_scores(conn, ids, now)
    await conn.execute(delete(MemberIndex).where(MemberIndex.member_id.in_(ids)))
    await conn.execute(
        insert(MemberIndex),
        [
            {
                "member_id": m,
                "value": vanguard(scored[m] or 0.0, activity[branch_of[m]], learning[m]),
                "assessment_score": scored[m],
                "activity_score": activity[branch_of[m]],
                "learning_score": learning[m],
                "campaign_id": campaign_id,
                "updated_at": now,
            }
            for m in ids
            if m in branch_of
        ],
    )


async def after_activity(conn: AsyncConnection, branch_id: int, now: datetime) -> list[Event]:
    """Refresh the branch's stars and its members' indices after it recorded an activity."""
    events: list[Event] = []
    rating = (
        await conn.execute(
            select(BranchRating.stars, BranchRating.assessment_score).where(
                BranchRating.branch_id == branch_id
            )
        )
    ).first()
    if rating is not None and rating.assessment_score is not None:
        activity = (await branch_activity_scores(conn, [branch_id], now))[branch_id]
        composite = blend(rating.assessment_score, activity, BRANCH_ASSESSMENT_SHARE)
        stars = stars_of(composite)
        await conn.execute(
            update(BranchRating)
            .where(BranchRating.branch_id == branch_id)
            .values(stars=stars, score=composite, activity_score=activity, updated_at=now)
        )
        if light_of(stars) is not None and light_of(stars) != light_of(rating.stars):
            places = await _branch_places(conn, [branch_id])
            events.append(await _warn(conn, places[branch_id], stars, now, "活动记录"))
    participation = (await participation_scores(conn, [branch_id], now))[branch_id]
    # Each member keeps its own stored L: learning changes only when it completes an item.
    await conn.execute(
        update(MemberIndex)
        .where(
            MemberIndex.member_id.in_(select(Member.id).where(Member.branch_id == branch_id)),
            MemberIndex.assessment_score.is_not(None),
        )
        .values(
            # As numeric: PostgreSQL rounds to a number of digits only in that type.
            value=cast(
                func.round(
                    cast(
                        MEMBER_ASSESSMENT_SHARE * MemberIndex.assessment_score
                        + MEMBER_ACTIVITY_SHARE * participation
                        + MEMBER_LEARNING_SHARE * MemberIndex.learning_score,
                        Numeric,
                    ),
                    2,
                ),
                Float,
            ),
            activity_score=participation,
            updated_at=now,
        )
    )
    return events


async def after_learning(conn: AsyncConnection, member_id: int, now: datetime) -> float | None:
    """Refresh a member's learning share after it completed an item; its new index, or None
    for a member without one (learning alone never rates)."""
    row = (
        await conn.execute(
            select(MemberIndex.assessment_score, MemberIndex.activity_score).where(
                MemberIndex.member_id == member_id
            )
        )
    ).first()
    if row is None or row.assessment_score is None:
        return None
    learning = (await learning_scores(conn, [member_id], now))[member_id]
    value = vanguard(row.assessment_score, row.activity_score, learning)
    await conn.execute(
        update(MemberIndex)
        .where(MemberIndex.member_id == member_id)
        .values(value=value, learning_score=learning, updated_at=now)
    )
    return value


async def after_close(
    conn: AsyncConnection, facts: Any, outcomes: Sequence[Outcome], *, now: datetime
) -> list[Event]:
    """What a closed campaign's results feed, by its template: the standard templates' ratings,
    and a PERSON campaign's appraisals."""
    if facts.template_code == FORTRESS_STAR:
        return await rate_branches(conn, facts.id, outcomes, now)
    if facts.template_code == VANGUARD_INDEX:
        await index_members(conn, facts.id, outcomes, now)
        return []
    if str(facts.target_kind) == "PERSON":
        from server.appraisals import service as appraisals  # appraisals launch campaigns

        await appraisals.after_evaluation(conn, facts.id, outcomes, now=now)
    return []
