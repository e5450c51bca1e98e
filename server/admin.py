"""Operator commands behind the CLI: accounts, partner keys, role bindings, the audit chain.

Each change is written with its audit entry in one transaction (principal `cli:<os user>`).
Running servers pick changes up through the control bus when they share Redis, and on their
next restart otherwise; `ehome` prints which.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies import grants
from policies.models import CasbinRule
from policies.rbac import PARTNER_SCOPES, Role
from server.audit import service as audit
from server.audit.models import AuditEntry
from server.auth.models import AuthSession, PartnerKey, PersistedOperation, User
from server.auth.passwords import hash_password
from server.auth.tokens import PARTNER_PREFIX, digest, new_secret
from server.persisted import Operation, operations_in
from tenants.models import Tenant


class AdminError(ValueError):
    """An operator command cannot be done; the message says why."""


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"


async def _tenant(engine: AsyncEngine, code: str) -> tuple[int, str]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(Tenant.id, Tenant.path).where(Tenant.code == code))
        ).first()
    if row is None:
        raise AdminError(f"there is no tenant with code {code!r}")
    return row.id, row.path


MIN_PASSWORD = 12


async def create_user(
    engine: AsyncEngine, *, username: str, password: str, member_id: int | None
) -> None:
    """An account for someone the demo seed does not know (a care worker, an auditor, the
    first super admin of a real district). Roles are granted separately (`role grant`)."""
    if not 3 <= len(username) <= 64 or not username.isprintable() or " " in username:
        raise AdminError("a username has 3 to 64 printable characters and no spaces")
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"a password has at least {MIN_PASSWORD} characters")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        if await conn.scalar(select(User.id).where(User.username == username)) is not None:
            raise AdminError(f"there is already a user {username!r}")
        if member_id is not None:
            from server.members.models import Member

            if await conn.scalar(select(Member.id).where(Member.id == member_id)) is None:
                raise AdminError(f"there is no member {member_id}")
            if await conn.scalar(select(User.id).where(User.member_id == member_id)):
                raise AdminError(f"member {member_id} has an account already")
        await conn.execute(
            insert(User).values(
                username=username,
                password_hash=hash_password(password),
                member_id=member_id,
                is_active=True,
                created_at=now,
            )
        )
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=operator(),
                    action="user.create",
                    subject=username,
                    detail={"member": member_id},
                )
            ],
            now=now,
        )


async def disable_user(engine: AsyncEngine, *, username: str) -> None:
    """Sign the account out everywhere and refuse its sign-ins from now on."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        user_id = await conn.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise AdminError(f"there is no user {username!r}")
        await conn.execute(update(User).where(User.id == user_id).values(is_active=False))
        await conn.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="disabled")
        )
        await audit.append(
            conn,
            [audit.Entry(principal=operator(), action="user.disable", subject=username)],
            now=now,
        )


@dataclass(frozen=True)
class NewPartner:
    name: str
    key: str
    tenant_path: str
    scopes: tuple[str, ...]


async def create_partner(
    engine: AsyncEngine, *, name: str, tenant_code: str, scopes: list[str]
) -> NewPartner:
    unknown = sorted(set(scopes) - PARTNER_SCOPES.keys())
    if unknown or not scopes:
        raise AdminError(
            f"unknown scopes {unknown}; choose from {', '.join(sorted(PARTNER_SCOPES))}"
            if unknown
            else "give at least one scope"
        )
    tenant_id, path = await _tenant(engine, tenant_code)
    key = new_secret(PARTNER_PREFIX)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        taken = await conn.scalar(select(PartnerKey.id).where(PartnerKey.name == name))
        if taken is not None:
            raise AdminError(f"a partner named {name!r} exists already")
        await conn.execute(
            insert(PartnerKey).values(
                name=name,
                key_hash=digest(key),
                tenant_id=tenant_id,
                scopes=" ".join(sorted(set(scopes))),
                created_at=now,
            )
        )
        await grants.bind(conn, subject=f"partner:{name}", role=Role.PARTNER, path=path)
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=operator(),
                    action="partner.create",
                    tenant_path=path,
                    subject=name,
                    detail={"scopes": sorted(set(scopes))},
                )
            ],
            now=now,
        )
    return NewPartner(name, key, path, tuple(sorted(set(scopes))))


async def _active_partner(conn: AsyncConnection, name: str) -> Any:
    """The partner's key id and tenant path, or AdminError."""
    row = (
        await conn.execute(
            select(PartnerKey.id, Tenant.path)
            .join(Tenant, Tenant.id == PartnerKey.tenant_id)
            .where(PartnerKey.name == name, PartnerKey.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        raise AdminError(f"there is no active partner named {name!r}")
    return row


async def revoke_partner(engine: AsyncEngine, *, name: str) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        row = await _active_partner(conn, name)
        await conn.execute(update(PartnerKey).where(PartnerKey.id == row.id).values(revoked_at=now))
        await grants.unbind(conn, subject=f"partner:{name}", role=Role.PARTNER, path=row.path)
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=operator(),
                    action="partner.revoke",
                    tenant_path=row.path,
                    subject=name,
                )
            ],
            now=now,
        )


async def list_partners(engine: AsyncEngine) -> list[tuple[str, str, str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(PartnerKey.name, Tenant.code, PartnerKey.scopes, PartnerKey.revoked_at)
            .join(Tenant, Tenant.id == PartnerKey.tenant_id)
            .order_by(PartnerKey.name)
        )
        return [(r.name, r.code, r.scopes, r.revoked_at is None) for r in rows]


@dataclass(frozen=True)
class Allowed:
    operations: tuple[Operation, ...]  # those of the file
    added: int
    removed: int


def _checked_operations(source: str) -> list[Operation]:
    """The file's operations, canonical, each valid against the code's schema."""
    from graphql import parse, validate

    from schema.build import build_schema

    try:
        operations = operations_in(source)
    except ValueError as exc:
        raise AdminError(f"the file is not usable: {exc}") from None
    schema = build_schema()._schema
    for operation in operations:
        errors = validate(schema, parse(operation.document))
        if errors:
            raise AdminError(f"operation {operation.name or '(anonymous)'}: {errors[0].message}")
    return operations


async def allow_operations(
    engine: AsyncEngine, *, name: str, source: str, replace: bool = False
) -> Allowed:
    """Register the operations of a .graphql file for a partner key: from now on the key may
    run only its registered operations. With `replace`, those not in the file are dropped."""
    operations = _checked_operations(source)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        row = await _active_partner(conn, name)
        known = set(
            await conn.scalars(
                select(PersistedOperation.sha256).where(PersistedOperation.partner_key_id == row.id)
            )
        )
        wanted = {o.sha256 for o in operations}
        new = [o for o in operations if o.sha256 not in known]
        dropped = sorted(known - wanted) if replace else []
        if dropped:
            await conn.execute(
                delete(PersistedOperation).where(
                    PersistedOperation.partner_key_id == row.id,
                    PersistedOperation.sha256.in_(dropped),
                )
            )
        if new:
            await conn.execute(
                insert(PersistedOperation),
                [
                    {
                        "partner_key_id": row.id,
                        "sha256": o.sha256,
                        "operation_name": o.name,
                        "document": o.document,
                        "created_at": now,
                    }
                    for o in new
                ],
            )
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=operator(),
                    action="partner.allow",
                    tenant_path=row.path,
                    subject=name,
                    detail={
                        "added": [{"name": o.name, "sha256": o.sha256} for o in new],
                        "removed": dropped,
                    },
                )
            ],
            now=now,
        )
    return Allowed(tuple(operations), len(new), len(dropped))


async def partner_operations(engine: AsyncEngine, *, name: str) -> list[tuple[str | None, str]]:
    """The operations registered for a partner key: (name, sha256), by name."""
    async with engine.connect() as conn:
        key = await conn.scalar(select(PartnerKey.id).where(PartnerKey.name == name))
        if key is None:
            raise AdminError(f"there is no partner named {name!r}")
        rows = await conn.execute(
            select(PersistedOperation.operation_name, PersistedOperation.sha256)
            .where(PersistedOperation.partner_key_id == key)
            .order_by(PersistedOperation.operation_name, PersistedOperation.sha256)
        )
        return [(r.operation_name, r.sha256) for r in rows]


async def bind_role(
    engine: AsyncEngine, *, username: str, role: Role, tenant_code: str, grant: bool
) -> bool:
    """An operator's grant or revocation of any role (bootstrapping, auditors)."""
    _tenant_id, path = await _tenant(engine, tenant_code)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        if await conn.scalar(select(User.id).where(User.username == username)) is None:
            raise AdminError(f"there is no user {username!r}")
        change = grants.bind if grant else grants.unbind
        changed = await change(conn, subject=f"user:{username}", role=role, path=path)
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=operator(),
                    action="role.grant" if grant else "role.revoke",
                    tenant_path=path,
                    subject=username,
                    detail={"role": role.value, "changed": changed},
                )
            ],
            now=now,
        )
    return changed


async def role_bindings(engine: AsyncEngine, username: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CasbinRule.v1, CasbinRule.v2).where(
                CasbinRule.ptype == "g", CasbinRule.v0 == f"user:{username}"
            )
        )
        return [(r.v1 or "", (r.v2 or "").removesuffix("*")) for r in rows]


async def tail_audit(engine: AsyncEngine, *, limit: int) -> list[str]:
    """The newest entries as lines, oldest of them first."""
    async with engine.connect() as conn:
        rows = await audit.tail(conn, limit=limit)
    return [
        f"{r.id:>7} {r.occurred_at:%Y-%m-%d %H:%M:%S} {r.principal:<24} {r.action:<22} "
        f"{r.tenant_path or '-':<16} {r.subject or '-':<20} {r.client_address or '-'} {r.detail}"
        for r in reversed(rows)
    ]


async def verify_audit(engine: AsyncEngine, *, alert: bool = False) -> audit.Verdict:
    """Recompute the chain. With `alert`, a break raises a security alert (and its feed event,
    which running servers pick up from the database within seconds)."""
    async with engine.connect() as conn:
        verdict = await audit.verify(conn)
    if alert and not verdict.intact:
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            path = await conn.scalar(
                select(AuditEntry.tenant_path).where(AuditEntry.id == verdict.broken_at)
            )
            entry = audit.Entry(
                principal=operator(),
                action="audit.chain_broken",
                tenant_path=path,
                subject=f"entry {verdict.broken_at}",
                detail={"reason": verdict.reason, "verified": verdict.entries},
            )
            await audit.alert_once(
                conn, kind="audit.chain_broken", entry=entry, now=now, window=timedelta(hours=1)
            )
    return verdict
