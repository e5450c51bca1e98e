"""Mutation.grantRole / revokeRole: admins appoint the tier below them, in their subtree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from policies import grants
from policies.rbac import Resource, Role
from schema.auth import AdminRole, RoleGrant
from schema.context import Context
from schema.ids import parse_global_id
from schema.permissions import SignedIn, allow
from schema.types import tenant_node
from server.audit import service as audit
from server.auth import accounts
from server.errors import BadUserInput, Forbidden, NotFound
from server.sql import AnyRow
from tenants import service as tenants
from tenants.scope import Scope

Change = Callable[..., Awaitable[bool]]  # policies.grants.bind / unbind


@dataclass(frozen=True)
class Target:
    role: Role
    username: str
    tenant: AnyRow


async def _checked(
    ctx: Context, username: str, role: AdminRole, tenant_id: str, verb: str
) -> Target:
    """A grant or revocation the viewer may make; refusals are audited."""
    principal = ctx.require_principal()
    kind, pk = parse_global_id(tenant_id, argument="tenantId")
    if kind != "Tenant":
        raise BadUserInput("tenantId must be the id of a Tenant", argument="tenantId")
    wanted = Role(role.value)
    found = await tenants.tenants_by_ids(ctx.db, scope=Scope.everything(), ids=[pk])
    if not found:
        # Refused like a tenant out of reach: existence does not leak.
        raise ctx.denied(f"{verb} {wanted.value}")
    tenant = found[0]
    authz = ctx.runtime.authz
    try:
        grants.check_grant(
            granter=authz.bindings(principal.subject),
            casbin_allows=authz.allows(principal, tenant.path, Resource.GRANT, wanted),
            role=wanted,
            tenant_path=tenant.path,
            tenant_level=tenant.level.value,
        )
    except Forbidden:
        raise ctx.denied(f"{verb} {wanted.value}", path=tenant.path) from None
    if not await accounts.exists(ctx.db, username=username):
        raise NotFound(f"there is no user {username!r}", argument="username")
    return Target(wanted, username, tenant)


async def _change(ctx: Context, target: Target, change: Change, action: str) -> bool:
    """Store the binding change with its audit entry in one transaction, then apply it in
    every process. True when the binding changed."""
    async with ctx.runtime.engine.begin() as conn:
        changed = await change(
            conn, subject=f"user:{target.username}", role=target.role, path=target.tenant.path
        )
        entry = audit.Entry(
            principal=ctx.actor(),
            action=action,
            tenant_path=target.tenant.path,
            subject=target.username,
            client_address=ctx.client_address,
            detail={"role": target.role.value, "changed": changed},
        )
        await audit.append(conn, [entry], now=datetime.now(UTC))
    await ctx.runtime.control.policy_changed()
    return changed


@strawberry.type
class GrantMutation:
    @strawberry.mutation(
        description="Bind an admin role of a lower tier than yours at a tenant in your subtree "
        "(SENIOR_ADMIN at a TOWN, JUNIOR_ADMIN at a VILLAGE). Applies at once everywhere.",
        extensions=[allow(SignedIn())],
    )
    async def grant_role(
        self, info: Info[Context, None], username: str, role: AdminRole, tenant_id: strawberry.ID
    ) -> RoleGrant:
        ctx = info.context
        target = await _checked(ctx, username, role, tenant_id, "grant")
        await _change(ctx, target, grants.bind, "role.grant")
        return RoleGrant(role=role, tenant=tenant_node(target.tenant, ctx.loaders))

    @strawberry.mutation(
        description="Remove an admin role you could grant. False when it was not held.",
        extensions=[allow(SignedIn())],
    )
    async def revoke_role(
        self, info: Info[Context, None], username: str, role: AdminRole, tenant_id: strawberry.ID
    ) -> bool:
        ctx = info.context
        target = await _checked(ctx, username, role, tenant_id, "revoke")
        return await _change(ctx, target, grants.unbind, "role.revoke")
