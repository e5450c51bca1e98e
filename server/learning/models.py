"""e-Learning: the catalogue (five sections), cohorts' items, and members' enrolments.

A completion is an enrolment with `completed_at` set: the credit hours it awarded are copied
onto it then, so a later change of the item's hours does not rewrite anyone's history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


class Section(enum.StrEnum):
    COURSE = "COURSE"  # 课程
    MICRO_CLASS = "MICRO_CLASS"  # 微课
    TOPIC = "TOPIC"  # 专题
    BOOK = "BOOK"  # 书籍
    CLASS = "CLASS"  # 班级: a cohort with dates, a capacity and items


class ItemState(enum.StrEnum):
    DRAFT = "DRAFT"  # visible to the admins who may write where it is published
    PUBLISHED = "PUBLISHED"  # visible to everyone in (and admins overlapping) its subtree
    WITHDRAWN = "WITHDRAWN"  # no new enrolments; past completions keep their hours


class LearningItem(Base):
    __tablename__ = "learning_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    section: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text)
    credit_hours: Mapped[float] = mapped_column(Float)
    # JSON lists: the branch categories it suits ([] = all) and its tags.
    categories: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text)
    # The tenant it is published to; compared by range with the scope predicate.
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255))
    state: Mapped[str] = mapped_column(String(16))
    # A cohort's (CLASS) dates and capacity; `enrolled` is its seat counter, raised by a
    # conditional UPDATE so that concurrent enrolments never pass the capacity.
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    capacity: Mapped[int | None] = mapped_column(Integer)
    enrolled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_learning_items_tenant_path_id", "tenant_path", "id"),
        Index("ix_learning_items_state_id", "state", "id"),
    )


class LearningClassItem(Base):
    """An item studied in a cohort (CLASS), in order."""

    __tablename__ = "learning_class_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("learning_items.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("learning_items.id"))
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("class_id", "item_id", name="uq_learning_class_items_class_id_item_id"),
    )


class LearningEnrolment(Base):
    __tablename__ = "learning_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("learning_items.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    progress: Mapped[int] = mapped_column(Integer)  # 0-100, never goes back
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The hours awarded at completion (the item's at that moment); NULL until completed.
    credit_hours: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("item_id", "member_id", name="uq_learning_enrolments_item_id_member_id"),
        Index("ix_learning_enrolments_member_id_completed_at", "member_id", "completed_at"),
    )
