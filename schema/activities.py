"""Mutation.recordActivity: a branch records a meeting, lecture, theme day, ..."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import strawberry
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, parse_global_id
from schema.permissions import Can, allow
from schema.types import ActivityNode, branch_from_facts, tenant_from_facts
from server.activities import service
from server.activities.models import ActivityKind
from server.assessments import ratings
from server.errors import BadUserInput

FUTURE_SLACK = timedelta(days=1)


@strawberry.input
class RecordActivityInput:
    branch_id: strawberry.ID
    title: str
    kind: str = strawberry.field(description="One of: " + ", ".join(k.value for k in ActivityKind))
    occurred_at: datetime | None = None
    attendance: int | None = None


def _checked(data: RecordActivityInput) -> tuple[int, ActivityKind, str, datetime, int]:
    """The input's values, or BAD_USER_INPUT naming the field that is wrong."""
    kind_name, pk = parse_global_id(data.branch_id, argument="branchId")
    if kind_name != "Branch":
        raise BadUserInput("branchId must be the id of a Branch", argument="branchId")
    try:
        kind = ActivityKind(data.kind)
    except ValueError:
        raise BadUserInput(
            f"kind must be one of {', '.join(k.value for k in ActivityKind)}", argument="kind"
        ) from None
    title = data.title.strip()
    if not 1 <= len(title) <= service.TITLE_MAX:
        raise BadUserInput(f"title must have 1 to {service.TITLE_MAX} characters", argument="title")
    now = datetime.now(UTC)
    occurred = data.occurred_at or now
    if occurred.tzinfo is None:
        raise BadUserInput("occurredAt needs a time zone offset", argument="occurredAt")
    if occurred > now + FUTURE_SLACK:
        raise BadUserInput("occurredAt lies in the future", argument="occurredAt")
    attendance = 0 if data.attendance is None else data.attendance
    if not 0 <= attendance <= 100_000:
        raise BadUserInput("attendance must be between 0 and 100000", argument="attendance")
    return pk, kind, title, occurred, attendance


@strawberry.type
class ActivityMutation:
    @strawberry.mutation(
        description="Record a branch activity; it reaches the feed as BRANCH_ACTIVITY.",
        extensions=[allow(Can(Resource.ACTIVITY, Action.WRITE))],
    )
    async def record_activity(
        self, info: Info[Context, None], input: RecordActivityInput
    ) -> ActivityNode:
        ctx = info.context
        branch_id, kind, title, occurred, attendance = _checked(input)
        runtime = ctx.runtime
        now = datetime.now(UTC)
        async with runtime.write() as (conn, outbox):
            facts = await service.branch_facts(conn, branch_id)
            where = facts.tenant["path"] if facts else None
            # Out of reach and absent are the same refusal: existence does not leak.
            if where is None or not ctx.scope(Resource.ACTIVITY, Action.WRITE).admits(
                where, branch=branch_id
            ):
                raise ctx.denied("record activities there", path=where)
            assert facts is not None
            activity_id, event = await service.record(
                conn,
                facts=facts,
                kind=kind,
                title=title,
                occurred_at=occurred,
                attendance=attendance,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
            outbox.append(event)
            # The branch's Fortress Stars and its members' Vanguard Index count activities.
            outbox.extend(await ratings.after_activity(conn, branch_id, now))
        tenant = tenant_from_facts(facts.tenant, ctx.loaders)
        return ActivityNode(
            id=global_id("Activity", activity_id),
            pk=activity_id,
            title=title,
            kind=kind.value,
            occurred_at=occurred,
            attendance=attendance,
            branch=branch_from_facts(facts.branch, tenant),
        )
