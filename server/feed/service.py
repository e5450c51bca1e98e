"""Reading the feed's history and alerts within a Scope; acknowledging and resolving alerts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.audit import service as audit
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event, emit, tenant_info
from server.feed.models import Alert, AlertStatus, FeedEventRow, FeedKind, Light
from server.sql import AnyRow, AnySelect, counted, memoized, newest_first, page_params
from tenants.paths import depth
from tenants.scope import Scope

REPLAY_CHUNK = 500


def _events(scope: Scope, kinds: bool) -> AnySelect:
    stmt = select(FeedEventRow).where(scope.predicate(FeedEventRow.tenant_path))
    return stmt.where(FeedEventRow.kind.in_(bindparam("kinds", expanding=True))) if kinds else stmt


@memoized
def _newest_first(scope: Scope, kinds: bool, after: bool) -> AnySelect:
    stmt = _events(scope, kinds)
    return newest_first(stmt, FeedEventRow.id, after=after)


@memoized
def _oldest_first(scope: Scope, kinds: bool) -> AnySelect:
    stmt = _events(scope, kinds).where(
        FeedEventRow.id > bindparam("after_id"), FeedEventRow.id <= bindparam("upto")
    )
    return stmt.order_by(FeedEventRow.id).limit(bindparam("limit"))


async def history(
    db: Db, *, scope: Scope, kinds: Sequence[str] | None, after_id: int | None, limit: int
) -> Sequence[Event]:
    """Newest first; `after_id` continues with older events."""
    stmt = _newest_first(scope, kinds is not None, after_id is not None)
    params = page_params(after_id, limit, kinds=list(kinds or ()))
    return [Event.from_row(row) for row in (await db.execute(stmt, params)).all()]


async def replay(
    engine: AsyncEngine, *, scope: Scope, kinds: Sequence[str] | None, after_id: int, upto: int
) -> AsyncIterator[Event]:
    """Stored events in (after_id, upto], oldest first, a chunk at a time on a connection
    held only for that chunk."""
    stmt = _oldest_first(scope, kinds is not None)
    while after_id < upto:
        params = {
            "after_id": after_id,
            "upto": upto,
            "limit": REPLAY_CHUNK,
            "kinds": list(kinds or ()),
        }
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt, params)).all()
        for row in rows:
            yield Event.from_row(row)
        if len(rows) < REPLAY_CHUNK:
            return
        after_id = rows[-1].id


# -- alerts ---------------------------------------------------------------------------------


def visible_alerts(scope: Scope) -> ColumnElement[bool]:
    """The alerts a scope sees: those about its tenants; and, for a district-wide scope, those
    about no tenant (sign-in attempts on unknown names concern the whole platform). `under`
    reaches only alerts about tenants."""
    visible = scope.predicate(Alert.tenant_path)
    if scope.within is None and any(depth(root) <= 1 for root in scope.roots):
        visible = or_(visible, Alert.tenant_path.is_(None))
    return visible


def _alerts(scope: Scope, lights: bool, statuses: bool) -> AnySelect:
    stmt = select(Alert.__table__).where(visible_alerts(scope))
    if lights:
        stmt = stmt.where(Alert.light.in_(bindparam("lights", expanding=True)))
    if statuses:
        stmt = stmt.where(Alert.status.in_(bindparam("statuses", expanding=True)))
    return stmt


@memoized
def _alert_page(scope: Scope, lights: bool, statuses: bool, after: bool) -> AnySelect:
    stmt = _alerts(scope, lights, statuses)
    return newest_first(stmt, Alert.id, after=after)


@memoized
def _alert_count(scope: Scope, lights: bool, statuses: bool) -> AnySelect:
    return counted(_alerts(scope, lights, statuses))


@memoized
def _alert_by_ids(scope: Scope) -> AnySelect:
    return _alerts(scope, False, False).where(Alert.id.in_(bindparam("ids", expanding=True)))


def _filters(lights: Sequence[str] | None, statuses: Sequence[str] | None) -> dict[str, object]:
    return {"lights": list(lights or ()), "statuses": list(statuses or ())}


async def alerts(
    db: Db,
    *,
    scope: Scope,
    lights: Sequence[str] | None,
    statuses: Sequence[str] | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _alert_page(scope, lights is not None, statuses is not None, after_id is not None)
    params = page_params(after_id, limit, **_filters(lights, statuses))
    return (await db.execute(stmt, params)).all()


async def count_alerts(
    db: Db, *, scope: Scope, lights: Sequence[str] | None, statuses: Sequence[str] | None
) -> int:
    stmt = _alert_count(scope, lights is not None, statuses is not None)
    return int(await db.scalar(stmt, _filters(lights, statuses)))


async def alerts_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_alert_by_ids(scope), {"ids": list(ids)})).all()


# Allowed moves of an alert: acknowledge an open one; resolve an open or acknowledged one.
_MOVES = {
    AlertStatus.ACKNOWLEDGED: (AlertStatus.OPEN,),
    AlertStatus.RESOLVED: (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED),
}


async def move(
    conn: AsyncConnection,
    *,
    alert: AnyRow,
    to: AlertStatus,
    actor: str,
    client: str | None,
    note: str | None,
    now: datetime,
) -> Event | None:
    """Acknowledge or resolve an alert (audited, with a feed event about it). Never commits."""
    if AlertStatus(alert.status) not in _MOVES[to]:
        raise BadUserInput(
            f"an alert that is {alert.status} cannot become {to.value}", argument="id"
        )
    values: dict[str, object] = {"status": to.value}
    if to is AlertStatus.ACKNOWLEDGED:
        values |= {"acknowledged_at": now, "acknowledged_by": actor}
    else:
        values |= {"resolved_at": now, "resolved_by": actor, "note": note}
    # Guarded by the status read: of two concurrent moves only one applies.
    moved = await conn.execute(
        update(Alert).where(Alert.id == alert.id, Alert.status == alert.status).values(**values)
    )
    if not moved.rowcount:
        raise BadUserInput("the alert changed meanwhile; read it again", argument="id")
    action = "alert.acknowledge" if to is AlertStatus.ACKNOWLEDGED else "alert.resolve"
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action=action,
                tenant_path=alert.tenant_path,
                subject=str(alert.id),
                client_address=client,
                detail={"note": note} if note else {},
            )
        ],
        now=now,
    )
    tenant = await tenant_info(conn, alert.tenant_path) if alert.tenant_path else None
    if tenant is None:
        return None
    verb = "已确认" if to is AlertStatus.ACKNOWLEDGED else "已处置"
    return await emit(
        conn,
        kind=FeedKind.WARNING if alert.kind.startswith("warning.") else FeedKind.SECURITY_ALERT,
        title=f"{verb}：{alert.title}",
        tenant=tenant,
        occurred_at=now,
        light=Light(alert.light),
        data={"alert": alert.id, "status": to.value, "by": actor, "note": note},
    )


async def open_warning(
    conn: AsyncConnection,
    *,
    cause: str,
    tenant: dict[str, object],
    title: str,
    light: Light,
    now: datetime,
    data: dict[str, object] | None = None,
    branch: dict[str, object] | None = None,
) -> Event:
    """What the assessment and warning modules call when a light changes: an open alert of
    kind `warning.<cause>` and its WARNING feed event, in the caller's transaction (publish
    the event after the commit: Runtime.write does). Never commits."""
    event = await emit(
        conn,
        kind=FeedKind.WARNING,
        title=title,
        tenant=tenant,
        branch=branch,
        occurred_at=now,
        light=light,
        data={"cause": cause, **(data or {})},
    )
    await conn.execute(
        insert(Alert).values(
            occurred_at=now,
            kind=f"warning.{cause}",
            light=light.value,
            title=title,
            tenant_path=str(tenant["path"]),
            detail=json.dumps(data or {}, sort_keys=True, ensure_ascii=False, default=str),
            event_id=event.id,
            status=AlertStatus.OPEN.value,
        )
    )
    return event
