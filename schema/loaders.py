"""Per-request DataLoaders: one batched IN query per level, whatever the page size.

Every loader reads within the request's Scope, so an id outside it loads as None, exactly like
an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from policies.rbac import Resource
from schema.pagination import PageArgs
from schema.types import (
    ActivityNode,
    BranchNode,
    MemberNode,
    TenantNode,
    activity_node,
    branch_node,
    member_node,
    tenant_node,
)
from server.activities import service as activities
from server.audit import service as audit
from server.branches import service as branches
from server.db import Db
from server.members import service as members
from server.sql import AnyRow
from tenants import service as tenants
from tenants.scope import Scope


def _in_order(keys: Sequence[int], rows: Sequence[AnyRow], make: Any) -> list[Any]:
    by_id = {row.id: row for row in rows}
    return [make(by_id[k]) if k in by_id else None for k in keys]


class Loaders:
    def __init__(self, db: Db, scope_of: Callable[[Resource], Scope]) -> None:
        # Each loader reads within the request's scope for its own kind of object.
        self.db, self.scope_of = db, scope_of
        self.tenant: DataLoader[int, TenantNode | None] = DataLoader(self._tenants)
        self.branch: DataLoader[int, BranchNode | None] = DataLoader(self._branches)
        self.member: DataLoader[int, MemberNode | None] = DataLoader(self._members)
        self.activity: DataLoader[int, ActivityNode | None] = DataLoader(self._activities)
        self.audit_entry: DataLoader[int, Any] = DataLoader(self._audit_entries)
        # The tenants of the viewer's own role bindings, by path, whatever its tenant scope.
        self.own_tenant: DataLoader[str, TenantNode | None] = DataLoader(self._own_tenants)
        self.tenant_children_count: DataLoader[int, int] = DataLoader(self._children_counts)
        self.branch_members_count: DataLoader[int, int] = DataLoader(self._member_counts)
        self._pages: dict[tuple[str, PageArgs], DataLoader[int, list[AnyRow]]] = {}

    async def _tenants(self, ids: list[int]) -> list[TenantNode | None]:
        rows = await tenants.tenants_by_ids(self.db, scope=self.scope_of(Resource.TENANT), ids=ids)
        return _in_order(ids, rows, lambda r: tenant_node(r, self))

    async def _branches(self, ids: list[int]) -> list[BranchNode | None]:
        rows = await branches.branches_by_ids(
            self.db, scope=self.scope_of(Resource.BRANCH), ids=ids
        )
        return _in_order(ids, rows, lambda r: branch_node(r, self, with_tenant=True))

    async def _members(self, ids: list[int]) -> list[MemberNode | None]:
        rows = await members.members_by_ids(self.db, scope=self.scope_of(Resource.MEMBER), ids=ids)
        return _in_order(
            ids, rows, lambda r: member_node(r, self, with_branch=True, with_tenant=True)
        )

    async def _activities(self, ids: list[int]) -> list[ActivityNode | None]:
        rows = await activities.activities_by_ids(
            self.db, scope=self.scope_of(Resource.ACTIVITY), ids=ids
        )
        return _in_order(ids, rows, lambda r: activity_node(r, self))

    async def _own_tenants(self, paths: list[str]) -> list[TenantNode | None]:
        rows = await tenants.tenants_by_paths(self.db, scope=Scope.everything(), paths=paths)
        by_path = {row.path: row for row in rows}
        return [tenant_node(by_path[p], self) if p in by_path else None for p in paths]

    async def _audit_entries(self, ids: list[int]) -> list[Any]:
        from schema.audit import audit_entry_node  # the audit types import this module

        rows = await audit.entries_by_ids(self.db, scope=self.scope_of(Resource.AUDIT), ids=ids)
        return _in_order(ids, rows, lambda r: audit_entry_node(r, self))

    async def _children_counts(self, ids: list[int]) -> list[int]:
        counts = await tenants.children_counts(
            self.db, scope=self.scope_of(Resource.TENANT), parent_ids=ids
        )
        return [counts.get(i, 0) for i in ids]

    async def _member_counts(self, ids: list[int]) -> list[int]:
        counts = await members.counts_by_branch(
            self.db, scope=self.scope_of(Resource.MEMBER), branch_ids=ids
        )
        return [counts.get(i, 0) for i in ids]

    def _paged(
        self, name: str, page: PageArgs, resource: Resource, fetch: Any
    ) -> DataLoader[int, list[AnyRow]]:
        # One loader per (relation, page arguments): parents asking for the same page of their
        # children share one ROW_NUMBER query.
        key = (name, page)
        if key not in self._pages:

            async def load(parent_ids: list[int]) -> list[list[AnyRow]]:
                pages = await fetch(
                    self.db,
                    scope=self.scope_of(resource),
                    parent_ids=parent_ids,
                    after_id=page.after_id,
                    limit=page.fetch,
                )
                return [pages.get(i, []) for i in parent_ids]

            self._pages[key] = DataLoader(load)
        return self._pages[key]

    def tenant_children(self, page: PageArgs) -> DataLoader[int, list[AnyRow]]:
        return self._paged("tenant_children", page, Resource.TENANT, tenants.children_pages)

    def branch_members(self, page: PageArgs) -> DataLoader[int, list[AnyRow]]:
        async def fetch(db: Db, *, parent_ids: Sequence[int], **kw: Any) -> dict[int, list[AnyRow]]:
            return await members.pages_by_branch(db, branch_ids=parent_ids, **kw)

        return self._paged("branch_members", page, Resource.MEMBER, fetch)
