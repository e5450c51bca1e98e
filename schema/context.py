"""The per-request Context every resolver receives."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from policies.rbac import Action, Resource
from schema.ids import parse_global_id
from schema.loaders import Loaders
from server.audit import service as audit
from server.audit.service import Entry
from server.auth.principal import Principal
from server.db import Db
from server.errors import BadUserInput, Forbidden, Unauthenticated
from server.runtime import Runtime
from tenants.scope import Scope

BURST_REFUSALS = 10  # refusals of one principal within BURST_WINDOW that raise an alert
BURST_WINDOW = timedelta(minutes=1)


@dataclass
class Context:
    db: Db
    runtime: Runtime
    principal: Principal | None
    request_id: str
    # Why the request's credential was refused, if it was: told to whoever needs a principal.
    auth_error: Unauthenticated | None = None
    client_address: str | None = None
    request: Request | WebSocket | None = None
    response: Response | None = None
    # A WebSocket's `connection_init` payload (strawberry sets it): it carries the token there.
    connection_params: dict[str, object] | None = None
    loaders: Loaders = field(init=False)
    _scopes: dict[tuple[Resource, Action], Scope] = field(default_factory=dict)
    _audit: dict[str, audit.Entry] = field(default_factory=dict)
    _sensitive: dict[str, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.scope)

    @property
    def timezone(self) -> ZoneInfo:
        return self.runtime.timezone

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise self.auth_error or Unauthenticated("sign in first", reason="missing")
        return self.principal

    def scope(self, resource: Resource, action: Action = Action.READ) -> Scope:
        """Where the principal may do `action` on `resource`; nothing without a principal."""
        key = (resource, action)
        if key not in self._scopes:
            self._scopes[key] = (
                Scope.nothing()
                if self.principal is None
                else self.runtime.authz.scope(self.principal, resource, action)
            )
        return self._scopes[key]

    async def scope_under(
        self, under: str | None, resource: Resource, action: Action = Action.READ
    ) -> Scope:
        """The scope for reading `resource`, narrowed to the subtree of the tenant `under`.

        A tenant outside what the viewer may see, or one that does not exist, narrows to
        nothing: the answer is empty either way, so it tells nothing about what lies outside.
        """
        scope = self.scope(resource, action)
        if under is None:
            return scope
        kind, pk = parse_global_id(under, argument="under")
        if kind != "Tenant":
            raise BadUserInput("under must be the id of a Tenant", argument="under")
        tenant = await self.loaders.tenant.load(pk)
        return Scope.nothing() if tenant is None else scope.narrow(tenant.path)

    # -- audit -------------------------------------------------------------------------------

    def actor(self) -> str:
        return self.principal.subject if self.principal else "anonymous"

    def audit(self, entry: audit.Entry) -> None:
        """Keep an entry for the end of the operation (a re-run records it once)."""
        key = json.dumps(
            [entry.action, entry.tenant_path, entry.subject, entry.detail],
            sort_keys=True,
            default=str,
        )
        self._audit.setdefault(key, entry)

    def own_member(self, what: str) -> int:
        """The viewer's own member id, for what a member does for itself; FORBIDDEN (audited)
        for an account without a member record, or a partner key."""
        principal = self.require_principal()
        if principal.kind != "user" or principal.member_id is None:
            raise self.denied(what)
        return principal.member_id

    def denied(self, what: str, *, path: str | None = None) -> Forbidden:
        """Audit a refusal and return the error to raise."""
        self.audit(
            audit.Entry(
                principal=self.actor(),
                action="denied",
                tenant_path=path,
                client_address=self.client_address,
                detail={"what": what},
            )
        )
        return Forbidden(f"you may not {what}")

    def read_sensitive(self, member_id: int, path: str) -> bool:
        """Whether the member's personal data may be shown unmasked; if so the read is
        recorded for the audit log."""
        if not self.scope(Resource.MEMBER, Action.READ_SENSITIVE).contains(path) and (
            member_id not in self.scope(Resource.MEMBER, Action.READ_SENSITIVE).member_ids
        ):
            return False
        self._sensitive.setdefault(path, set()).add(member_id)
        return True

    async def flush(self) -> None:
        """Write what the operation left for the audit log, in one transaction."""
        entries = list(self._audit.values())
        entries += [
            audit.Entry(
                principal=self.actor(),
                action="member.read_sensitive",
                tenant_path=path,
                client_address=self.client_address,
                detail={"members": sorted(ids)},
            )
            for path, ids in sorted(self._sensitive.items())
        ]
        self._audit.clear()
        self._sensitive.clear()
        if not entries:
            return
        # Shielded: a client that hangs up cancels its operation, and a write cancelled between
        # its statements could leave its transaction (and SQLite's write lock) behind. The
        # entries are written either way.
        await asyncio.shield(self._write(entries))

    async def _write(self, entries: list[Entry]) -> None:
        now = datetime.now(UTC)
        async with self.runtime.write() as (conn, outbox):
            await audit.append(conn, entries, now=now)
            if self.principal is not None and any(e.action == "denied" for e in entries):
                # Many refusals in a short time: someone probing what lies outside their scope.
                refused, _ = await audit.count_since(
                    conn, action="denied", since=now - BURST_WINDOW, principal=self.actor()
                )
                if refused >= BURST_REFUSALS:
                    entry = audit.Entry(
                        principal=self.actor(),
                        action="authz.forbidden_burst",
                        tenant_path=await audit.home_of(conn, self.actor()),
                        subject=self.actor(),
                        client_address=self.client_address,
                        detail={"refusals": refused, "seconds": BURST_WINDOW.seconds},
                    )
                    event = await audit.alert_once(
                        conn,
                        kind="authz.forbidden_burst",
                        entry=entry,
                        now=now,
                        window=timedelta(minutes=10),
                    )
                    outbox.extend([event] if event else [])

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await self.db.close()
