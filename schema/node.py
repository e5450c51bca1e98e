"""Query.node: any object by its global id; absent or out of scope reads as null."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from schema.context import Context
from schema.ids import parse_global_id
from schema.permissions import SignedIn, allow
from schema.types import Node


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="The object with this global id, or null when there is none the viewer "
        "may see.",
        extensions=[allow(SignedIn())],
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        kind, pk = parse_global_id(id)
        loaders = info.context.loaders
        loader: Any = {
            "Tenant": loaders.tenant,
            "Branch": loaders.branch,
            "Member": loaders.member,
            "Activity": loaders.activity,
            "AuditEntry": loaders.audit_entry,
        }.get(kind)
        return None if loader is None else await loader.load(pk)
