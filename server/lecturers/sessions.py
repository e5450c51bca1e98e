"""Live classes (空中课堂): sessions, attendance, quiz questions and answers, results. Reads take
no Scope: the API decides who hosts or takes part (schema/live_classes.py) and lists classes
with `service.visible`. Writes run in the caller's transaction, never commit, and return the
messages to publish on the live channel (server/lecturers/live.py) once committed; starting
and ending a class also return a BRANCH_ACTIVITY feed event for the caller's outbox.

The API reads a class or question before its write transaction, so that row may be stale by
the time the write runs. Each write therefore opens with a guarded UPDATE of the class or
question row (`_hold_live`, `_hold_open`): it re-checks the state in the transaction and holds
the row until commit (PostgreSQL locks it; SQLite takes its one writer lock), so a question is
never pushed to, nor a member joined to, a class that has just ended, an answer never lands
after its question closed, and ending a class closes every question pushed before it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit import service as audit
from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.errors import BadUserInput
from server.feed.events import Event, emit, tenant_facts
from server.feed.models import FeedKind
from server.lecturers import scoring
from server.lecturers.models import (
    Lecturer,
    LiveAnswer,
    LiveAttendance,
    LiveClass,
    LiveQuestion,
    QuestionKind,
)
from server.lecturers.service import Db_, checked_text, visible
from server.members.models import Member
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, newest_first, page_params
from tenants.models import Tenant
from tenants.scope import Scope

C, A, Q, ANS = LiveClass, LiveAttendance, LiveQuestion, LiveAnswer
CLASS_MAX = timedelta(hours=12)
SCHEDULE_AHEAD = timedelta(days=366)
OPTIONS_MIN, OPTIONS_MAX, OPTION_MAX, QUESTION_MAX = 2, 10, 200, 500
POINTS_MAX, TIME_LIMIT_MIN, TIME_LIMIT_MAX = 100, 10, 1800


# -- live classes -------------------------------------------------------------------------------

_ATTENDANCE = select(func.count()).where(A.live_class_id == C.id).correlate(C).scalar_subquery()
CLASS_COLUMNS = (
    C.id,
    C.title,
    C.lecturer_id,
    C.tenant_id.label("t_id"),
    C.scheduled_start,
    C.scheduled_end,
    C.started_at,
    C.ended_at,
    C.created_by,
    C.created_at,
    _ATTENDANCE.label("attendance"),
    *TENANT_COLUMNS,
)
STATUSES = ("SCHEDULED", "LIVE", "ENDED")


def _status_condition(status: str) -> ColumnElement[bool]:
    if status == "SCHEDULED":
        return C.started_at.is_(None)
    if status == "LIVE":
        return and_(C.started_at.is_not(None), C.ended_at.is_(None))
    return C.ended_at.is_not(None)


def _classes_scoped(scope: Scope | None, statuses: tuple[str, ...] | None) -> AnySelect:
    stmt = select(*CLASS_COLUMNS).join(Tenant, Tenant.id == C.tenant_id)
    if scope is not None:
        stmt = stmt.where(visible(scope, Tenant.path))
    if statuses is not None:
        stmt = stmt.where(or_(false(), *(_status_condition(s) for s in statuses)))
    return stmt


@memoized
def _classes(
    scope: Scope | None, statuses: tuple[str, ...] | None, after: bool, by_ids: bool
) -> AnySelect:
    stmt = _classes_scoped(scope, statuses)
    if by_ids:
        return stmt.where(C.id.in_(bindparam("ids", expanding=True))).order_by(C.id)
    return newest_first(stmt, C.id, after=after)


@memoized
def _classes_count(scope: Scope, statuses: tuple[str, ...] | None) -> AnySelect:
    return counted(_classes_scoped(scope, statuses))


async def list_classes(
    db: Db_,
    *,
    scope: Scope,
    statuses: tuple[str, ...] | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _classes(scope, statuses, after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_classes(db: Db_, *, scope: Scope, statuses: tuple[str, ...] | None) -> int:
    return int(await db.scalar(_classes_count(scope, statuses)))


async def class_by_id(db: Db_, class_id: int) -> AnyRow | None:
    """Unscoped: the caller decides who may see it (host or participant)."""
    rows = (await db.execute(_classes(None, None, False, True), {"ids": [class_id]})).all()
    return rows[0] if rows else None


async def ended_at(db: Db_, *, class_id: int) -> datetime | None:
    value: datetime | None = await db.scalar(select(C.ended_at).where(C.id == class_id))
    return value


def class_status(row: AnyRow) -> str:
    if row.ended_at is not None:
        return "ENDED"
    return "SCHEDULED" if row.started_at is None else "LIVE"


async def schedule_class(
    conn: AsyncConnection,
    *,
    title: str,
    lecturer_id: int,
    tenant_id: int,
    path: str,
    start: datetime,
    end: datetime,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    class_id: int = (
        await conn.execute(
            insert(C)
            .values(
                title=title,
                lecturer_id=lecturer_id,
                tenant_id=tenant_id,
                scheduled_start=start,
                scheduled_end=end,
                created_by=actor,
                created_at=now,
            )
            .returning(C.id)
        )
    ).scalar_one()
    await _audit(
        conn, actor, "live_class.schedule", path, class_id, client, now, lecturer=lecturer_id
    )
    return class_id


async def _audit(
    conn: AsyncConnection,
    actor: str,
    action: str,
    path: str,
    subject: int,
    client: str | None,
    now: datetime,
    **detail: Any,
) -> None:
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action=action,
                tenant_path=path,
                subject=str(subject),
                client_address=client,
                detail=detail,
            )
        ],
        now=now,
    )


_IS_LIVE = and_(C.started_at.is_not(None), C.ended_at.is_(None))


async def _hold_live(conn: AsyncConnection, class_id: int, argument: str, refusal: str) -> None:
    """Hold the class row for this transaction if the class is on; BAD_USER_INPUT otherwise.
    A no-op UPDATE rather than SELECT ... FOR UPDATE: pysqlite opens the transaction only at
    the first write, so a SELECT first would hold nothing there."""
    done = await conn.execute(update(C).where(C.id == class_id, _IS_LIVE).values(title=C.title))
    if done.rowcount != 1:
        raise BadUserInput(refusal, argument=argument)


async def _lecturer_name(conn: AsyncConnection, lecturer_id: int) -> str:
    return str(await conn.scalar(select(Lecturer.name).where(Lecturer.id == lecturer_id)))


async def start_class(
    conn: AsyncConnection, *, row: AnyRow, actor: str, client: str | None, now: datetime
) -> tuple[dict[str, Any], Event]:
    """Start a class: the message to publish, and its BRANCH_ACTIVITY event at the host."""
    done = await conn.execute(
        update(C).where(C.id == row.id, C.started_at.is_(None)).values(started_at=now)
    )
    if done.rowcount != 1:
        raise BadUserInput("this live class has started already", argument="id")
    await _audit(conn, actor, "live_class.start", row.t_path, row.id, client, now)
    lecturer = await _lecturer_name(conn, row.lecturer_id)
    event = await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"空中课堂开讲：{row.title}（{lecturer}）",
        tenant=tenant_facts(row),
        occurred_at=now,
        data={"source": "live_class", "live_class": row.id, "lecturer": row.lecturer_id},
    )
    return {"class": row.id, "type": "STARTED", "at": now.isoformat()}, event


async def end_class(
    conn: AsyncConnection, *, row: AnyRow, actor: str, client: str | None, now: datetime
) -> tuple[list[dict[str, Any]], Event]:
    """End a live class; its open questions close first. The messages to publish, and the
    BRANCH_ACTIVITY event (with the attendance) at the host."""
    # The class row first: from here no question is pushed and nobody joins (they hold the
    # row too), so the questions read next are all there are, and the attendance is final.
    done = await conn.execute(update(C).where(C.id == row.id, _IS_LIVE).values(ended_at=now))
    if done.rowcount != 1:
        raise BadUserInput("only a live class that is on can end", argument="id")
    # Every open question closes in one statement, before anything is audited: the audit
    # takes the writers' turn (the audit head's row), and closing one question at a time
    # while holding it would deadlock on PostgreSQL with an answer that holds the next
    # question's row and waits for the turn.
    closing = (
        await conn.execute(
            update(Q)
            .where(Q.live_class_id == row.id, Q.closed_at.is_(None))
            .values(closed_at=now)
            .returning(Q.id)
        )
    ).scalars()
    messages = []
    for question_id in sorted(closing):
        question = await question_by_id(conn, question_id)
        assert question is not None
        messages.append(await _closed(conn, question, row.t_path, actor, client, now))
    attendance = await attendance_count(conn, class_id=row.id)
    await _audit(
        conn, actor, "live_class.end", row.t_path, row.id, client, now, attendance=attendance
    )
    event = await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"空中课堂结束：{row.title}，{attendance}人参加",
        tenant=tenant_facts(row),
        occurred_at=now,
        data={
            "source": "live_class",
            "live_class": row.id,
            "lecturer": row.lecturer_id,
            "attendance": attendance,
        },
    )
    messages.append({"class": row.id, "type": "ENDED", "at": now.isoformat()})
    return messages, event


class AlreadyJoined(Exception):
    """The member's attendance was recorded before: its first join time stands."""


async def joined_at(db: Db_, *, class_id: int, member_id: int) -> datetime | None:
    value: datetime | None = await db.scalar(
        select(A.joined_at).where(A.live_class_id == class_id, A.member_id == member_id)
    )
    return value


async def join_class(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    member_id: int,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Record the member's attendance; AlreadyJoined when it was recorded before. A join
    racing another of the same member loses on the unique index: its transaction is spoilt,
    and the caller reads the winner's time after the rollback."""
    await _hold_live(conn, row.id, "id", "a live class can be joined only while it is on")
    existing = await conn.scalar(
        select(A.joined_at).where(A.live_class_id == row.id, A.member_id == member_id)
    )
    if existing is not None:
        raise AlreadyJoined
    # No savepoint: pysqlite would commit at its RELEASE, apart from the audit entry.
    await conn.execute(insert(A).values(live_class_id=row.id, member_id=member_id, joined_at=now))
    await _audit(conn, actor, "live_class.join", row.t_path, row.id, client, now, member=member_id)


# -- questions ----------------------------------------------------------------------------------

QUESTION_COLUMNS = (
    Q.id,
    Q.live_class_id,
    Q.text,
    Q.kind,
    Q.options,
    Q.correct,
    Q.points,
    Q.time_limit,
    Q.opened_at,
    Q.closes_at,
    Q.closed_at,
)


async def question_by_id(db: Db_, question_id: int) -> AnyRow | None:
    return (await db.execute(select(*QUESTION_COLUMNS).where(Q.id == question_id))).first()


@memoized
def _questions(after: bool, open_only: bool) -> AnySelect:
    stmt = select(*QUESTION_COLUMNS).where(Q.live_class_id == bindparam("class_id"))
    if open_only:
        return stmt.where(Q.closed_at.is_(None)).order_by(Q.id)
    return keyset(stmt, Q.id, after=after)


async def list_questions(
    db: Db_, *, class_id: int, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _questions(after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit, class_id=class_id))).all()


async def open_questions(db: Db_, *, class_id: int) -> Sequence[AnyRow]:
    return (await db.execute(_questions(False, True), {"class_id": class_id})).all()


async def count_questions(db: Db_, *, class_id: int) -> int:
    stmt = select(func.count()).select_from(Q).where(Q.live_class_id == class_id)
    return int(await db.scalar(stmt) or 0)


@dataclass(frozen=True, slots=True)
class QuestionFields:
    text: str
    kind: QuestionKind
    options: list[str]
    correct: list[int]
    points: int
    time_limit: int


def checked_question(
    *,
    text: str,
    kind: QuestionKind,
    options: Sequence[str],
    correct: Sequence[int],
    points: int,
    time_limit: int,
) -> QuestionFields:
    cleaned = [o.strip() for o in options]
    if not OPTIONS_MIN <= len(cleaned) <= OPTIONS_MAX or any(
        not 1 <= len(o) <= OPTION_MAX for o in cleaned
    ):
        raise BadUserInput(
            f"options must list {OPTIONS_MIN} to {OPTIONS_MAX} options of 1 to {OPTION_MAX} "
            "characters each",
            argument="options",
        )
    if len(set(cleaned)) != len(cleaned):
        raise BadUserInput("options lists an option twice", argument="options")
    right = scoring.checked_choices(kind, len(cleaned), correct, argument="correct")
    if not 1 <= points <= POINTS_MAX:
        raise BadUserInput(f"points must be between 1 and {POINTS_MAX}", argument="points")
    if not TIME_LIMIT_MIN <= time_limit <= TIME_LIMIT_MAX:
        raise BadUserInput(
            f"timeLimitSeconds must be between {TIME_LIMIT_MIN} and {TIME_LIMIT_MAX}",
            argument="timeLimitSeconds",
        )
    return QuestionFields(
        text=checked_text(text, "text", QUESTION_MAX),
        kind=kind,
        options=cleaned,
        correct=right,
        points=points,
        time_limit=time_limit,
    )


def question_message(row: AnyRow) -> dict[str, Any]:
    """What participants get of a question while it is open: never the correct answer."""
    return {
        "id": row.id,
        "text": row.text,
        "kind": str(row.kind),
        "options": json.loads(row.options),
        "points": row.points,
        "time_limit": row.time_limit,
        "opened_at": row.opened_at.isoformat(),
        "closes_at": row.closes_at.isoformat(),
    }


async def push_question(
    conn: AsyncConnection,
    *,
    row: AnyRow,
    fields: QuestionFields,
    actor: str,
    client: str | None,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    await _hold_live(conn, row.id, "liveClassId", "questions go out only while the class is on")
    question_id: int = (
        await conn.execute(
            insert(Q)
            .values(
                live_class_id=row.id,
                text=fields.text,
                kind=fields.kind,
                options=json.dumps(fields.options, ensure_ascii=False),
                correct=json.dumps(fields.correct),
                points=fields.points,
                time_limit=fields.time_limit,
                opened_at=now,
                closes_at=now + timedelta(seconds=fields.time_limit),
            )
            .returning(Q.id)
        )
    ).scalar_one()
    await _audit(
        conn, actor, "live_question.push", row.t_path, question_id, client, now, live_class=row.id
    )
    question = await question_by_id(conn, question_id)
    assert question is not None
    return question_id, {
        "class": row.id,
        "type": "QUESTION",
        "at": now.isoformat(),
        "question": question_message(question),
    }


async def answer_question(
    conn: AsyncConnection,
    *,
    question: AnyRow,
    path: str,
    member_id: int,
    choices: Sequence[int],
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Store the member's only answer while the question is open; its score (kept from the
    member until the question closes)."""
    kind = QuestionKind(question.kind)
    options = json.loads(question.options)
    chosen = scoring.checked_choices(kind, len(options), choices)
    points = scoring.score(kind, json.loads(question.correct), chosen, question.points)
    # `question` was read before this transaction: whether it is still open is decided on
    # its row, held until commit, so a close waits for this answer or this answer sees it.
    held = await conn.execute(
        update(Q)
        .where(Q.id == question.id, Q.closed_at.is_(None), Q.closes_at > bindparam("now"))
        .values(closes_at=Q.closes_at),
        {"now": now},
    )
    if held.rowcount != 1:
        raise BadUserInput("this question is closed for answers", argument="questionId")
    if await joined_at(conn, class_id=question.live_class_id, member_id=member_id) is None:
        raise BadUserInput("join the class before answering", argument="questionId")
    try:
        # No savepoint (see join_class): a second answer spoils the transaction, which the
        # refusal rolls back anyway.
        await conn.execute(
            insert(ANS).values(
                question_id=question.id,
                member_id=member_id,
                choices=json.dumps(chosen),
                score=points,
                answered_at=now,
            )
        )
    except IntegrityError:
        raise BadUserInput(
            "you have answered this question already", argument="questionId"
        ) from None
    await _audit(
        conn,
        actor,
        "live_question.answer",
        path,
        question.id,
        client,
        now,
        member=member_id,
        live_class=question.live_class_id,
    )
    return points


async def close_question(
    conn: AsyncConnection,
    *,
    question: AnyRow,
    path: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Close a question and publish its answer and each participant's score."""
    done = await conn.execute(
        update(Q).where(Q.id == question.id, Q.closed_at.is_(None)).values(closed_at=now)
    )
    if done.rowcount != 1:
        raise BadUserInput("this question is closed already", argument="id")
    return await _closed(conn, question, path, actor, client, now)


async def _closed(
    conn: AsyncConnection,
    question: AnyRow,
    path: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The audit entry and message of a question just closed (its row updated)."""
    answers = (
        await conn.execute(
            select(ANS.member_id, ANS.choices, ANS.score).where(ANS.question_id == question.id)
        )
    ).all()
    correct = json.loads(question.correct)
    full = sum(1 for a in answers if a.score == question.points)
    await _audit(
        conn,
        actor,
        "live_question.close",
        path,
        question.id,
        client,
        now,
        answers=len(answers),
        full_marks=full,
    )
    return {
        "class": question.live_class_id,
        "type": "QUESTION_CLOSED",
        "at": now.isoformat(),
        "question": question_message(question) | {"closed_at": now.isoformat()},
        "correct": correct,
        "answers": len(answers),
        "full_marks": full,
        # Each participant picks its own out of the message.
        "scores": {str(a.member_id): [a.score, json.loads(a.choices)] for a in answers},
    }


# -- results --------------------------------------------------------------------------------------


def _totals() -> AnySelect:
    closed = (
        select(ANS.member_id, ANS.score)
        .join(Q, Q.id == ANS.question_id)
        .where(Q.live_class_id == bindparam("class_id"), Q.closed_at.is_not(None))
        .subquery()
    )
    total = func.coalesce(func.sum(closed.c.score), 0)
    return (
        select(
            A.member_id,
            Member.name,
            Branch.name.label("branch_name"),
            A.joined_at,
            total.label("total"),
            func.count(closed.c.score).label("answered"),
            func.rank().over(order_by=total.desc()).label("rank"),
        )
        .join(Member, Member.id == A.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(closed, closed.c.member_id == A.member_id)
        .where(A.live_class_id == bindparam("class_id"))
        .group_by(A.member_id, Member.name, Branch.name, A.joined_at)
    )


@memoized
def _leaderboard() -> AnySelect:
    sub = _totals().subquery()
    return (
        select(sub)
        .order_by(sub.c.rank, sub.c.member_id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


async def leaderboard(db: Db_, *, class_id: int, offset: int, limit: int) -> Sequence[AnyRow]:
    """Participants by their total over closed questions (ties share a rank), then by id."""
    params = {"class_id": class_id, "offset": offset, "limit": limit}
    return (await db.execute(_leaderboard(), params)).all()


@memoized
def _attendance(after: bool) -> AnySelect:
    stmt = (
        select(A.id, A.member_id, A.joined_at, Member.name, Branch.name.label("branch_name"))
        .join(Member, Member.id == A.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .where(A.live_class_id == bindparam("class_id"))
    )
    return keyset(stmt, A.id, after=after)


async def attendance(
    db: Db_, *, class_id: int, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _attendance(after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, class_id=class_id))).all()


async def attendee(db: Db_, *, class_id: int, member_id: int) -> AnyRow | None:
    stmt = _attendance(False).where(A.member_id == bindparam("member_id"))
    params = {"class_id": class_id, "member_id": member_id, "limit": 1}
    return (await db.execute(stmt, params)).first()


async def attendance_count(db: Db_, *, class_id: int) -> int:
    stmt = select(func.count()).select_from(A).where(A.live_class_id == class_id)
    return int(await db.scalar(stmt) or 0)


async def own_answers(db: Db_, *, class_id: int, member_id: int) -> dict[int, AnyRow]:
    rows = (
        await db.execute(
            select(ANS.question_id, ANS.choices, ANS.score)
            .join(Q, Q.id == ANS.question_id)
            .where(Q.live_class_id == class_id, ANS.member_id == member_id)
        )
    ).all()
    return {r.question_id: r for r in rows}
