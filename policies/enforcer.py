"""The process's authorization state: Casbin's enforcer over policy.csv's rights and the role
bindings kept in the database, and the Scopes derived from them.

Everything a request asks of it is answered from memory. The bindings are reloaded when a grant
changes them, in this process at once and in the others through the control bus
(policies/sync.py).
"""

from __future__ import annotations

import asyncio
import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import casbin
from casbin.model import FastModel, fast_policy_filter
from casbin.util import key_match
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.models import CasbinRule
from policies.rbac import PARTNER_SCOPES, Action, Resource, Role
from server.auth.principal import Principal
from tenants.models import Tenant
from tenants.paths import check as check_path
from tenants.scope import Scope

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.conf"
POLICY = HERE / "policy.csv"
FAST_KEYS = (2, 3)  # positions of resource and action in a p row and in a request


def rights_from_csv(path: Path = POLICY) -> list[list[str]]:
    """The p rows of policy.csv (comments and blank lines skipped)."""
    rows = []
    with path.open(newline="") as handle:
        for row in csv.reader(handle, skipinitialspace=True):
            if row and not row[0].startswith("#"):
                if row[0] != "p" or len(row) != 6:
                    raise ValueError(f"{path}: bad policy line {row}")
                rows.append(row[1:])
    return rows


@dataclass(frozen=True, slots=True)
class Binding:
    role: Role
    path: str  # the anchor's tenant path, ending in '/'


def domain_of(path: str) -> str:
    """The binding's domain pattern: the anchor's subtree."""
    return check_path(path) + "*"


class Authz:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Policy rows indexed by (resource, action): a check evaluates the matcher only on the
        # few rows about that resource and action, not on every row of every role.
        model = FastModel(FAST_KEYS)
        model.load_model(str(MODEL))
        self.enforcer = casbin.AsyncEnforcer(model, Adapter(engine, db_class=CasbinRule))
        # Bindings are written by ehome in its own transactions (with their audit entries);
        # the enforcer only reads them.
        self.enforcer.enable_auto_save(False)
        self.enforcer.add_named_domain_matching_func("g", key_match)
        self._rights: dict[Role, frozenset[tuple[str, str]]] = {}
        self._bindings: dict[str, tuple[Binding, ...]] = {}
        self._loaded = asyncio.Event()
        self._reloading = asyncio.Lock()

    async def load(self) -> None:
        """(Re)load the bindings from the database and the rights from policy.csv."""
        async with self._reloading:
            await self.enforcer.load_policy()
            # The database holds only g rows; the rights come from the file, into memory.
            model = self.enforcer.get_model()
            for rule in rights_from_csv():
                model.add_policy("p", "p", rule)
            rights: dict[Role, set[tuple[str, str]]] = defaultdict(set)
            for role, _domain, obj, act, eft in self.enforcer.get_policy():
                if eft == "allow":
                    rights[Role(role)].add((obj, act))
            bindings: dict[str, list[Binding]] = defaultdict(list)
            for subject, role, domain, *_ in self.enforcer.get_grouping_policy():
                bindings[subject].append(Binding(Role(role), domain.removesuffix("*")))
            # Casbin matches a tenant path against every binding's pattern the first time it
            # is asked about that path (~0.2-0.5 ms); ask about every tenant now, so that
            # requests only meet the warm lookups.
            async with self._engine.connect() as conn:
                paths = (await conn.scalars(select(Tenant.path))).all()
            for path in paths:
                self.enforcer.enforce("warm-up", path, Resource.TENANT.value, Action.READ.value)
            self._rights = {role: frozenset(r) for role, r in rights.items()}
            self._bindings = {
                s: tuple(sorted(b, key=lambda x: x.path)) for s, b in bindings.items()
            }
            self._loaded.set()

    async def ready(self) -> None:
        if not self._loaded.is_set():
            if not self._reloading.locked():
                await self.load()
            await self._loaded.wait()

    def bindings(self, subject: str) -> tuple[Binding, ...]:
        return self._bindings.get(subject, ())

    def has_right(self, role: Role, resource: Resource | str, action: Action | str) -> bool:
        return (str(resource), str(action)) in self._rights.get(role, frozenset())

    def allows(
        self, principal: Principal, path: str, resource: Resource | str, action: Action | str
    ) -> bool:
        """Casbin's verdict: may the principal do `action` on `resource` at tenant `path`?"""
        if principal.kind == "partner" and not _partner_may(principal, resource):
            return False
        policy = self.enforcer.get_model().model["p"]["p"].policy
        with fast_policy_filter(policy, str(resource), str(action)):
            return bool(self.enforcer.enforce(principal.subject, path, str(resource), str(action)))

    def scope(self, principal: Principal, resource: Resource, action: Action) -> Scope:
        """Where the principal may do `action` on `resource`: one Scope for one SQL predicate."""
        if principal.kind == "partner" and not _partner_may(principal, resource):
            return Scope.nothing()
        roots: list[str] = []
        branch_ids: set[int] = set()
        member_ids: set[int] = set()
        for binding in self.bindings(principal.subject):
            if not self.has_right(binding.role, resource, action):
                continue
            if binding.role is Role.MEMBER:
                # A member sees its own record and its own branch, and the tenant tree above.
                if resource is Resource.MEMBER and principal.member_id is not None:
                    member_ids.add(principal.member_id)
                elif resource in MEMBER_OWN:
                    # Its own file, reminders and screening results.
                    if principal.member_id is not None:
                        member_ids.add(principal.member_id)
                elif resource is Resource.ASSESSMENT and action is Action.READ_SENSITIVE:
                    # Results: its own, and its own branch's.
                    if principal.member_id is not None:
                        member_ids.add(principal.member_id)
                    if principal.branch_id is not None:
                        branch_ids.add(principal.branch_id)
                elif resource in (Resource.BRANCH, Resource.ACTIVITY):
                    if principal.branch_id is not None:
                        branch_ids.add(principal.branch_id)
                elif resource in SERVICE_COLUMNS:
                    # The services offered where it lives: its branch's tenant's subtree.
                    roots.append(binding.path)
                elif resource in (Resource.TENANT, Resource.ASSESSMENT):
                    # Templates are district-wide reference data: members read them all.
                    roots.append(binding.path)
            else:
                roots.append(binding.path)
        return Scope(Scope.of(*roots).roots, frozenset(branch_ids), frozenset(member_ids))


# What a MEMBER binding opens of these resources: its own rows only.
MEMBER_OWN = frozenset({Resource.ARCHIVE, Resource.REMINDER, Resource.SCREENING})
# The service columns: a MEMBER binding opens its own tenant's subtree of them (read only).
SERVICE_COLUMNS = frozenset(
    {Resource.LEARNING, Resource.LECTURER, Resource.VOLUNTEER, Resource.VENUE, Resource.ONE_FORM}
)


def _partner_may(principal: Principal, resource: Resource | str) -> bool:
    return any(
        PARTNER_SCOPES[s] == resource for s in principal.partner_scopes if s in PARTNER_SCOPES
    )
