"""The appraisal closed loop's writers and readers (see server/appraisals/models.py).

Writers run in the caller's transaction (Runtime.write) and never commit. The GraphQL layer
decides who may act (the ASSESSMENT write scope to create; the person or the supervisor for
each move) before calling in; these functions check the rest and answer BAD_USER_INPUT naming
the argument at fault. Every move goes through `_move`: a conditional update (of two
concurrent moves one wins), an appraisal_steps row and an audit entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from server.appraisals import states
from server.appraisals.models import (
    Appraisal,
    AppraisalRecord,
    AppraisalState,
    AppraisalStep,
    AppraisalTask,
)
from server.assessments import campaigns
from server.assessments.models import Method
from server.assessments.scoring import Outcome
from server.audit import service as audit
from server.auth.models import User
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, tenant_info
from server.sql import AnyRow, AnySelect, by_parent, counted, keyset, page_params
from tenants.scope import Scope

TEMPLATE = "civil_servant_annual"
DEFAULT_WEIGHTS: Mapping[Method, float] = {
    Method.SELF: 0.1,
    Method.PEER: 0.2,
    Method.DEMOCRATIC: 0.3,
    Method.ORGANIZATIONAL: 0.4,
}
MAX_TASKS = 50
MAX_TITLE = 200
MAX_PERIOD = 20
MAX_TEXT = 4000
SYSTEM = "system"

Reader = Db | AsyncConnection

A = Appraisal
_person = aliased(User)
_supervisor = aliased(User)
COLUMNS = (
    A.id,
    A.person_id,
    A.supervisor_id,
    _person.username.label("person"),
    _supervisor.username.label("supervisor"),
    A.tenant_path,
    A.period,
    A.state,
    A.campaign_id,
    A.score,
    A.feedback,
    A.created_by,
    A.created_at,
    A.updated_at,
)


def _select() -> AnySelect:
    return (
        select(*COLUMNS)
        .join(_person, _person.id == A.person_id)
        .join(_supervisor, _supervisor.id == A.supervisor_id)
    )


# -- checks ----------------------------------------------------------------------------------


def _text(value: str, *, argument: str, most: int, what: str | None = None) -> str:
    """`value` stripped, 1 to `most` characters long, or BAD_USER_INPUT naming `argument`."""
    text = value.strip()
    if not 1 <= len(text) <= most:
        raise BadUserInput(
            f"{what or argument} must have 1 to {most} characters", argument=argument
        )
    return text


async def user_ids(conn: Reader, usernames: Sequence[str]) -> dict[str, int]:
    """The ids of those of `usernames` that exist."""
    if not usernames:
        return {}
    rows = await conn.execute(
        select(User.username, User.id).where(User.username.in_(sorted(set(usernames))))
    )
    return {r.username: r.id for r in rows}


# -- moves -----------------------------------------------------------------------------------


async def _move(
    conn: AsyncConnection,
    appraisal: AnyRow,
    action: str,
    *,
    actor: str,
    client: str | None,
    now: datetime,
    note: str | None = None,
    detail: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> AppraisalState:
    """Move `appraisal` by `action`: its new state (and `values`), a step and an audit entry."""
    source = AppraisalState(appraisal.state)
    target = states.advance(source, action)
    moved = await conn.execute(
        update(A)
        .where(A.id == appraisal.id, A.state == source)
        .values(state=target, updated_at=now, **(values or {}))
    )
    if moved.rowcount != 1:
        # Another move won the race: this one was made against a state that is gone.
        raise BadUserInput(
            "the appraisal has changed meanwhile: reload it and try again",
            argument="appraisalId",
        )
    await conn.execute(
        insert(AppraisalStep).values(
            appraisal_id=appraisal.id,
            from_state=source,
            to_state=target,
            actor=actor,
            note=note,
            at=now,
        )
    )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action=f"appraisal.{action}",
                tenant_path=appraisal.tenant_path,
                subject=str(appraisal.id),
                client_address=client,
                detail={"from": source.value, "to": target.value, **(detail or {})},
            )
        ],
        now=now,
    )
    return target


async def create(
    conn: AsyncConnection,
    *,
    person: str,
    supervisor: str,
    period: str,
    tenant_path: str,
    tasks: Sequence[str],
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Store a PLANNED appraisal of `person` for `period` with its tasks, its first step and
    its audit entry."""
    period = _text(period, argument="period", most=MAX_PERIOD)
    if not 1 <= len(tasks) <= MAX_TASKS:
        raise BadUserInput(f"an appraisal has 1 to {MAX_TASKS} tasks", argument="tasks")
    titles = [_text(t, argument="tasks", most=MAX_TITLE, what="a task title") for t in tasks]
    ids = await user_ids(conn, [person, supervisor])
    for argument, name in (("person", person), ("supervisor", supervisor)):
        if name not in ids:
            raise BadUserInput(f"no user {name!r}", argument=argument)
    if ids[person] == ids[supervisor]:
        raise BadUserInput("a person cannot supervise its own appraisal", argument="supervisor")
    twin = await conn.scalar(select(A.id).where(A.person_id == ids[person], A.period == period))
    duplicate = BadUserInput(
        f"{person!r} has an appraisal for {period!r} already", argument="period"
    )
    if twin is not None:
        raise duplicate
    try:
        appraisal_id = (
            await conn.execute(
                insert(A)
                .values(
                    person_id=ids[person],
                    supervisor_id=ids[supervisor],
                    tenant_path=tenant_path,
                    period=period,
                    state=AppraisalState.PLANNED,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
                .returning(A.id)
            )
        ).scalar_one()
    except IntegrityError:
        # A concurrent twin committed between the check and the insert.
        raise duplicate from None
    await conn.execute(
        insert(AppraisalTask),
        [
            {"appraisal_id": appraisal_id, "title": title, "position": position}
            for position, title in enumerate(titles)
        ],
    )
    await conn.execute(
        insert(AppraisalStep).values(
            appraisal_id=appraisal_id,
            from_state=None,
            to_state=AppraisalState.PLANNED,
            actor=actor,
            note=None,
            at=now,
        )
    )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="appraisal.create",
                tenant_path=tenant_path,
                subject=str(appraisal_id),
                client_address=client,
                detail={"period": period, "tasks": len(titles)},
            )
        ],
        now=now,
    )
    return appraisal_id


async def add_record(
    conn: AsyncConnection,
    *,
    appraisal: AnyRow,
    task_id: int,
    text: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Store what the person did against one of the appraisal's tasks (PLANNED only)."""
    states.allows(AppraisalState(appraisal.state), "record")
    text = _text(text, argument="text", most=MAX_TEXT)
    task = await conn.scalar(
        select(AppraisalTask.id).where(
            AppraisalTask.id == task_id, AppraisalTask.appraisal_id == appraisal.id
        )
    )
    if task is None:
        raise BadUserInput("that task is not one of the appraisal's", argument="taskId")
    # Conditional, and it locks the row: a submission cannot slip in between.
    touched = await conn.execute(
        update(A)
        .where(A.id == appraisal.id, A.state == AppraisalState.PLANNED)
        .values(updated_at=now)
    )
    if touched.rowcount != 1:
        raise BadUserInput(
            "the appraisal has changed meanwhile: reload it and try again",
            argument="appraisalId",
        )
    record_id = (
        await conn.execute(
            insert(AppraisalRecord)
            .values(appraisal_id=appraisal.id, task_id=task_id, text=text, entered_at=now)
            .returning(AppraisalRecord.id)
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="appraisal.record",
                tenant_path=appraisal.tenant_path,
                subject=str(appraisal.id),
                client_address=client,
                detail={"task": task_id, "record": record_id},
            )
        ],
        now=now,
    )
    return record_id


async def submit(
    conn: AsyncConnection, *, appraisal: AnyRow, actor: str, client: str | None, now: datetime
) -> None:
    """PLANNED -> UNDER_REVIEW, once every task has a record."""
    states.advance(AppraisalState(appraisal.state), "submit")
    bare = await conn.scalar(
        select(AppraisalTask.title)
        .where(
            AppraisalTask.appraisal_id == appraisal.id,
            ~exists().where(AppraisalRecord.task_id == AppraisalTask.id),
        )
        .order_by(AppraisalTask.position)
        .limit(1)
    )
    if bare is not None:
        raise BadUserInput(f"the task {bare!r} has no record yet", argument="appraisalId")
    await _move(conn, appraisal, "submit", actor=actor, client=client, now=now)


async def send_back(
    conn: AsyncConnection,
    *,
    appraisal: AnyRow,
    note: str | None,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """UNDER_REVIEW -> PLANNED, saying why: the person completes its records."""
    states.advance(AppraisalState(appraisal.state), "return")
    if note is None:
        raise BadUserInput("returning an appraisal needs a note", argument="note")
    note = _text(note, argument="note", most=MAX_TEXT)
    await _move(conn, appraisal, "return", actor=actor, client=client, now=now, note=note)


def checked_weights(weights: Sequence[tuple[Method, float]] | None) -> dict[Method, float]:
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    checked: dict[Method, float] = {}
    for method, weight in weights:
        if method in checked:
            raise BadUserInput(f"method {method} given twice", argument="evaluation")
        if not (math.isfinite(weight) and weight > 0):
            raise BadUserInput(f"method {method} needs a positive weight", argument="evaluation")
        checked[method] = weight
    if not checked:
        raise BadUserInput("the evaluation needs at least one method", argument="evaluation")
    return checked


async def approve(
    conn: AsyncConnection,
    *,
    appraisal: AnyRow,
    closes_at: datetime,
    peers: Sequence[str],
    democratic: Sequence[str],
    weights: Sequence[tuple[Method, float]] | None,
    note: str | None,
    actor: str,
    client: str | None,
    now: datetime,
) -> Event:
    """UNDER_REVIEW -> EVALUATING: launch the person's evaluation campaign (civil_servant_annual
    over the appraisal's tenant, opening now) and keep its id. Returns the launch event."""
    states.advance(AppraisalState(appraisal.state), "approve")
    if note is not None:
        note = _text(note, argument="note", most=MAX_TEXT)
    if closes_at.tzinfo is None:
        raise BadUserInput("closesAt needs a time zone offset", argument="evaluation")
    if closes_at <= now:
        raise BadUserInput("closesAt must lie in the future", argument="evaluation")
    methods = checked_weights(weights)
    peers, democratic = list(dict.fromkeys(peers)), list(dict.fromkeys(democratic))
    for method, names in ((Method.PEER, peers), (Method.DEMOCRATIC, democratic)):
        if names and method not in methods:
            raise BadUserInput(
                f"{method.value.lower()} evaluators are given but {method} has no weight",
                argument="evaluation",
            )
        if appraisal.person in names:
            raise BadUserInput(
                f"the person cannot be its own {method.value.lower()} evaluator",
                argument="evaluation",
            )
    known = await user_ids(conn, [*peers, *democratic])
    if unknown := sorted({*peers, *democratic} - known.keys()):
        raise BadUserInput(f"unknown evaluator(s): {', '.join(unknown)}", argument="evaluation")
    tenant = await tenant_info(conn, appraisal.tenant_path)
    if tenant is None:
        raise BadUserInput("the appraisal's tenant no longer exists", argument="appraisalId")
    person = appraisal.person_id
    specs = [
        campaigns.EvaluatorSpec(Method.SELF, appraisal.person, person),
        campaigns.EvaluatorSpec(Method.ORGANIZATIONAL, appraisal.supervisor, person),
        *(campaigns.EvaluatorSpec(Method.PEER, name, person) for name in peers),
        *(campaigns.EvaluatorSpec(Method.DEMOCRATIC, name, person) for name in democratic),
    ]
    campaign_id, event = await campaigns.launch(
        conn,
        template_code=TEMPLATE,
        name=f"{appraisal.period} 年度考核 · {appraisal.person}",
        tenant=tenant,
        opens_at=now,
        closes_at=closes_at,
        methods=methods,
        target_ids=[person],
        # A method left without weight has nobody to score for it.
        evaluators=[s for s in specs if s.method in methods],
        actor=actor,
        client=client,
        now=now,
    )
    await _move(
        conn,
        appraisal,
        "approve",
        actor=actor,
        client=client,
        now=now,
        note=note,
        detail={"campaign": campaign_id},
        values={"campaign_id": campaign_id},
    )
    return event


async def give_feedback(
    conn: AsyncConnection,
    *,
    appraisal: AnyRow,
    feedback: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """EVALUATED -> COMPLETED: the person reads its score and the feedback together."""
    states.advance(AppraisalState(appraisal.state), "feedback")
    feedback = _text(feedback, argument="feedback", most=MAX_TEXT)
    await _move(
        conn,
        appraisal,
        "feedback",
        actor=actor,
        client=client,
        now=now,
        values={"feedback": feedback},
    )


async def after_evaluation(
    conn: AsyncConnection, campaign_id: int, outcomes: Sequence[Outcome], *, now: datetime
) -> None:
    """The evaluation campaign closed: its appraisals move EVALUATING -> EVALUATED with the
    person's score (None when nobody evaluated the person)."""
    score_of = {o.target_id: o.score for o in outcomes}
    rows = (
        await conn.execute(
            select(A.id, A.person_id, A.tenant_path, A.state).where(
                A.campaign_id == campaign_id,
                A.state == AppraisalState.EVALUATING,
            )
        )
    ).all()
    for row in rows:
        await _move(
            conn,
            row,
            "evaluated",
            actor=SYSTEM,
            client=None,
            now=now,
            note=f"evaluation campaign {campaign_id} closed",
            detail={"campaign": campaign_id},
            values={"score": score_of.get(row.person_id)},
        )


# -- reading ---------------------------------------------------------------------------------


async def appraisal(conn: Reader, appraisal_id: int) -> AnyRow | None:
    return (await conn.execute(_select().where(A.id == appraisal_id))).first()


def _listed(scope: Scope, state: AppraisalState | None) -> AnySelect:
    stmt = _select().where(scope.predicate(A.tenant_path))
    return stmt if state is None else stmt.where(A.state == state)


async def list_appraisals(
    db: Reader,
    *,
    scope: Scope,
    state: AppraisalState | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Appraisals whose tenant lies within `scope`, in id order."""
    stmt = keyset(_listed(scope, state), A.id, after=after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_appraisals(db: Reader, *, scope: Scope, state: AppraisalState | None) -> int:
    return int(await db.scalar(counted(_listed(scope, state))) or 0)


async def appraisals_of(db: Reader, *, user_id: int) -> Sequence[AnyRow]:
    """The appraisals where `user_id` is the person or the supervisor, in id order."""
    stmt = _select().where((A.person_id == user_id) | (A.supervisor_id == user_id)).order_by(A.id)
    return (await db.execute(stmt)).all()


async def tasks_of(db: Reader, appraisal_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """The appraisals' tasks in position order, by appraisal: one query for them all."""
    t = AppraisalTask
    stmt = (
        select(t.id, t.appraisal_id, t.title, t.position)
        .where(t.appraisal_id.in_(appraisal_ids))
        .order_by(t.appraisal_id, t.position)
    )
    return by_parent((await db.execute(stmt)).all(), "appraisal_id")


async def records_of(db: Reader, appraisal_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """The appraisals' records in entry order, by task: one query for them all."""
    r = AppraisalRecord
    stmt = (
        select(r.id, r.task_id, r.text, r.entered_at)
        .where(r.appraisal_id.in_(appraisal_ids))
        .order_by(r.appraisal_id, r.id)
    )
    return by_parent((await db.execute(stmt)).all(), "task_id")


async def steps_of(db: Reader, appraisal_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """The appraisals' histories, oldest first, by appraisal: one query for them all."""
    s = AppraisalStep
    stmt = (
        select(s.id, s.appraisal_id, s.from_state, s.to_state, s.actor, s.note, s.at)
        .where(s.appraisal_id.in_(appraisal_ids))
        .order_by(s.appraisal_id, s.id)
    )
    return by_parent((await db.execute(stmt)).all(), "appraisal_id")
