"""Signing in and out, and who is asking: login, refreshToken, logout, me."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from policies.rbac import ADMIN_ROLES, Role
from schema.context import Context
from schema.permissions import SignedIn, allow
from schema.types import TenantNode
from server.auth import service
from server.auth.service import RefreshReused, Tokens

strawberry.enum(Role, name="Role", description="Every role a principal can hold.")


@strawberry.enum(description="The three tiers of platform admins (三级分权管理).")
class AdminRole(enum.Enum):
    SUPER_ADMIN = "SUPER_ADMIN"
    SENIOR_ADMIN = "SENIOR_ADMIN"
    JUNIOR_ADMIN = "JUNIOR_ADMIN"


@strawberry.type(description="An admin role held at a tenant.")
class RoleGrant:
    role: AdminRole
    tenant: TenantNode


@strawberry.type(description="Any role held at a tenant.")
class RoleBinding:
    role: Role
    tenant: TenantNode


@strawberry.type(description="Who is asking.")
class Viewer:
    username: str
    kind: str = strawberry.field(description="`user` or `partner`.")
    grants: list[RoleGrant] = strawberry.field(description="Admin roles held, and where.")
    roles: list[RoleBinding] = strawberry.field(description="All roles held, and where.")
    scopes: list[str] = strawberry.field(description="A partner key's scopes.")


@strawberry.type
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_at: datetime
    viewer: Viewer


async def viewer_of(
    ctx: Context, *, username: str, kind: str = "user", scopes: frozenset[str] = frozenset()
) -> Viewer:
    grants: list[RoleGrant] = []
    roles: list[RoleBinding] = []
    for binding in ctx.runtime.authz.bindings(f"{kind}:{username}"):
        # One's own bindings show their tenants, whatever one may read of the tree.
        tenant = await ctx.loaders.own_tenant.load(binding.path)
        if tenant is None:
            continue
        roles.append(RoleBinding(role=binding.role, tenant=tenant))
        if binding.role in ADMIN_ROLES:
            grants.append(RoleGrant(role=AdminRole(binding.role.value), tenant=tenant))
    return Viewer(username=username, kind=kind, grants=grants, roles=roles, scopes=sorted(scopes))


async def _payload(ctx: Context, tokens: Tokens) -> AuthPayload:
    return AuthPayload(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        viewer=await viewer_of(ctx, username=tokens.username),
    )


@strawberry.type
class AuthQuery:
    @strawberry.field(description="Who is asking.", extensions=[allow(SignedIn())])
    async def me(self, info: Info[Context, None]) -> Viewer:
        principal = info.context.require_principal()
        return await viewer_of(
            info.context,
            username=principal.name,
            kind=principal.kind,
            scopes=principal.partner_scopes,
        )


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Sign in. A failure never says whether the username exists; after 5 "
        "failures for a username, or 20 from one address, in 15 minutes: RATE_LIMITED."
    )
    async def login(self, info: Info[Context, None], username: str, password: str) -> AuthPayload:
        ctx = info.context
        runtime = ctx.runtime
        tokens = await service.login(
            runtime.engine,
            username=username,
            password=password,
            client=ctx.client_address,
            policy=runtime.tokens,
            now=datetime.now(UTC),
            publish=runtime.hub.publish,
        )
        return await _payload(ctx, tokens)

    @strawberry.mutation(
        description="A new pair of tokens for a refresh token, which is spent. A spent token "
        "used again ends its whole session."
    )
    async def refresh_token(self, info: Info[Context, None], refresh_token: str) -> AuthPayload:
        ctx = info.context
        runtime = ctx.runtime
        try:
            tokens = await service.refresh(
                runtime.engine,
                token=refresh_token,
                client=ctx.client_address,
                policy=runtime.tokens,
                now=datetime.now(UTC),
                publish=runtime.hub.publish,
            )
        except RefreshReused as reused:
            await runtime.control.session_revoked(reused.session_id)
            raise
        return await _payload(ctx, tokens)

    @strawberry.mutation(
        description="End this session: its refresh tokens and access tokens stop working.",
        extensions=[allow(SignedIn())],
    )
    async def logout(self, info: Info[Context, None]) -> bool:
        ctx = info.context
        principal = ctx.require_principal()
        if principal.session_id is None:  # a partner key has no session to end
            return False
        await service.logout(
            ctx.runtime.engine,
            username=principal.name,
            session_id=principal.session_id,
            client=ctx.client_address,
            now=datetime.now(UTC),
        )
        await ctx.runtime.control.session_revoked(principal.session_id)
        return True
