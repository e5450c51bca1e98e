"""The tenant tree: district > towns/streets > villages/communities."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, byte_ordered_string


class TenantLevel(enum.StrEnum):
    DISTRICT = "DISTRICT"
    TOWN = "TOWN"
    VILLAGE = "VILLAGE"


LEVEL_DEPTH = {TenantLevel.DISTRICT: 1, TenantLevel.TOWN: 2, TenantLevel.VILLAGE: 3}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    level: Mapped[TenantLevel] = mapped_column(Enum(TenantLevel, native_enum=False, length=16))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # Materialized path, e.g. /d01/t03/v017/; the scope filter is a range scan on this index.
    path: Mapped[str] = mapped_column(byte_ordered_string(255), unique=True)

    __table_args__ = (Index("ix_tenants_level_path", "level", "path"),)
