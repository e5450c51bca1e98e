"""Cadres' traffic lights, their history, and the remediation plans a light needs.

`evaluate` computes each cadre's light from the active rules (server/archives/rules.py), its
stored scores and its verified negative records. A change is stored (cadre_lights), kept
(light_history) and told: YELLOW or RED opens an alert with its WARNING event
(feed.service.open_warning, cause `cadre_light`), a return to GREEN emits a GREEN WARNING event
without an alert. A cadre without a stored light is GREEN; one that stays GREEN is not stored.

Feed events and alerts are read by every admin of the cadre's tenant and above, so they name
the cadre by surname only (王某) and carry its id; the file itself stays behind ARCHIVE.

A YELLOW or RED cadre needs a remediation plan: an owner, a due date, the actions, and a
closing note when it is closed. One plan is OPEN per cadre at a time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from server.archives import rules as light_rules
from server.archives import scoring
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    Cadre,
    CadreLight,
    CadreScore,
    LightChange,
    PlanStatus,
    Polarity,
    RemediationPlan,
    ReviewStatus,
)
from server.audit import service as audit
from server.auth.models import User
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import TENANT_FACTS, Event, emit, take_turn, tenant_facts
from server.feed.models import Alert, FeedKind, Light
from server.feed.service import open_warning
from server.members.models import Member
from server.members.privacy import masked_name
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, page_params
from tenants.models import Tenant
from tenants.paths import upper_bound
from tenants.scope import Scope

CAUSE = "cadre_light"
LIGHT_NAMES = {Light.RED: "红灯", Light.YELLOW: "黄灯", Light.GREEN: "绿灯"}
NEEDS_PLAN = (Light.YELLOW.value, Light.RED.value)
CHUNK = 1000
MAX_TEXT = 2000


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


async def _by_cadre(
    conn: AsyncConnection, stmt: AnySelect, column: Any, ids: Sequence[int] | None
) -> list[AnyRow]:
    """Rows of `stmt` for the cadres `ids` (all cadres: None), a chunk of ids at a time."""
    if ids is None:
        return list(await conn.execute(stmt))
    rows: list[AnyRow] = []
    for part in _chunks(ids):
        rows += list(await conn.execute(stmt.where(column.in_(part))))
    return rows


_FACTS = (
    select(Cadre.id, Member.name, *TENANT_FACTS)
    .join(Member, Member.id == Cadre.member_id)
    .join(Tenant, Tenant.id == Cadre.tenant_id)
)
_NEGATIVES = (
    select(ArchiveRecord.cadre_id, ArchiveRecord.occurred_on, ArchiveIndicator.serious)
    .join(ArchiveIndicator, ArchiveIndicator.id == ArchiveRecord.indicator_id)
    .where(
        ArchiveRecord.status == ReviewStatus.VERIFIED,
        ArchiveIndicator.polarity == Polarity.NEGATIVE,
        ArchiveRecord.occurred_on > bindparam("since"),
    )
)


async def evaluate(
    conn: AsyncConnection,
    cadre_ids: Sequence[int] | None,
    now: datetime,
    *,
    today: date | None = None,
) -> list[Event]:
    """Recompute the lights of the given cadres (None: every cadre) and store, keep and tell
    each change, in the caller's transaction; `today` (default: the date of `now`) ends the
    rules' windows. Returns the events to publish after the commit. Never commits."""
    today = today or now.date()
    ids = None if cadre_ids is None else sorted(set(cadre_ids))
    if ids == []:
        return []
    await take_turn(conn)
    rules = await light_rules.active_rules(conn)
    facts = await _by_cadre(conn, _FACTS.order_by(Cadre.id), Cadre.id, ids)
    scores = {
        row.cadre_id: scoring.values_of(row)
        for row in await _by_cadre(conn, select(CadreScore.__table__), CadreScore.cadre_id, ids)
    }
    longest = max((r.window_days for r in rules), default=0)
    negatives: dict[int, list[light_rules.Negative]] = defaultdict(list)
    if longest:
        since = today - timedelta(days=longest)
        stmt = _NEGATIVES.params(since=since)
        for row in await _by_cadre(conn, stmt, ArchiveRecord.cadre_id, ids):
            negatives[row.cadre_id].append(light_rules.Negative(row.occurred_on, row.serious))
    current = {
        row.cadre_id: row
        for row in await _by_cadre(conn, select(CadreLight.__table__), CadreLight.cadre_id, ids)
    }

    events: list[Event] = []
    rewrite: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for cadre in facts:
        light, reasons = light_rules.verdict(
            rules,
            path=cadre.t_path,
            scores=scores.get(cadre.id),
            negatives=negatives.get(cadre.id, ()),
            today=today,
        )
        reasons_json = json.dumps(reasons, ensure_ascii=False, sort_keys=True)
        was = current.get(cadre.id)
        before = None if was is None else Light(was.light)
        if (before or Light.GREEN) is light:
            if was is not None and was.reasons != reasons_json:
                # Same light, other grounds: the file says why, the feed has nothing new.
                rewrite.append(
                    {
                        "cadre_id": cadre.id,
                        "light": light.value,
                        "reasons": reasons_json,
                        "since": was.since,
                    }
                )
            continue
        rewrite.append(
            {"cadre_id": cadre.id, "light": light.value, "reasons": reasons_json, "since": now}
        )
        event = await _tell(conn, cadre, before, light, reasons, now)
        events.append(event)
        history.append(
            {
                "cadre_id": cadre.id,
                "from_light": None if before is None else before.value,
                "to_light": light.value,
                "reasons": reasons_json,
                "at": now,
                "event_id": event.id if light is not Light.GREEN else None,
            }
        )
    if rewrite:
        changed = [r["cadre_id"] for r in rewrite]
        for part in _chunks(changed):
            await conn.execute(delete(CadreLight).where(CadreLight.cadre_id.in_(part)))
        await conn.execute(insert(CadreLight), rewrite)
    if history:
        alert_of = await _alerts_of(conn, [h["event_id"] for h in history if h["event_id"]])
        await conn.execute(
            insert(LightChange),
            [
                {k: v for k, v in h.items() if k != "event_id"}
                | {"alert_id": alert_of.get(h["event_id"])}
                for h in history
            ],
        )
    return events


async def _alerts_of(conn: AsyncConnection, event_ids: Sequence[int]) -> dict[int, int]:
    """The alerts open_warning opened, by their event (it returns the event only)."""
    found: dict[int, int] = {}
    for part in _chunks(list(event_ids)):
        rows = await conn.execute(select(Alert.event_id, Alert.id).where(Alert.event_id.in_(part)))
        found.update({row.event_id: row.id for row in rows})
    return found


async def _tell(
    conn: AsyncConnection,
    cadre: AnyRow,
    before: Light | None,
    light: Light,
    reasons: list[dict[str, Any]],
    now: datetime,
) -> Event:
    tenant = tenant_facts(cadre)
    who = masked_name(cadre.name)
    data = {
        "cadre": cadre.id,
        "from": None if before is None else before.value,
        "to": light.value,
        "rules": [r["rule"] for r in reasons],
    }
    if light is Light.GREEN:
        return await emit(
            conn,
            kind=FeedKind.WARNING,
            light=Light.GREEN,
            title=f"{tenant['name']} · 干部预警解除：{who} 转为绿灯",
            tenant=tenant,
            occurred_at=now,
            data={"cause": CAUSE, **data},
        )
    return await open_warning(
        conn,
        cause=CAUSE,
        tenant=tenant,
        title=f"{tenant['name']} · 干部预警：{who} 转为{LIGHT_NAMES[light]}（{reasons[0]['why']}）",
        light=light,
        now=now,
        data=data,
    )


async def after_review(
    conn: AsyncConnection, cadre_id: int, now: datetime, *, today: date | None = None
) -> list[Event]:
    """A record of the cadre was verified: rescore it and re-evaluate its light, in the
    caller's transaction; `today` is the district's date (default: the date of `now`).
    Returns the events to publish after the commit."""
    await take_turn(conn)
    await scoring.score_one(conn, cadre_id, now, today=today)
    return await evaluate(conn, [cadre_id], now, today=today)


async def cadres_under(conn: AsyncConnection, path: str) -> list[int]:
    """The cadres whose tenant lies in the subtree at `path` (a rule there bears on them)."""
    rows = await conn.scalars(
        select(Cadre.id)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        .where(Tenant.path >= path, Tenant.path < upper_bound(path))
        .order_by(Cadre.id)
    )
    return list(rows)


# -- reading lights -------------------------------------------------------------------------------

_CURRENT = func.coalesce(CadreLight.light, literal(Light.GREEN.value, String))
_OPEN_PLAN = exists().where(
    RemediationPlan.cadre_id == Cadre.id, RemediationPlan.status == PlanStatus.OPEN
)


def _lights(scope: Scope, filtered: bool) -> AnySelect:
    stmt = (
        select(
            Cadre.id,
            Cadre.member_id,
            Cadre.position,
            Member.name,
            Tenant.id.label("t_id"),
            Tenant.code,
            Tenant.name.label("t_name"),
            Tenant.level,
            Tenant.path,
            Tenant.parent_id,
            _CURRENT.label("light"),
            CadreLight.reasons,
            CadreLight.since,
            _OPEN_PLAN.label("has_plan"),
        )
        .join(Member, Member.id == Cadre.member_id)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        .outerjoin(CadreLight, CadreLight.cadre_id == Cadre.id)
        .where(scope.predicate(Tenant.path, member=Cadre.member_id))
    )
    if filtered:
        stmt = stmt.where(_CURRENT.in_(bindparam("lights", expanding=True)))
    return stmt


@memoized
def _light_page(scope: Scope, filtered: bool, after: bool) -> AnySelect:
    return keyset(_lights(scope, filtered), Cadre.id, after=after)


@memoized
def _light_count(scope: Scope, filtered: bool) -> AnySelect:
    return counted(_lights(scope, filtered))


async def cadre_lights(
    db: Db, *, scope: Scope, lights: Sequence[str] | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _light_page(scope, lights is not None, after_id is not None)
    params = page_params(after_id, limit, lights=list(lights or ()))
    return (await db.execute(stmt, params)).all()


async def count_cadre_lights(db: Db, *, scope: Scope, lights: Sequence[str] | None) -> int:
    stmt = _light_count(scope, lights is not None)
    return int(await db.scalar(stmt, {"lights": list(lights or ())}))


async def history(db: Db, *, cadre_id: int) -> Sequence[AnyRow]:
    """A cadre's light changes, oldest first (the caller checked its scope)."""
    stmt = (
        select(LightChange.__table__)
        .where(LightChange.cadre_id == cadre_id)
        .order_by(LightChange.id)
    )
    return (await db.execute(stmt)).all()


async def cadre_place(db: Db | AsyncConnection, *, scope: Scope, cadre_id: int) -> AnyRow | None:
    """The cadre's id, member, name and tenant when the scope reaches its file; None
    otherwise (absent and out of reach read the same)."""
    stmt = _FACTS.add_columns(Cadre.member_id).where(
        Cadre.id == cadre_id, scope.predicate(Tenant.path, member=Cadre.member_id)
    )
    return (await db.execute(stmt)).first()


# -- remediation plans ----------------------------------------------------------------------------

P = RemediationPlan


def _plans(scope: Scope, status: bool) -> AnySelect:
    stmt = (
        select(
            P.__table__,
            Cadre.member_id,
            Member.name.label("cadre_name"),
            Tenant.path,
        )
        .join(Cadre, Cadre.id == P.cadre_id)
        .join(Member, Member.id == Cadre.member_id)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        .where(scope.predicate(Tenant.path, member=Cadre.member_id))
    )
    if status:
        stmt = stmt.where(P.status == bindparam("status"))
    return stmt


@memoized
def _plan_page(scope: Scope, status: bool, after: bool) -> AnySelect:
    return keyset(_plans(scope, status), P.id, after=after)


@memoized
def _plan_count(scope: Scope, status: bool) -> AnySelect:
    return counted(_plans(scope, status))


async def plans(
    db: Db, *, scope: Scope, status: PlanStatus | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _plan_page(scope, status is not None, after_id is not None)
    params = page_params(after_id, limit)
    if status is not None:
        params["status"] = status.value
    return (await db.execute(stmt, params)).all()


async def count_plans(db: Db, *, scope: Scope, status: PlanStatus | None) -> int:
    stmt = _plan_count(scope, status is not None)
    params = {} if status is None else {"status": status.value}
    return int(await db.scalar(stmt, params))


async def plan(conn: Db | AsyncConnection, *, scope: Scope, plan_id: int) -> AnyRow | None:
    stmt = _plans(scope, False).where(P.id == plan_id)
    return (await conn.execute(stmt)).first()


def _text(value: str, argument: str) -> str:
    text = value.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise BadUserInput(f"{argument} must have 1 to {MAX_TEXT} characters", argument=argument)
    return text


async def create_plan(
    conn: AsyncConnection,
    *,
    cadre: AnyRow,
    owner: str,
    due_on: date,
    actions: str,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Open a plan for a YELLOW or RED cadre (audited). Never commits."""
    actions = _text(actions, "actions")
    if due_on < today:
        raise BadUserInput("dueOn must not lie in the past", argument="dueOn")
    known = await conn.scalar(
        select(User.id).where(User.username == owner, User.is_active.is_(True))
    )
    if known is None:
        raise BadUserInput(f"no active user named {owner!r}", argument="owner")
    # Locks the cadre's light row (PostgreSQL; SQLite writers take turns anyway): two plans
    # made at once for one cadre cannot both see "no open plan".
    light_row = (
        await conn.execute(
            select(CadreLight.light).where(CadreLight.cadre_id == cadre.id).with_for_update()
        )
    ).first()
    light = Light.GREEN if light_row is None else Light(light_row.light)
    if light is Light.GREEN:
        raise BadUserInput(
            "only a YELLOW or RED cadre needs a remediation plan", argument="cadreId"
        )
    if await conn.scalar(
        select(exists().where(P.cadre_id == cadre.id, P.status == PlanStatus.OPEN))
    ):
        raise BadUserInput(
            "the cadre has an open remediation plan already: close it first", argument="cadreId"
        )
    alert_id = await conn.scalar(
        select(LightChange.alert_id)
        .where(LightChange.cadre_id == cadre.id)
        .order_by(LightChange.id.desc())
        .limit(1)
    )
    plan_id = (
        await conn.execute(
            insert(P)
            .values(
                cadre_id=cadre.id,
                light=light.value,
                alert_id=alert_id,
                owner=owner,
                due_on=due_on,
                actions=actions,
                status=PlanStatus.OPEN,
                closing_note=None,
                created_by=actor,
                created_at=now,
                closed_at=None,
            )
            .returning(P.id)
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.plan.create",
                tenant_path=cadre.t_path,
                subject=str(plan_id),
                client_address=client,
                detail={
                    "cadre": cadre.id,
                    "light": light.value,
                    "owner": owner,
                    "due_on": due_on.isoformat(),
                },
            )
        ],
        now=now,
    )
    return int(plan_id)


async def close_plan(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    closing_note: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Close an open plan with its note (audited). Never commits."""
    note = _text(closing_note, "closingNote")
    if PlanStatus(found.status) is not PlanStatus.OPEN:
        raise BadUserInput("the plan is closed already", argument="id")
    # Guarded by the status: of two concurrent closes only one applies.
    moved = await conn.execute(
        update(P)
        .where(P.id == found.id, P.status == PlanStatus.OPEN)
        .values(status=PlanStatus.CLOSED, closing_note=note, closed_at=now)
    )
    if not moved.rowcount:
        raise BadUserInput("the plan is closed already", argument="id")
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.plan.close",
                tenant_path=found.path,
                subject=str(found.id),
                client_address=client,
                detail={"cadre": found.cadre_id},
            )
        ],
        now=now,
    )


def needs_plan(light: str, has_plan: bool) -> bool:
    return light in NEEDS_PLAN and not has_plan
