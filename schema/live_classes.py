"""Live classes (空中课堂) over GraphQL: Query.liveClasses, liveClass, liveClassQuestions,
liveClassAttendance and liveClassLeaderboard; Mutation.scheduleLiveClass, startLiveClass,
endLiveClass, joinLiveClass, pushLiveQuestion, closeLiveQuestion and answerLiveQuestion;
Subscription.liveClass, the session's events as they happen.

Who does what (docs/lecturers.md):
- the host: an admin with LECTURER write over the host tenant schedules, starts and ends the
  class, pushes and closes questions, and reads the attendance;
- participants: members of the host tenant's subtree join while the class is on (attendance,
  with the join time), answer each open question once, and follow the subscription;
- anyone with LECTURER read lists the classes of its subtree and of the tenants above it.
A class (or question) someone may not act on is refused exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlalchemy.exc import IntegrityError
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of
from schema.lecturers import LecturerNode, lecturer_nodes
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import (
    EDGES,
    Counter,
    Node,
    PageInfo,
    TenantNode,
    connection,
    tenant_from_facts,
)
from server.errors import AppError, BadUserInput
from server.feed.events import tenant_facts
from server.lecturers import service, sessions
from server.lecturers.live import LiveListener
from server.lecturers.models import QuestionKind
from server.members.privacy import masked_name
from server.sql import AnyRow
from tenants.paths import ancestors, is_within
from tenants.scope import Scope


@strawberry.enum(name="LiveClassStatus", description="SCHEDULED, then LIVE, then ENDED.")
class LiveClassStatus(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    ENDED = "ENDED"


@strawberry.enum(description="What happened in a live class.")
class LiveClassEventKind(enum.StrEnum):
    STARTED = "STARTED"
    QUESTION = "QUESTION"
    QUESTION_CLOSED = "QUESTION_CLOSED"
    ENDED = "ENDED"


strawberry.enum(
    QuestionKind,
    name="LiveQuestionKind",
    description="SINGLE: one option is correct; MULTIPLE: one or more are.",
)


# How long a subscription waits in silence before it looks whether its class has ended.
ENDED_RECHECK = 30.0


class LiveOverflow(AppError):
    """The subscriber fell behind by more than its queue holds: subscribe again."""

    code = "SUBSCRIBER_TOO_SLOW"


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="LiveClass", description="A live class session (空中课堂).")
class LiveClassNode(Node):
    id: strawberry.ID
    title: str
    lecturer: LecturerNode
    host: TenantNode = strawberry.field(
        description="The host tenant: its admins run the class, members of its subtree join."
    )
    scheduled_start: datetime
    scheduled_end: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status: LiveClassStatus
    attendance_count: int = strawberry.field(description="Members who joined.")
    created_by: str
    can_host: bool = strawberry.field(description="Whether you run this class.")
    can_join: bool = strawberry.field(description="Whether you may take part (a member).")


@strawberry.type(name="LiveQuestion", description="A quiz question pushed during a class.")
class LiveQuestionNode:
    id: strawberry.ID
    text: str
    kind: QuestionKind
    options: list[str] = strawberry.field(description="Answers name them by index, from 0.")
    points: int
    time_limit_seconds: int
    opened_at: datetime
    closes_at: datetime = strawberry.field(description="Answers are refused from then on.")
    closed_at: datetime | None = strawberry.field(
        description="When the host closed it: results are out."
    )
    correct: list[int] | None = strawberry.field(
        description="The correct options: for the host, and for everyone once closed."
    )
    my_choices: list[int] | None = strawberry.field(description="Your answer, if any.")
    my_score: int | None = strawberry.field(
        description="Your score: once the question is closed (0 without an answer)."
    )


@strawberry.type(name="LiveAttendee", description="A member who joined a live class.")
class LiveAttendeeNode:
    member_id: strawberry.ID
    name: str
    branch_name: str
    joined_at: datetime


@strawberry.type(name="LiveScore", description="A participant's standing over closed questions.")
class LiveScoreNode:
    rank: int = strawberry.field(description="1 for the best total; ties share a rank.")
    member_id: strawberry.ID
    name: str = strawberry.field(
        description="In full for the host and for yourself; other participants see the "
        "surname only (王某)."
    )
    branch_name: str
    total: int
    answered: int = strawberry.field(description="Closed questions answered.")


@strawberry.type(name="LiveAnswerReceipt", description="An answer taken; scored at closing.")
class LiveAnswerReceipt:
    question_id: strawberry.ID
    choices: list[int]
    answered_at: datetime


@strawberry.type(
    name="LiveClassEvent",
    description="One event of a live class, as the subscription delivers it. QUESTION never "
    "carries the correct answer; QUESTION_CLOSED carries it, with your choices and score.",
)
class LiveClassEventNode:
    kind: LiveClassEventKind
    live_class_id: strawberry.ID
    at: datetime
    question: LiveQuestionNode | None
    correct: list[int] | None
    your_choices: list[int] | None
    your_score: int | None = strawberry.field(
        description="On QUESTION_CLOSED, for a participant: its score (0 without an answer)."
    )
    answers: int | None = strawberry.field(description="On QUESTION_CLOSED: answers given.")
    full_marks: int | None = strawberry.field(
        description="On QUESTION_CLOSED: answers that scored the full points."
    )


@strawberry.type
class LiveClassEdge:
    cursor: str
    node: LiveClassNode


@strawberry.type
class LiveClassConnection:
    edges: list[LiveClassEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class LiveQuestionEdge:
    cursor: str
    node: LiveQuestionNode


@strawberry.type
class LiveQuestionConnection:
    edges: list[LiveQuestionEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class LiveAttendeeEdge:
    cursor: str
    node: LiveAttendeeNode


@strawberry.type
class LiveAttendeeConnection:
    edges: list[LiveAttendeeEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class LiveScoreEdge:
    cursor: str
    node: LiveScoreNode


@strawberry.type
class LiveScoreConnection:
    edges: list[LiveScoreEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="Participants, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[LiveClassConnection] = LiveClassEdge
EDGES[LiveQuestionConnection] = LiveQuestionEdge
EDGES[LiveAttendeeConnection] = LiveAttendeeEdge


@strawberry.input
class ScheduleLiveClassInput:
    title: str
    lecturer_id: strawberry.ID
    host_tenant_id: strawberry.ID = strawberry.field(description="A tenant of your subtree.")
    scheduled_start: datetime
    scheduled_end: datetime


@strawberry.input
class PushLiveQuestionInput:
    live_class_id: strawberry.ID
    text: str
    kind: QuestionKind
    options: list[str] = strawberry.field(description="2 to 10 options.")
    correct: list[int] = strawberry.field(
        description="The correct options by index from 0: one for SINGLE, one or more for "
        "MULTIPLE. Never shown to participants before the question closes."
    )
    points: int = 10
    time_limit_seconds: int = 60


# -- access -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    row: AnyRow
    host: bool
    member_id: int | None  # set when the viewer may take part

    @property
    def path(self) -> str:
        return str(self.row.t_path)


def _sees(scope: Scope, path: str) -> bool:
    """The list's rule for one class: in the scope, or above one of its roots."""
    return scope.admits(path) or any(path in ancestors(root) for root in scope.roots)


async def _may_join(ctx: Context, path: str) -> int | None:
    principal = ctx.principal
    if principal is None or principal.kind != "user" or principal.member_id is None:
        return None
    if ctx.scope(Resource.LECTURER).is_empty:
        return None
    own = await service.member_path(ctx.db, principal.member_id)
    return principal.member_id if own is not None and is_within(own, path) else None


async def _access(ctx: Context, class_pk: int, what: str, *, host_only: bool = False) -> Access:
    """The class, when the viewer hosts it or (unless `host_only`) may take part in it; the
    refusal of an absent class otherwise."""
    row = await sessions.class_by_id(ctx.db, class_pk)
    if row is not None:
        host = ctx.scope(Resource.LECTURER, Action.WRITE).contains(row.t_path)
        member = await _may_join(ctx, row.t_path)
        if host or (member is not None and not host_only):
            return Access(row, host, member)
    raise ctx.denied(what, path=None if row is None else row.t_path)


def class_node(
    row: AnyRow, lecturer: LecturerNode, ctx: Context, *, host: bool, join: bool
) -> LiveClassNode:
    return LiveClassNode(
        id=global_id("LiveClass", row.id),
        title=row.title,
        lecturer=lecturer,
        host=tenant_from_facts(tenant_facts(row), ctx.loaders),
        scheduled_start=row.scheduled_start,
        scheduled_end=row.scheduled_end,
        started_at=row.started_at,
        ended_at=row.ended_at,
        status=LiveClassStatus(sessions.class_status(row)),
        attendance_count=row.attendance,
        created_by=row.created_by,
        can_host=host,
        can_join=join,
    )


async def _class_nodes(ctx: Context, rows: list[AnyRow]) -> dict[int, LiveClassNode]:
    lecturers = await lecturer_nodes(ctx, [r.lecturer_id for r in rows])
    write = ctx.scope(Resource.LECTURER, Action.WRITE)
    principal = ctx.principal
    own = None
    if principal is not None and principal.member_id is not None and rows:
        own = await service.member_path(ctx.db, principal.member_id)
    return {
        r.id: class_node(
            r,
            lecturers[r.lecturer_id],
            ctx,
            host=write.contains(r.t_path),
            join=own is not None and is_within(own, r.t_path),
        )
        for r in rows
    }


def question_node(
    row: AnyRow, *, host: bool, own: AnyRow | None, participant: bool
) -> LiveQuestionNode:
    closed = row.closed_at is not None
    return LiveQuestionNode(
        id=global_id("LiveQuestion", row.id),
        text=row.text,
        kind=QuestionKind(row.kind),
        options=json.loads(row.options),
        points=row.points,
        time_limit_seconds=row.time_limit,
        opened_at=row.opened_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        correct=json.loads(row.correct) if closed or host else None,
        my_choices=None if own is None else json.loads(own.choices),
        my_score=(own.score if own is not None else 0) if closed and participant else None,
    )


def _message_question(message: dict[str, Any]) -> LiveQuestionNode:
    q = message["question"]
    closed = q.get("closed_at")
    return LiveQuestionNode(
        id=global_id("LiveQuestion", q["id"]),
        text=q["text"],
        kind=QuestionKind(q["kind"]),
        options=q["options"],
        points=q["points"],
        time_limit_seconds=q["time_limit"],
        opened_at=datetime.fromisoformat(q["opened_at"]),
        closes_at=datetime.fromisoformat(q["closes_at"]),
        closed_at=None if closed is None else datetime.fromisoformat(closed),
        correct=message.get("correct"),
        my_choices=None,
        my_score=None,
    )


def event_node(message: dict[str, Any], member_id: int | None) -> LiveClassEventNode:
    kind = LiveClassEventKind(message["type"])
    question = _message_question(message) if "question" in message else None
    mine = None
    score = None
    if kind is LiveClassEventKind.QUESTION_CLOSED and member_id is not None:
        entry = message["scores"].get(str(member_id))
        score, mine = (0, None) if entry is None else (entry[0], entry[1])
        assert question is not None
        question.my_choices, question.my_score = mine, score
    return LiveClassEventNode(
        kind=kind,
        live_class_id=global_id("LiveClass", int(message["class"])),
        at=datetime.fromisoformat(message["at"]),
        question=question,
        correct=message.get("correct"),
        your_choices=mine,
        your_score=score,
        answers=message.get("answers"),
        full_marks=message.get("full_marks"),
    )


def _shown_name(access: Access, member_id: int, name: str) -> str:
    """Participants rank among members of other branches: only the host (an admin over
    them all) and the member itself see a name in full."""
    return name if access.host or member_id == access.member_id else masked_name(name)


def _statuses(statuses: list[LiveClassStatus] | None) -> tuple[str, ...] | None:
    return None if statuses is None else tuple(sorted({s.value for s in statuses}))


def _aware(value: datetime, argument: str) -> datetime:
    if value.tzinfo is None:
        raise BadUserInput(f"{argument} needs a time zone offset", argument=argument)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+08:00 has no UTC time
        raise BadUserInput(f"{argument} is out of range", argument=argument) from None


# -- queries ------------------------------------------------------------------------------------


async def load_live_class(ctx: Context, pk: int) -> LiveClassNode | None:
    """The class, when hosted in the viewer's subtree or above it; None otherwise, as for one
    that does not exist. Query.liveClass and Query.node both answer with it."""
    row = await sessions.class_by_id(ctx.db, pk)
    if row is None or not _sees(ctx.scope(Resource.LECTURER), row.t_path):
        return None
    return (await _class_nodes(ctx, [row]))[row.id]


@strawberry.type
class LiveClassQuery:
    @strawberry.field(
        description="Live classes hosted in your subtree and by the tenants above it, newest "
        "first; `under` narrows to a tenant's subtree (and those above it).",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def live_classes(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        statuses: list[LiveClassStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> LiveClassConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.LECTURER)
        wanted = _statuses(statuses)
        rows = list(
            await sessions.list_classes(
                ctx.db, scope=scope, statuses=wanted, after_id=page.after_id, limit=page.fetch
            )
        )
        nodes = await _class_nodes(ctx, rows[: page.first])
        return connection(
            LiveClassConnection,
            rows,
            page,
            lambda r: nodes[r.id],
            lambda: sessions.count_classes(ctx.db, scope=scope, statuses=wanted),
        )

    @strawberry.field(
        description="One live class, or null when it does not exist or you do not see it.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def live_class(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LiveClassNode | None:
        return await load_live_class(info.context, id_of(id, "LiveClass", "id"))

    @strawberry.field(
        description="The questions of a class you host or take part in, in the order pushed. "
        "The correct options show to participants once a question is closed.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def live_class_questions(
        self,
        info: Info[Context, None],
        live_class_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> LiveQuestionConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        access = await _access(
            ctx, id_of(live_class_id, "LiveClass", "liveClassId"), "read this live class"
        )
        class_pk = access.row.id
        rows = await sessions.list_questions(
            ctx.db, class_id=class_pk, after_id=page.after_id, limit=page.fetch
        )
        own: dict[int, AnyRow] = {}
        if access.member_id is not None:
            own = await sessions.own_answers(ctx.db, class_id=class_pk, member_id=access.member_id)
        return connection(
            LiveQuestionConnection,
            rows,
            page,
            lambda r: question_node(
                r, host=access.host, own=own.get(r.id), participant=access.member_id is not None
            ),
            lambda: sessions.count_questions(ctx.db, class_id=class_pk),
        )

    @strawberry.field(
        description="Who joined a class you host, in the order they joined.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def live_class_attendance(
        self,
        info: Info[Context, None],
        live_class_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> LiveAttendeeConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        access = await _access(
            ctx,
            id_of(live_class_id, "LiveClass", "liveClassId"),
            "read this live class's attendance",
            host_only=True,
        )
        class_pk = access.row.id
        rows = await sessions.attendance(
            ctx.db, class_id=class_pk, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            LiveAttendeeConnection,
            rows,
            page,
            lambda r: LiveAttendeeNode(
                member_id=global_id("Member", r.member_id),
                name=r.name,
                branch_name=r.branch_name,
                joined_at=r.joined_at,
            ),
            lambda: sessions.attendance_count(ctx.db, class_id=class_pk),
        )

    @strawberry.field(
        description="The participants of a class you host or take part in, by their total "
        "score over closed questions (ties share a rank, then by member). Pages by position.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def live_class_leaderboard(
        self,
        info: Info[Context, None],
        live_class_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
    ) -> LiveScoreConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        access = await _access(
            ctx, id_of(live_class_id, "LiveClass", "liveClassId"), "read this live class"
        )
        class_pk = access.row.id
        offset = page.after_id or 0
        rows = await sessions.leaderboard(
            ctx.db, class_id=class_pk, offset=offset, limit=page.fetch
        )
        edges = [
            LiveScoreEdge(
                cursor=cursor(offset + i + 1),
                node=LiveScoreNode(
                    rank=r.rank,
                    member_id=global_id("Member", r.member_id),
                    name=_shown_name(access, r.member_id, r.name),
                    branch_name=r.branch_name,
                    total=r.total,
                    answered=r.answered,
                ),
            )
            for i, r in enumerate(rows[: page.first])
        ]
        return LiveScoreConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > page.first,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            counter=lambda: sessions.attendance_count(ctx.db, class_id=class_pk),
        )


# -- mutations ----------------------------------------------------------------------------------


async def _class_result(ctx: Context, class_pk: int) -> LiveClassNode:
    row = await sessions.class_by_id(ctx.db, class_pk)
    assert row is not None
    return (await _class_nodes(ctx, [row]))[class_pk]


@strawberry.type
class LiveClassMutation:
    @strawberry.mutation(
        description="Schedule a live class hosted by a tenant of your subtree, with a lecturer "
        "you can see.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def schedule_live_class(
        self, info: Info[Context, None], input: ScheduleLiveClassInput
    ) -> LiveClassNode:
        ctx = info.context
        title = service.checked_text(input.title, "title", 200)
        lecturer_pk = id_of(input.lecturer_id, "Lecturer", "lecturerId")
        host_pk = id_of(input.host_tenant_id, "Tenant", "hostTenantId")
        start = _aware(input.scheduled_start, "scheduledStart")
        end = _aware(input.scheduled_end, "scheduledEnd")
        if end <= start:
            raise BadUserInput(
                "scheduledEnd must come after scheduledStart", argument="scheduledEnd"
            )
        if end - start > sessions.CLASS_MAX:
            raise BadUserInput("a live class lasts at most 12 hours", argument="scheduledEnd")
        if start > datetime.now(UTC) + sessions.SCHEDULE_AHEAD:
            raise BadUserInput(
                "scheduledStart lies more than a year ahead", argument="scheduledStart"
            )
        async with ctx.runtime.write() as (conn, _outbox):
            path = await service.tenant_path(conn, host_pk)
            if path is None or not ctx.scope(Resource.LECTURER, Action.WRITE).contains(path):
                raise ctx.denied("host live classes there", path=path)
            lecturer = await service.lecturers_by_ids(
                conn, scope=ctx.scope(Resource.LECTURER), ids=[lecturer_pk]
            )
            if not lecturer:
                raise ctx.denied("schedule this lecturer")
            if not lecturer[0].active:  # the register's rule for bookings holds here too
                raise BadUserInput(f"{lecturer[0].name} is not active", argument="lecturerId")
            class_pk = await sessions.schedule_class(
                conn,
                title=title,
                lecturer_id=lecturer_pk,
                tenant_id=host_pk,
                path=path,
                start=start,
                end=end,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        return await _class_result(ctx, class_pk)

    @strawberry.mutation(
        description="Start a class you host: participants may join, STARTED goes out, and "
        "the feed gets a BRANCH_ACTIVITY event at the host (空中课堂开讲).",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def start_live_class(self, info: Info[Context, None], id: strawberry.ID) -> LiveClassNode:
        ctx = info.context
        access = await _access(
            ctx, id_of(id, "LiveClass", "id"), "run this live class", host_only=True
        )
        await ctx.db.release()
        async with ctx.runtime.write() as (conn, outbox):
            message, event = await sessions.start_class(
                conn,
                row=access.row,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            outbox.append(event)
        await ctx.runtime.live.publish([message])
        return await _class_result(ctx, access.row.id)

    @strawberry.mutation(
        description="End a class you host: open questions close (QUESTION_CLOSED each), then "
        "ENDED goes out and subscriptions finish; the feed gets a BRANCH_ACTIVITY event at the "
        "host with the attendance (空中课堂结束).",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def end_live_class(self, info: Info[Context, None], id: strawberry.ID) -> LiveClassNode:
        ctx = info.context
        access = await _access(
            ctx, id_of(id, "LiveClass", "id"), "run this live class", host_only=True
        )
        await ctx.db.release()
        async with ctx.runtime.write() as (conn, outbox):
            messages, event = await sessions.end_class(
                conn,
                row=access.row,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            outbox.append(event)
        await ctx.runtime.live.publish(messages)
        return await _class_result(ctx, access.row.id)

    @strawberry.mutation(
        description="Join a class that is on (a member of the host tenant's subtree): your "
        "attendance is recorded once, with the time you first joined.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def join_live_class(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LiveAttendeeNode:
        ctx = info.context
        access = await _access(ctx, id_of(id, "LiveClass", "id"), "join this live class")
        if access.member_id is None:  # a host who is not a participant
            raise ctx.denied("join this live class", path=access.path)
        await ctx.db.release()
        try:
            async with ctx.runtime.write() as (conn, _outbox):
                await sessions.join_class(
                    conn,
                    row=access.row,
                    member_id=access.member_id,
                    actor=ctx.actor(),
                    client=ctx.client_address,
                    now=datetime.now(UTC),
                )
        except (sessions.AlreadyJoined, IntegrityError):
            pass  # joined before, or this very moment from another tab: the first time stands
        me = await sessions.attendee(ctx.db, class_id=access.row.id, member_id=access.member_id)
        assert me is not None
        return LiveAttendeeNode(
            member_id=global_id("Member", me.member_id),
            name=me.name,
            branch_name=me.branch_name,
            joined_at=me.joined_at,
        )

    @strawberry.mutation(
        description="Push a question to the participants of a class you host that is on "
        "(QUESTION goes out, without the correct options).",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def push_live_question(
        self, info: Info[Context, None], input: PushLiveQuestionInput
    ) -> LiveQuestionNode:
        ctx = info.context
        fields = sessions.checked_question(
            text=input.text,
            kind=input.kind,
            options=input.options,
            correct=input.correct,
            points=input.points,
            time_limit=input.time_limit_seconds,
        )
        access = await _access(
            ctx,
            id_of(input.live_class_id, "LiveClass", "liveClassId"),
            "run this live class",
            host_only=True,
        )
        await ctx.db.release()
        async with ctx.runtime.write() as (conn, _outbox):
            question_pk, message = await sessions.push_question(
                conn,
                row=access.row,
                fields=fields,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        await ctx.runtime.live.publish([message])
        row = await sessions.question_by_id(ctx.db, question_pk)
        assert row is not None
        return question_node(row, host=True, own=None, participant=False)

    @strawberry.mutation(
        description="Close a question of a class you host: QUESTION_CLOSED goes out with the "
        "correct options, and each participant's score.",
        extensions=[allow(Can(Resource.LECTURER, Action.WRITE))],
    )
    async def close_live_question(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> LiveQuestionNode:
        ctx = info.context
        question = await sessions.question_by_id(ctx.db, id_of(id, "LiveQuestion", "id"))
        if question is None:
            raise ctx.denied("run this live class")
        access = await _access(ctx, question.live_class_id, "run this live class", host_only=True)
        await ctx.db.release()
        async with ctx.runtime.write() as (conn, _outbox):
            message = await sessions.close_question(
                conn,
                question=question,
                path=access.path,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
        await ctx.runtime.live.publish([message])
        row = await sessions.question_by_id(ctx.db, question.id)
        assert row is not None
        return question_node(row, host=True, own=None, participant=False)

    @strawberry.mutation(
        description="Answer an open question of a class you take part in, once: option "
        "indexes from 0 (one for SINGLE). The score comes when the question closes.",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def answer_live_question(
        self, info: Info[Context, None], question_id: strawberry.ID, choices: list[int]
    ) -> LiveAnswerReceipt:
        ctx = info.context
        question = await sessions.question_by_id(
            ctx.db, id_of(question_id, "LiveQuestion", "questionId")
        )
        if question is None:
            raise ctx.denied("answer this question")
        access = await _access(ctx, question.live_class_id, "answer this question")
        if access.member_id is None:
            raise ctx.denied("answer this question", path=access.path)
        await ctx.db.release()
        now = datetime.now(UTC)
        async with ctx.runtime.write() as (conn, _outbox):
            await sessions.answer_question(
                conn,
                question=question,
                path=access.path,
                member_id=access.member_id,
                choices=choices,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=now,
            )
        return LiveAnswerReceipt(
            question_id=global_id("LiveQuestion", question.id),
            choices=sorted(choices),
            answered_at=now,
        )


# -- subscription ---------------------------------------------------------------------------------


@strawberry.type
class LiveClassSubscription:
    @strawberry.subscription(
        description="The events of a live class you host or may take part in: STARTED, "
        "QUESTION (without the answer), QUESTION_CLOSED (the answer and your score), ENDED "
        "(the last: the subscription completes after it; should that message be lost, within "
        "30 s of silence from the class's own row). On subscribing, the class's current "
        "state comes first (STARTED and the open questions of a class that is on; ENDED for "
        "one that is over).",
        extensions=[allow(Can(Resource.LECTURER))],
    )
    async def live_class(
        self, info: Info[Context, None], session_id: strawberry.ID
    ) -> AsyncGenerator[LiveClassEventNode, None]:
        ctx = info.context
        runtime = ctx.runtime
        access = await _access(
            ctx, id_of(session_id, "LiveClass", "sessionId"), "follow this live class"
        )
        listener = LiveListener(access.row.id, runtime.settings.feed_queue)
        # Registered before the state is read: nothing committed from now on is missed, and
        # what both deliver is given once.
        runtime.live.register(listener)
        try:
            seen: set[tuple[str, int]] = set()
            row = await sessions.class_by_id(ctx.db, access.row.id)
            assert row is not None
            state: list[dict[str, Any]] = []
            if row.started_at is not None:
                state.append({"class": row.id, "type": "STARTED", "at": row.started_at.isoformat()})
            if row.ended_at is not None:
                state.append({"class": row.id, "type": "ENDED", "at": row.ended_at.isoformat()})
            else:
                for q in await sessions.open_questions(ctx.db, class_id=row.id):
                    state.append(
                        {
                            "class": row.id,
                            "type": "QUESTION",
                            "at": q.opened_at.isoformat(),
                            "question": sessions.question_message(q),
                        }
                    )
            await ctx.db.release()  # no connection held while the subscription lives
            for message in state:
                seen.add(_key(message))
                yield event_node(message, access.member_id)
                if message["type"] == "ENDED":
                    return
            while True:
                if listener.overflowed and listener.queue.empty():
                    raise LiveOverflow("this subscriber fell behind; subscribe again")
                try:
                    message = await asyncio.wait_for(listener.queue.get(), ENDED_RECHECK)
                except TimeoutError:
                    # Live messages are not stored: should the ENDED one be lost on the way
                    # (a Redis outage), the class's row still ends the subscription.
                    ended = await sessions.ended_at(ctx.db, class_id=row.id)
                    await ctx.db.release()
                    if ended is None:
                        continue
                    message = {"class": row.id, "type": "ENDED", "at": ended.isoformat()}
                if _key(message) in seen:
                    continue
                seen.add(_key(message))
                yield event_node(message, access.member_id)
                if message["type"] == "ENDED":
                    return
        finally:
            runtime.live.unregister(listener)


def _key(message: dict[str, Any]) -> tuple[str, int]:
    question = message.get("question")
    return message["type"], 0 if question is None else int(question["id"])
