"""The per-request Context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from schema.ids import parse_global_id
from schema.loaders import Loaders
from server.db import Db
from server.errors import BadUserInput
from tenants.scope import Scope


@dataclass
class Context:
    db: Db
    scope: Scope
    request_id: str
    timezone: ZoneInfo
    request: Request | WebSocket | None = None
    response: Response | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.db, self.scope)

    async def scope_under(self, under: str | None) -> Scope:
        """The request's scope narrowed to the subtree of the tenant `under`.

        A tenant outside the scope, or one that does not exist, narrows to nothing: the answer
        is empty either way, so it tells nothing about what lies outside.
        """
        if under is None:
            return self.scope
        kind, pk = parse_global_id(under, argument="under")
        if kind != "Tenant":
            raise BadUserInput("under must be the id of a Tenant", argument="under")
        tenant = await self.loaders.tenant.load(pk)
        return Scope(()) if tenant is None else self.scope.narrow(tenant.path)

    async def close(self) -> None:
        await self.db.close()
