"""Who is asking: a signed-in user or a partner app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["user", "partner"]
    name: str
    user_id: int | None = None
    member_id: int | None = None
    branch_id: int | None = None
    session_id: str | None = None
    expires_at: datetime | None = None
    partner_scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def subject(self) -> str:
        """The Casbin subject: `user:admin`, `partner:gov-portal`."""
        return f"{self.kind}:{self.name}"
