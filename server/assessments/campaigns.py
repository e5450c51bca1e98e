"""Assessment campaigns: launching one over a subtree, and taking evaluators' submissions.

Writers run in the caller's transaction (Runtime.write) and never commit; the GraphQL layer
decides who may launch (the ASSESSMENT write scope) before calling in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.appraisals.models import Appraisal
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentEvaluator,
    AssessmentIndicator,
    AssessmentSubmission,
    AssessmentTarget,
    AssessmentTemplate,
    CampaignStatus,
    Method,
    RuleKind,
    TargetKind,
)
from server.audit import service as audit
from server.auth.models import User
from server.branches.models import Branch
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit
from server.feed.models import FeedKind
from server.members.models import Member
from server.sql import AnyRow, AnySelect, counted, keyset, page_params
from tenants.models import Tenant
from tenants.scope import Scope

C = AssessmentCampaign
E = AssessmentEvaluator
CAMPAIGN_COLUMNS = (
    C.id,
    C.template_id,
    C.tenant_path,
    C.name,
    C.opens_at,
    C.closes_at,
    C.methods,
    C.created_by,
    C.created_at,
    C.status,
    C.closed_at,
    AssessmentTemplate.code.label("template_code"),
    AssessmentTemplate.version.label("template_version"),
    AssessmentTemplate.target_kind.label("target_kind"),
)


@dataclass(frozen=True, slots=True)
class EvaluatorSpec:
    method: Method
    username: str
    target_id: int | None = None


def _subtree(path: str) -> Any:
    return _subtree_of(Tenant.path, path)


def _subtree_of(column: Any, path: str) -> Any:
    # The project's subtree filter: a range scan on the path index (see tenants/paths.py).
    return Scope.of(path).predicate(column)


def _targets_in(kind: TargetKind, path: str) -> Any:
    """Ids of the template kind's targets within the subtree at `path`."""
    if kind is TargetKind.BRANCH:
        return select(Branch.id).join(Tenant, Tenant.id == Branch.tenant_id).where(_subtree(path))
    if kind is TargetKind.MEMBER:
        return (
            select(Member.id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(_subtree(path))
        )
    # PERSON: civil servants (users) under appraisal in the subtree (server/appraisals).
    return select(Appraisal.person_id).where(_subtree_of(Appraisal.tenant_path, path)).distinct()


async def launch(
    conn: AsyncConnection,
    *,
    template_code: str,
    name: str,
    tenant: dict[str, Any],
    opens_at: datetime,
    closes_at: datetime,
    methods: Mapping[Method, float],
    target_ids: Sequence[int] | None,
    evaluators: Sequence[EvaluatorSpec],
    target_kind: TargetKind | None = None,
    actor: str,
    client: str | None,
    now: datetime,
) -> tuple[int, Event]:
    """Store a campaign on the latest version of `template_code`, its targets and evaluators,
    its audit entry and its ASSESSMENT event."""
    template = (
        await conn.execute(
            select(AssessmentTemplate.id, AssessmentTemplate.target_kind)
            .where(AssessmentTemplate.code == template_code)
            .order_by(AssessmentTemplate.version.desc())
            .limit(1)
        )
    ).first()
    if template is None:
        raise BadUserInput(f"no template {template_code!r}", argument="templateCode")
    if target_kind is not None and target_kind is not template.target_kind:
        raise BadUserInput(
            f"template {template_code!r} assesses {template.target_kind.value.lower()}s: "
            f"give their ids, not {target_kind.value.lower()} ids",
            argument="targetIds",
        )
    in_subtree = _targets_in(template.target_kind, tenant["path"])
    if target_ids is None:
        targets = list((await conn.scalars(in_subtree)).all())
    else:
        targets = list(dict.fromkeys(target_ids))
        found = set(
            await conn.scalars(in_subtree.where(in_subtree.selected_columns[0].in_(targets)))
        )
        outside = [t for t in targets if t not in found]
        if outside:
            raise BadUserInput(
                f"{len(outside)} target(s) are not {template.target_kind.value.lower()}s "
                "of that subtree",
                argument="targetIds",
            )
    if not targets:
        raise BadUserInput("the campaign has no targets", argument="targetIds")
    for spec in evaluators:
        if spec.method not in methods:
            raise BadUserInput(
                f"evaluator {spec.username!r}: method {spec.method} is not weighted",
                argument="evaluators",
            )
        if spec.target_id is not None and spec.target_id not in targets:
            raise BadUserInput(
                f"evaluator {spec.username!r}: the target is not in the campaign",
                argument="evaluators",
            )
    names = {spec.username for spec in evaluators}
    known = set((await conn.scalars(select(User.username).where(User.username.in_(names)))).all())
    if unknown := sorted(names - known):
        raise BadUserInput(f"unknown evaluator(s): {', '.join(unknown)}", argument="evaluators")
    campaign_id = (
        await conn.execute(
            insert(C)
            .values(
                template_id=template.id,
                tenant_path=tenant["path"],
                name=name,
                opens_at=opens_at,
                closes_at=closes_at,
                methods=json.dumps({m.value: w for m, w in methods.items()}),
                created_by=actor,
                created_at=now,
                status=CampaignStatus.OPEN,
            )
            .returning(C.id)
        )
    ).scalar_one()
    await conn.execute(
        insert(AssessmentTarget),
        [
            {"campaign_id": campaign_id, "target_kind": template.target_kind, "target_id": t}
            for t in targets
        ],
    )
    if evaluators:
        await conn.execute(
            insert(E),
            [
                {
                    "campaign_id": campaign_id,
                    "method": s.method,
                    "username": s.username,
                    "target_id": s.target_id,
                    "submitted": False,
                }
                for s in dict.fromkeys(evaluators)
            ],
        )
    detail = {"template": template_code, "targets": len(targets), "evaluators": len(evaluators)}
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="assessment.launch",
                tenant_path=tenant["path"],
                subject=str(campaign_id),
                client_address=client,
                detail=detail,
            )
        ],
        now=now,
    )
    event = await emit(
        conn,
        kind=FeedKind.ASSESSMENT,
        title=f"{tenant['name']} · 测评启动：{name}",
        tenant=tenant,
        occurred_at=now,
        data={"campaign": campaign_id, **detail},
    )
    return campaign_id, event


# -- submissions ------------------------------------------------------------------------------


async def campaign(conn: AsyncConnection, campaign_id: int) -> AnyRow | None:
    stmt = (
        select(*CAMPAIGN_COLUMNS)
        .join(AssessmentTemplate, AssessmentTemplate.id == C.template_id)
        .where(C.id == campaign_id)
    )
    return (await conn.execute(stmt)).first()


async def evaluator_rows(
    conn: AsyncConnection, campaign_id: int, *, method: Method, username: str, target_id: int
) -> Sequence[AnyRow]:
    """The caller's assignments that cover this target: its own row and an all-targets row."""
    stmt = select(E.id, E.target_id, E.submitted).where(
        E.campaign_id == campaign_id,
        E.method == method,
        E.username == username,
        or_(E.target_id == target_id, E.target_id.is_(None)),
    )
    return (await conn.execute(stmt)).all()


def _checked_value(row: AnyRow, value: Any) -> float:
    """The value for one leaf indicator, or BAD_USER_INPUT naming it."""

    def bad(why: str) -> BadUserInput:
        return BadUserInput(f"indicator {row.code!r}: {why}", argument="scores", indicator=row.code)

    # bool is an int in Python: only YES_NO takes one.
    if isinstance(value, bool):
        if row.rule is RuleKind.YES_NO:
            return float(value)
        raise bad("expects a number")
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise bad("expects a number")
    match row.rule:
        case RuleKind.SCORE_RANGE:
            if not row.min_score <= value <= row.max_score:
                raise bad(f"must lie within [{row.min_score:g}, {row.max_score:g}]")
        case RuleKind.YES_NO:
            if value not in (0, 1):
                raise bad("must be 0 or 1 (or a boolean)")
        case RuleKind.COUNT:
            if value < 0 or value != int(value):
                raise bad("must be a non-negative integer")
    return float(value)


async def checked_scores(
    conn: AsyncConnection, template_id: int, scores: Mapping[str, Any]
) -> dict[str, float]:
    """Every leaf indicator of the template version scored and valid, and nothing else."""
    rows = (
        await conn.execute(
            select(
                AssessmentIndicator.code,
                AssessmentIndicator.rule,
                AssessmentIndicator.min_score,
                AssessmentIndicator.max_score,
            )
            .where(
                AssessmentIndicator.template_id == template_id,
                AssessmentIndicator.rule.is_not(None),
            )
            .order_by(AssessmentIndicator.position)
        )
    ).all()
    leaves = {r.code for r in rows}
    for code in scores:
        if code not in leaves:
            raise BadUserInput(
                f"indicator {code!r}: not a scored indicator of this template version",
                argument="scores",
                indicator=code,
            )
    checked: dict[str, float] = {}
    for row in rows:
        if row.code not in scores:
            raise BadUserInput(
                f"indicator {row.code!r}: missing", argument="scores", indicator=row.code
            )
        checked[row.code] = _checked_value(row, scores[row.code])
    return checked


async def submit(
    conn: AsyncConnection,
    *,
    facts: AnyRow,
    assignments: Sequence[AnyRow],
    target_id: int,
    method: Method,
    scores: Mapping[str, Any],
    username: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Store one evaluator's scores for one target. The caller has checked that `assignments`
    (evaluator_rows) is not empty."""
    # A no-op update that locks the campaign row while it is open: a close running meanwhile
    # waits for this submission to commit and counts it, or has committed and refuses it.
    held = await conn.execute(
        update(C)
        .where(C.id == facts.id, C.status == CampaignStatus.OPEN)
        .values(status=CampaignStatus.OPEN)
    )
    if held.rowcount != 1 or now >= facts.closes_at:
        raise BadUserInput("the campaign is closed", argument="campaignId")
    if now < facts.opens_at:
        raise BadUserInput("the campaign is not open yet", argument="campaignId")
    is_target = await conn.scalar(
        select(AssessmentTarget.id).where(
            AssessmentTarget.campaign_id == facts.id, AssessmentTarget.target_id == target_id
        )
    )
    if is_target is None:
        raise BadUserInput("that target is not assessed by the campaign", argument="targetId")
    checked = await checked_scores(conn, facts.template_id, scores)
    own = next((a for a in assignments if a.target_id == target_id), None)
    if own is not None and own.submitted:
        raise BadUserInput("you have already submitted for that target", argument="targetId")
    if own is not None:
        # Conditional: of two concurrent submissions only one flips the flag.
        flipped = await conn.execute(
            update(E).where(and_(E.id == own.id, E.submitted.is_(False))).values(submitted=True)
        )
        if flipped.rowcount != 1:
            raise BadUserInput("you have already submitted for that target", argument="targetId")
    else:
        # An all-targets assignment: the per-target row records this submission (a concurrent
        # twin fails on the unique constraint).
        await conn.execute(
            insert(E).values(
                campaign_id=facts.id,
                method=method,
                username=username,
                target_id=target_id,
                submitted=True,
            )
        )
    anonymous = method is Method.DEMOCRATIC
    submission_id = (
        await conn.execute(
            insert(AssessmentSubmission)
            .values(
                campaign_id=facts.id,
                target_id=target_id,
                method=method,
                evaluator=None if anonymous else username,
                scores=json.dumps(checked),
                submitted_at=now,
            )
            .returning(AssessmentSubmission.id)
        )
    ).scalar_one()
    # The audit log says who voted, never which row is theirs: for DEMOCRATIC it names the
    # campaign, not the submission.
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="assessment.submit",
                tenant_path=facts.tenant_path,
                subject=str(facts.id if anonymous else submission_id),
                client_address=client,
                detail={"campaign": facts.id, "target": target_id, "method": method.value},
            )
        ],
        now=now,
    )


# -- reading ----------------------------------------------------------------------------------


def _scoped(scope: Scope) -> AnySelect:
    return (
        select(*CAMPAIGN_COLUMNS)
        .join(AssessmentTemplate, AssessmentTemplate.id == C.template_id)
        .where(scope.predicate(C.tenant_path))
    )


async def list_campaigns(
    db: Db, *, scope: Scope, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """Campaigns whose subtree lies within `scope`, in id order."""
    stmt = keyset(_scoped(scope), C.id, after=after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_campaigns(db: Db, *, scope: Scope) -> int:
    return int(await db.scalar(counted(_scoped(scope))))
