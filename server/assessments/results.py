"""Closing a campaign: its results (score, per-method values, per-indicator breakdown, rank),
the ratings they feed (server/assessments/ratings.py), and the ASSESSMENT events; reading
results, rankings and trends.

Writers run in the caller's transaction (Runtime.write) and never commit.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.appraisals.models import Appraisal
from server.assessments import ratings
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentIndicator,
    AssessmentResult,
    AssessmentSubmission,
    AssessmentTarget,
    AssessmentTemplate,
    CampaignStatus,
    Method,
    TargetKind,
)
from server.assessments.scoring import Indicator, Outcome, Template, rank_all, score_target
from server.audit import service as audit
from server.branches.models import Branch
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit
from server.feed.models import FeedKind
from server.members.models import Member
from server.sql import AnyRow, AnySelect
from tenants.models import Tenant
from tenants.scope import Scope

C = AssessmentCampaign
R = AssessmentResult
S = AssessmentSubmission

# How many top results the "results published" event names.
PUBLISHED_TOP = 3


@dataclass(frozen=True, slots=True)
class Closed:
    campaign_id: int
    scored: int
    unscored: int
    events: list[Event]


async def template_of(conn: AsyncConnection, template_id: int) -> Template:
    rows = (
        await conn.execute(
            select(
                AssessmentIndicator.id,
                AssessmentIndicator.parent_id,
                AssessmentIndicator.code,
                AssessmentIndicator.weight,
                AssessmentIndicator.rule,
                AssessmentIndicator.min_score,
                AssessmentIndicator.max_score,
                AssessmentIndicator.per_unit,
                AssessmentIndicator.cap,
            )
            .where(AssessmentIndicator.template_id == template_id)
            .order_by(AssessmentIndicator.position)
        )
    ).all()
    code_of = {r.id: r.code for r in rows}
    return Template(
        [
            Indicator(
                code=r.code,
                parent=None if r.parent_id is None else code_of[r.parent_id],
                weight=r.weight,
                rule=r.rule,
                min=r.min_score,
                max=r.max_score,
                per_unit=r.per_unit,
                cap=r.cap,
            )
            for r in rows
        ]
    )


async def _target_paths(
    conn: AsyncConnection, kind: TargetKind, campaign_id: int, fallback: str
) -> dict[int, str]:
    """Each target's tenant path now: results are scoped by where the target is."""
    t = AssessmentTarget
    stmt: AnySelect
    if kind is TargetKind.BRANCH:
        stmt = (
            select(t.target_id, Tenant.path)
            .join(Branch, Branch.id == t.target_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
        )
    elif kind is TargetKind.MEMBER:
        stmt = (
            select(t.target_id, Tenant.path)
            .join(Member, Member.id == t.target_id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
        )
    else:
        # A person is where its appraisal in this campaign is; else in the campaign's subtree.
        stmt = select(t.target_id, func.coalesce(Appraisal.tenant_path, fallback)).outerjoin(
            Appraisal,
            and_(Appraisal.person_id == t.target_id, Appraisal.campaign_id == campaign_id),
        )
    rows = (await conn.execute(stmt.where(t.campaign_id == campaign_id))).all()
    return {r[0]: r[1] for r in rows}


async def compute(conn: AsyncConnection, facts: AnyRow) -> list[Outcome]:
    """Every target's outcome for the campaign `facts` (campaigns.campaign), ranked."""
    template = await template_of(conn, facts.template_id)
    weights = {Method(m): float(w) for m, w in json.loads(facts.methods).items()}
    targets = (
        await conn.scalars(
            select(AssessmentTarget.target_id)
            .where(AssessmentTarget.campaign_id == facts.id)
            .order_by(AssessmentTarget.target_id)
        )
    ).all()
    submissions: dict[int, list[tuple[Method, dict[str, float]]]] = defaultdict(list)
    rows = await conn.stream(
        select(S.target_id, S.method, S.scores).where(S.campaign_id == facts.id).order_by(S.id)
    )
    async for row in rows:
        submissions[row.target_id].append((Method(row.method), json.loads(row.scores)))
    return rank_all([score_target(template, weights, t, submissions.get(t, ())) for t in targets])


async def close(
    conn: AsyncConnection,
    facts: AnyRow,
    *,
    tenant: dict[str, Any],
    actor: str,
    client: str | None,
    now: datetime,
) -> Closed:
    """Close the campaign, store its results and ratings, audit it and emit its events."""
    # Conditional: of two closers (an admin and the scheduler, or two processes) one wins.
    flipped = await conn.execute(
        update(C)
        .where(C.id == facts.id, C.status == CampaignStatus.OPEN)
        .values(status=CampaignStatus.CLOSED, closed_at=now)
    )
    if flipped.rowcount != 1:
        raise BadUserInput("the campaign is closed already", argument="campaignId")
    outcomes = await compute(conn, facts)
    kind = TargetKind(facts.target_kind)
    paths = await _target_paths(conn, kind, facts.id, facts.tenant_path)
    await conn.execute(
        insert(R),
        [
            {
                "campaign_id": facts.id,
                "target_kind": kind,
                "target_id": o.target_id,
                "tenant_path": paths.get(o.target_id, facts.tenant_path),
                "score": o.score,
                "rank": o.rank,
                "submissions": o.submissions,
                "methods": json.dumps(o.methods, sort_keys=True),
                "breakdown": json.dumps(o.breakdown, sort_keys=True),
            }
            for o in outcomes
        ],
    )
    scored = sum(1 for o in outcomes if o.score is not None)
    detail = {"campaign": facts.id, "scored": scored, "unscored": len(outcomes) - scored}
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="assessment.close",
                tenant_path=facts.tenant_path,
                subject=str(facts.id),
                client_address=client,
                detail=detail,
            )
        ],
        now=now,
    )
    events = [
        await emit(
            conn,
            kind=FeedKind.ASSESSMENT,
            title=f"{tenant['name']} · 测评结束：{facts.name}",
            tenant=tenant,
            occurred_at=now,
            data={**detail, "stage": "closed"},
        )
    ]
    events += await ratings.after_close(conn, facts, outcomes, now=now)
    top = [
        {"target": o.target_id, "score": o.score, "rank": o.rank}
        for o in outcomes[:PUBLISHED_TOP]
        if o.score is not None
    ]
    events.append(
        await emit(
            conn,
            kind=FeedKind.ASSESSMENT,
            title=f"{tenant['name']} · 测评结果发布：{facts.name}",
            tenant=tenant,
            occurred_at=now,
            data={**detail, "stage": "results", "top": top},
        )
    )
    return Closed(facts.id, scored, len(outcomes) - scored, events)


# -- reading ----------------------------------------------------------------------------------

RESULT_COLUMNS = (
    R.id,
    R.campaign_id,
    R.target_kind,
    R.target_id,
    R.tenant_path,
    R.score,
    R.rank,
    R.submissions,
    R.methods,
    R.breakdown,
)


def visible(scope: Scope) -> Any:
    """Results the scope admits: by the target's tenant, or a member's or branch's own."""
    return scope.predicate(
        R.tenant_path,
        branch=case((R.target_kind == TargetKind.BRANCH, R.target_id)),
        member=case((R.target_kind == TargetKind.MEMBER, R.target_id)),
    )


async def rankings(
    db: Db, *, scope: Scope, campaign_id: int, after: int, limit: int
) -> Sequence[AnyRow]:
    """A campaign's results the scope admits, best first (unscored last, by target id), each
    with `position` (1-based, in this listing) and `scope_rank` (competition rank among them).
    `after` is the position to start after: positions are stable for a closed campaign."""
    ordered = (
        select(
            *RESULT_COLUMNS,
            func.row_number()
            .over(order_by=(R.score.is_(None), R.score.desc(), R.target_id))
            .label("position"),
            case(
                (R.score.is_(None), None),
                else_=func.rank().over(order_by=(R.score.is_(None), R.score.desc())),
            ).label("scope_rank"),
        )
        .where(R.campaign_id == campaign_id, visible(scope))
        .subquery()
    )
    stmt = (
        select(ordered).where(ordered.c.position > after).order_by(ordered.c.position).limit(limit)
    )
    return (await db.execute(stmt)).all()


async def count_results(db: Db, *, scope: Scope, campaign_id: int) -> int:
    stmt = select(func.count()).where(R.campaign_id == campaign_id, visible(scope))
    return int(await db.scalar(stmt))


async def trend(
    db: Db, *, scope: Scope, kind: TargetKind, target_id: int, template_code: str | None
) -> Sequence[AnyRow]:
    """One target's results over closed campaigns, oldest first."""
    stmt = (
        select(
            *RESULT_COLUMNS,
            C.name.label("campaign_name"),
            C.closed_at,
            AssessmentTemplate.code.label("template_code"),
        )
        .join(C, C.id == R.campaign_id)
        .join(AssessmentTemplate, AssessmentTemplate.id == C.template_id)
        .where(R.target_kind == kind, R.target_id == target_id, visible(scope))
        .order_by(C.closed_at, C.id)
    )
    if template_code is not None:
        stmt = stmt.where(AssessmentTemplate.code == template_code)
    return (await db.execute(stmt)).all()
