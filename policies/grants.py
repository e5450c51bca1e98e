"""Granting and revoking admin roles, with the rules Casbin cannot express.

Casbin knows which role may grant which (policy.csv: `grant, JUNIOR_ADMIN`) and where the
granter's bindings reach. On top of that a grant is valid only:
- for a tier strictly below the granter's own tier at that tenant (no escalation, no peers);
- at a tenant inside the granter's subtree;
- at the level that fits the role (SENIOR_ADMIN at a TOWN, JUNIOR_ADMIN at a VILLAGE).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.enforcer import Binding, domain_of
from policies.models import CasbinRule
from policies.rbac import LEVEL_OF_ROLE, TIER, Role
from server.errors import BadUserInput, Forbidden
from tenants.paths import is_within


def check_grant(
    *,
    granter: Sequence[Binding],
    casbin_allows: bool,
    role: Role,
    tenant_path: str,
    tenant_level: str,
) -> None:
    """Raise unless a granter with these bindings may grant `role` at the tenant.

    Out-of-reach tenants and roles are FORBIDDEN before anything about the tenant is checked,
    so a refusal tells nothing about what lies outside the granter's subtree.
    """
    covering = [TIER[b.role] for b in granter if b.role in TIER and is_within(tenant_path, b.path)]
    if role not in TIER or not covering or TIER[role] <= min(covering) or not casbin_allows:
        raise Forbidden(f"you may not grant or revoke {role.value} there")
    if LEVEL_OF_ROLE[role] != tenant_level:
        raise BadUserInput(
            f"{role.value} is bound at a {LEVEL_OF_ROLE[role]}, not a {tenant_level}",
            argument="tenantId",
        )


def _rule(subject: str, role: Role, path: str) -> dict[str, str]:
    return {"ptype": "g", "v0": subject, "v1": role.value, "v2": domain_of(path)}


async def bind(conn: AsyncConnection, *, subject: str, role: Role, path: str) -> bool:
    """Store the binding; False when it existed already. Never commits."""
    rule = _rule(subject, role, path)
    exists = await conn.scalar(select(CasbinRule.id).filter_by(**rule).limit(1))
    if exists is not None:
        return False
    await conn.execute(insert(CasbinRule).values(**rule))
    return True


async def unbind(conn: AsyncConnection, *, subject: str, role: Role, path: str) -> bool:
    """Remove the binding; False when there was none. Never commits."""
    result = await conn.execute(delete(CasbinRule).filter_by(**_rule(subject, role, path)))
    return bool(result.rowcount)
