"""Feed events: written in the transaction of the change that causes them (the outbox),
published to the bus only after that transaction commits.

Writers take turns on the audit head's row lock (every change is audited anyway) before they
write an event, so event ids are committed in id order: a process that sees event N+1 knows
that every event up to N is already readable, and can back-fill a gap from the database.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.models import AuditHead
from server.feed.models import FeedEventRow, FeedKind, Light
from tenants.models import Tenant

# The connections whose current transaction holds the writers' turn (each transaction runs on
# its own AsyncConnection object, gone when it ends; conn.info would outlive it in the pool).
_turn_holders: weakref.WeakSet[AsyncConnection] = weakref.WeakSet()
_TAKE_TURN = update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id)
_INSERT_EVENT = insert(FeedEventRow).returning(FeedEventRow.id)


def hold_turn(conn: AsyncConnection) -> None:
    """Note that `conn`'s transaction has locked the audit head's row (the writers' turn)."""
    _turn_holders.add(conn)


async def take_turn(conn: AsyncConnection) -> None:
    """Take the writers' turn (a no-op update of the audit head locks its row until the
    transaction ends): for a writer that must read what it is about to replace before any
    audit entry of its own takes the turn. Taking it twice is harmless."""
    await conn.execute(_TAKE_TURN)
    hold_turn(conn)


@dataclass(frozen=True, slots=True)
class Event:
    """One event as subscribers see it: it carries its tenant and branch, so delivering it
    needs no database."""

    id: int
    kind: str
    light: str | None
    title: str
    occurred_at: datetime
    recorded_at: datetime
    tenant: dict[str, Any]  # id, code, name, level, path, parent_id
    branch: dict[str, Any] | None  # id, name, category, established_on, secretary
    data: dict[str, Any]

    @property
    def path(self) -> str:
        return str(self.tenant["path"])

    def to_json(self) -> str:
        body = asdict(self)
        body["occurred_at"] = self.occurred_at.isoformat()
        body["recorded_at"] = self.recorded_at.isoformat()
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> Event:
        body = json.loads(text)
        body["occurred_at"] = datetime.fromisoformat(body["occurred_at"])
        body["recorded_at"] = datetime.fromisoformat(body["recorded_at"])
        return cls(**body)

    @classmethod
    def from_row(cls, row: Any) -> Event:
        payload = json.loads(row.payload)
        return cls(
            id=row.id,
            kind=row.kind,
            light=row.light,
            title=row.title,
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            tenant=payload["tenant"],
            branch=payload.get("branch"),
            data=payload.get("data", {}),
        )


async def emit(
    conn: AsyncConnection,
    *,
    kind: FeedKind,
    title: str,
    tenant: dict[str, Any],
    occurred_at: datetime,
    light: Light | None = None,
    branch: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Store an event in the caller's transaction. Publish it after the commit
    (Runtime.write does both)."""
    # Events are committed in id order (see above); an audited change holds the turn already.
    if conn not in _turn_holders:
        await take_turn(conn)
    payload = {"tenant": tenant, "branch": branch, "data": data or {}}
    recorded_at = datetime.now(UTC)
    event_id = (
        await conn.execute(
            _INSERT_EVENT,
            {
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
                "kind": kind.value,
                "light": light.value if light else None,
                "title": title[:200],
                "tenant_path": tenant["path"],
                "payload": json.dumps(payload, ensure_ascii=False, default=str),
            },
        )
    ).scalar_one()
    return Event(
        id=event_id,
        kind=kind.value,
        light=light.value if light else None,
        title=title[:200],
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        tenant=tenant,
        branch=branch,
        data=data or {},
    )


Publish = Callable[[Sequence[Event]], Awaitable[None]]


async def nobody(_events: Sequence[Event]) -> None:
    """A publisher for code that runs outside a server (the CLI without Redis)."""


# The tenant columns a statement selects (joined to its own rows) for `tenant_facts`.
TENANT_FACTS = (
    Tenant.id.label("t_id"),
    Tenant.code.label("t_code"),
    Tenant.name.label("t_name"),
    Tenant.level.label("t_level"),
    Tenant.path.label("t_path"),
    Tenant.parent_id.label("t_parent_id"),
)


def tenant_facts(row: Any) -> dict[str, Any]:
    """What an event carries of its tenant, from a row that selected TENANT_FACTS."""
    return {
        "id": row.t_id,
        "code": row.t_code,
        "name": row.t_name,
        "level": str(row.t_level),
        "path": row.t_path,
        "parent_id": row.t_parent_id,
    }


async def tenant_info(conn: AsyncConnection, path: str) -> dict[str, Any] | None:
    """What an event carries of the tenant at `path`."""
    row = (await conn.execute(select(*TENANT_FACTS).where(Tenant.path == path))).first()
    return None if row is None else tenant_facts(row)
