"""Query.node: any object by its global id; absent or out of scope reads as null.

Each kind is loaded by the same function as its own single-object query (`venue(id:)`,
`microWish(id:)`, ...), so visibility, masking and audit cannot differ between the two ways in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from schema.archives import load_cadre
from schema.context import Context
from schema.ids import parse_global_id
from schema.learning import load_learning_item
from schema.lecturers import load_lecturer
from schema.live_classes import load_live_class
from schema.permissions import SignedIn, allow
from schema.types import Node
from schema.venues import load_venue
from schema.volunteering import load_micro_wish, load_service_center, load_volunteer_service

Loader = Callable[[Context, int], Awaitable[Any]]


def _batched(name: str) -> Loader:
    """The core kinds: through the request's scoped DataLoader of that name."""

    async def load(ctx: Context, pk: int) -> Any:
        return await getattr(ctx.loaders, name).load(pk)

    return load


# Global id kind -> the loader answering for it (None: absent or out of the viewer's scope).
LOADERS: dict[str, Loader] = {
    "Tenant": _batched("tenant"),
    "Branch": _batched("branch"),
    "Member": _batched("member"),
    "Activity": _batched("activity"),
    "AuditEntry": _batched("audit_entry"),
    "LearningItem": load_learning_item,
    "Lecturer": load_lecturer,
    "LiveClass": load_live_class,
    "ServiceCenter": load_service_center,
    "MicroWish": load_micro_wish,
    "VolunteerService": load_volunteer_service,
    "Venue": load_venue,
    "Cadre": load_cadre,
}


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="The object with this global id, or null when there is none the viewer "
        "may see.",
        extensions=[allow(SignedIn())],
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        kind, pk = parse_global_id(id)
        loader = LOADERS.get(kind)
        result: Node | None = None if loader is None else await loader(info.context, pk)
        return result
