"""Appending to the audit log, verifying its chain, and recording security alerts.

Appends run inside the caller's transaction, so an entry commits or rolls back with the change
it records. The audit_head row is updated first: its row lock makes concurrent appenders wait
for each other, and each then chains onto the hash the previous one committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.models import CasbinRule
from server.audit.models import AuditEntry, AuditHead
from server.db import Db
from server.feed.events import Event, emit, hold_turn, tenant_info
from server.feed.models import Alert, AlertStatus, FeedKind, Light
from server.sql import AnyRow, AnySelect, counted, memoized, newest_first, page_params
from tenants.models import Tenant
from tenants.scope import Scope

GENESIS = "0" * 64
# What the command center shows for each kind of security alert.
ALERT_TITLES = {
    "login.brute_force": "连续登录失败，账号已临时锁定",
    "token.refresh_reuse": "刷新令牌被重复使用，会话已注销",
    "token.revoked_use": "已注销的令牌或密钥仍在使用",
    "authz.forbidden_burst": "短时间内多次越权访问",
    "audit.chain_broken": "审计日志哈希链校验失败",
    "rate_limit": "请求过于频繁，已限流",
}
VERIFY_CHUNK = 5000


@dataclass(frozen=True)
class Entry:
    """What happened, by whom, where; `detail` must be JSON-serialisable."""

    principal: str
    action: str
    tenant_path: str | None = None
    subject: str | None = None
    client_address: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def canonical(entry_id: int, occurred_at: datetime, entry: Entry) -> str:
    """The content an entry's hash covers, as JSON with sorted keys and no spaces."""
    return json.dumps(
        {
            "id": entry_id,
            "occurred_at": occurred_at.isoformat(timespec="microseconds"),
            "principal": entry.principal,
            "action": entry.action,
            "tenant_path": entry.tenant_path,
            "subject": entry.subject,
            "client_address": entry.client_address,
            "detail": entry.detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def chain(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


# Built once: these run in every audited change.
_ADVANCE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(last_id=AuditHead.last_id + bindparam("count", type_=Integer))
    .returning(AuditHead.last_id, AuditHead.last_hash)
)
_INSERT_ENTRY = insert(AuditEntry)
_SET_HEAD_HASH = update(AuditHead).where(AuditHead.id == 1).values(last_hash=bindparam("hash"))


async def append(conn: AsyncConnection, entries: Sequence[Entry], *, now: datetime) -> list[int]:
    """Append `entries` in order; returns their ids. Never commits."""
    if not entries:
        return []
    head = (await conn.execute(_ADVANCE_HEAD, {"count": len(entries)})).one()
    hold_turn(conn)  # the head's row lock is held until this transaction ends
    first_id = head.last_id - len(entries) + 1
    prev = head.last_hash
    rows = []
    for offset, entry in enumerate(entries):
        entry_id = first_id + offset
        content = canonical(entry_id, now, entry)
        digest = chain(prev, content)
        rows.append(
            {
                "id": entry_id,
                "occurred_at": now,
                "principal": entry.principal,
                "action": entry.action,
                "tenant_path": entry.tenant_path,
                "subject": entry.subject,
                "client_address": entry.client_address,
                "detail": json.dumps(entry.detail, sort_keys=True, ensure_ascii=False),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    await conn.execute(_INSERT_ENTRY, rows)
    await conn.execute(_SET_HEAD_HASH, {"hash": prev})
    return [row["id"] for row in rows]


async def alert(
    conn: AsyncConnection,
    *,
    kind: str,
    entry: Entry,
    now: datetime,
    title: str | None = None,
    light: Light = Light.RED,
) -> Event | None:
    """Record a security alert with its audit entry, and its SECURITY_ALERT feed event when it
    concerns a tenant (publish that after the commit). Never commits."""
    [audit_id] = await append(conn, [entry], now=now)
    title = title or ALERT_TITLES.get(kind, kind)
    event = None
    tenant = await tenant_info(conn, entry.tenant_path) if entry.tenant_path else None
    if tenant is not None:
        event = await emit(
            conn,
            kind=FeedKind.SECURITY_ALERT,
            title=title,
            tenant=tenant,
            occurred_at=now,
            light=light,
            data={"alert": kind, "subject": entry.subject},
        )
    await conn.execute(
        insert(Alert).values(
            occurred_at=now,
            kind=kind,
            light=light.value,
            title=title,
            tenant_path=entry.tenant_path,
            principal=entry.principal,
            subject=entry.subject,
            client_address=entry.client_address,
            detail=json.dumps(entry.detail, sort_keys=True, ensure_ascii=False),
            audit_id=audit_id,
            event_id=event.id if event else None,
            status=AlertStatus.OPEN.value,
        )
    )
    return event


async def home_of(conn: AsyncConnection, subject: str) -> str | None:
    """The tenant a principal's entries and alerts are filed under: its highest role binding,
    so that the auditors and admins of that subtree see them."""
    domain = await conn.scalar(
        select(CasbinRule.v2)
        .where(CasbinRule.ptype == "g", CasbinRule.v0 == subject)
        .order_by(func.length(CasbinRule.v2), CasbinRule.v2)
        .limit(1)
    )
    return domain.removesuffix("*") if domain else None


async def alert_once(
    conn: AsyncConnection, *, kind: str, entry: Entry, now: datetime, window: timedelta
) -> Event | None:
    """Like `alert`, unless the same kind of alert about the same subject was raised within
    `window`: a client that keeps retrying raises one alert, not one a second."""
    recent = await conn.scalar(
        select(Alert.id)
        .where(
            Alert.kind == kind, Alert.subject == entry.subject, Alert.occurred_at >= now - window
        )
        .limit(1)
    )
    if recent is not None:
        return None
    return await alert(conn, kind=kind, entry=entry, now=now)


async def count_since(
    conn: AsyncConnection,
    *,
    action: str,
    since: datetime,
    subject: str | None = None,
    client_address: str | None = None,
    principal: str | None = None,
) -> tuple[int, datetime | None]:
    """How many `action` entries since `since` (by subject or by client), and the oldest."""
    stmt = select(func.count(), func.min(AuditEntry.occurred_at)).where(
        AuditEntry.action == action, AuditEntry.occurred_at >= since
    )
    if subject is not None:
        stmt = stmt.where(AuditEntry.subject == subject)
    if client_address is not None:
        stmt = stmt.where(AuditEntry.client_address == client_address)
    if principal is not None:
        stmt = stmt.where(AuditEntry.principal == principal)
    count, oldest = (await conn.execute(stmt)).one()
    return int(count), oldest


@dataclass(frozen=True)
class Verdict:
    entries: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def _entry_of(row: Any) -> Entry:
    return Entry(
        principal=row.principal,
        action=row.action,
        tenant_path=row.tenant_path,
        subject=row.subject,
        client_address=row.client_address,
        detail=json.loads(row.detail),
    )


async def verify(conn: AsyncConnection) -> Verdict:
    """Recompute the chain from the first entry; name the first entry that does not fit."""
    prev, expected_id, seen = GENESIS, 1, 0
    while True:
        # Core rows (columns), not ORM objects: this runs on a plain connection.
        rows = (
            await conn.execute(
                select(AuditEntry.__table__)
                .where(AuditEntry.id >= expected_id)
                .order_by(AuditEntry.id)
                .limit(VERIFY_CHUNK)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                return Verdict(seen, expected_id, f"entry {expected_id} is missing")
            if row.prev_hash != prev:
                return Verdict(seen, row.id, "its prev_hash is not the previous entry's hash")
            try:
                content = canonical(row.id, row.occurred_at, _entry_of(row))
            except ValueError:
                return Verdict(seen, row.id, "its detail is not valid JSON")
            if chain(prev, content) != row.hash:
                return Verdict(seen, row.id, "its content does not match its hash")
            prev, expected_id, seen = row.hash, row.id + 1, seen + 1
    head = (await conn.execute(select(AuditHead.__table__).where(AuditHead.id == 1))).one()
    if seen > head.last_id:
        # Rows past the head were written behind the chain's back (appending moves the head).
        extra = head.last_id + 1
        return Verdict(head.last_id, extra, f"entry {extra} was added without the chain head")
    if seen < head.last_id:
        return Verdict(seen, seen + 1, "entries after the last one were removed")
    if head.last_hash != prev:
        return Verdict(seen - 1, seen, "the chain head does not match this last entry")
    return Verdict(seen)


# -- reading, within a Scope: the entries about a subtree. Entries about no tenant (sign-ins of
# unknown usernames) are read by operators with `ehome audit tail`. ----------------------------

COLUMNS = (
    AuditEntry.id,
    AuditEntry.occurred_at,
    AuditEntry.principal,
    AuditEntry.action,
    AuditEntry.tenant_path,
    AuditEntry.subject,
    AuditEntry.client_address,
    AuditEntry.detail,
    AuditEntry.prev_hash,
    AuditEntry.hash,
    Tenant.id.label("tenant_id"),
)


def _scoped(scope: Scope) -> AnySelect:
    return (
        select(*COLUMNS)
        .outerjoin(Tenant, Tenant.path == AuditEntry.tenant_path)
        .where(AuditEntry.tenant_path.is_not(None), scope.predicate(AuditEntry.tenant_path))
    )


@memoized
def _newest_first(scope: Scope, after: bool) -> AnySelect:
    stmt = _scoped(scope)
    return newest_first(stmt, AuditEntry.id, after=after)


@memoized
def _count(scope: Scope) -> AnySelect:
    return counted(_scoped(scope))


@memoized
def _by_ids(scope: Scope) -> AnySelect:
    return _scoped(scope).where(AuditEntry.id.in_(bindparam("ids", expanding=True)))


async def tail(conn: AsyncConnection, *, limit: int) -> Sequence[AnyRow]:
    """The newest entries, every tenant or none: the operator's view."""
    stmt = select(*COLUMNS).outerjoin(Tenant, Tenant.path == AuditEntry.tenant_path)
    return (await conn.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all()


async def list_entries(
    db: Db, *, scope: Scope, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """Newest first; `after_id` continues below that entry."""
    stmt = _newest_first(scope, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_entries(db: Db, *, scope: Scope) -> int:
    return int(await db.scalar(_count(scope)))


async def entries_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_by_ids(scope), {"ids": list(ids)})).all()
