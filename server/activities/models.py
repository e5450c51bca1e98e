"""Branch activities: the three meetings and a lecture, theme days, service, study."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class ActivityKind(enum.StrEnum):
    BRANCH_MEETING = "BRANCH_MEETING"
    COMMITTEE_MEETING = "COMMITTEE_MEETING"
    GROUP_MEETING = "GROUP_MEETING"
    PARTY_LECTURE = "PARTY_LECTURE"
    THEME_DAY = "THEME_DAY"
    VOLUNTEER_SERVICE = "VOLUNTEER_SERVICE"
    STUDY_SESSION = "STUDY_SESSION"


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    kind: Mapped[ActivityKind] = mapped_column(Enum(ActivityKind, native_enum=False, length=24))
    title: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attendance: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_activities_branch_id_occurred_at", "branch_id", "occurred_at"),
        Index("ix_activities_occurred_at", "occurred_at"),
    )
