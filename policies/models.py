"""Casbin's rule table (the shape casbin-async-sqlalchemy-adapter reads and writes), owned by
ehome's migrations. Only role bindings (g rows) live here; rights are in policy.csv."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class CasbinRule(Base):
    __tablename__ = "casbin_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    ptype: Mapped[str | None] = mapped_column(String(255))
    v0: Mapped[str | None] = mapped_column(String(255))
    v1: Mapped[str | None] = mapped_column(String(255))
    v2: Mapped[str | None] = mapped_column(String(255))
    v3: Mapped[str | None] = mapped_column(String(255))
    v4: Mapped[str | None] = mapped_column(String(255))
    v5: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_casbin_rule_ptype_v0", "ptype", "v0"),)

    def __str__(self) -> str:
        # The adapter hands rows to Casbin as policy lines: "g, user:admin, SUPER_ADMIN, /d01/*".
        values = [self.ptype, self.v0, self.v1, self.v2, self.v3, self.v4, self.v5]
        while values and values[-1] is None:
            values.pop()
        return ", ".join(v or "" for v in values)
