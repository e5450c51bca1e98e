"""Party organisations (branches), the unit members belong to."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class BranchCategory(enum.StrEnum):
    AGENCY = "AGENCY"
    NON_PUBLIC = "NON_PUBLIC"
    BUILDING = "BUILDING"
    RED_PROPERTY = "RED_PROPERTY"
    RURAL = "RURAL"


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[BranchCategory] = mapped_column(
        Enum(BranchCategory, native_enum=False, length=16)
    )
    established_on: Mapped[date] = mapped_column(Date)
    secretary: Mapped[str] = mapped_column(String(50))

    __table_args__ = (Index("ix_branches_tenant_id_id", "tenant_id", "id"),)
