"""Party members. Phone and ID number are personal data: masked unless the role allows."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import Date, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base


class Gender(enum.StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class MemberStatus(enum.StrEnum):
    FULL = "FULL"
    PROBATIONARY = "PROBATIONARY"


class Education(enum.StrEnum):
    PRIMARY = "PRIMARY"
    JUNIOR_HIGH = "JUNIOR_HIGH"
    SENIOR_HIGH = "SENIOR_HIGH"
    VOCATIONAL = "VOCATIONAL"
    COLLEGE = "COLLEGE"
    BACHELOR = "BACHELOR"
    MASTER = "MASTER"
    DOCTORATE = "DOCTORATE"


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[Gender] = mapped_column(Enum(Gender, native_enum=False, length=8))
    birth_date: Mapped[date] = mapped_column(Date)
    joined_on: Mapped[date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20))
    id_number: Mapped[str] = mapped_column(String(18))
    status: Mapped[MemberStatus] = mapped_column(Enum(MemberStatus, native_enum=False, length=16))
    education: Mapped[Education] = mapped_column(Enum(Education, native_enum=False, length=16))

    # (branch_id, id) serves both a branch's member page and the join from a scoped branch list.
    __table_args__ = (Index("ix_members_branch_id_id", "branch_id", "id"),)
