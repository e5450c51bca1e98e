"""Red lecturers (红色讲师库), their bookings, and live classes (空中课堂) with quizzes.

No double booking is the database's job: a booking that holds its slot owns one row of
`lecturer_slot_holds`, unique per (lecturer, date, slot); declining or cancelling deletes the
row, which frees the slot. Two concurrent requests for one slot cannot both insert it, on
SQLite (writes are serialized) and PostgreSQL (the second waits on the unique index, then
fails) alike.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class Slot(enum.StrEnum):
    """The fixed slots of a day a lecturer is booked for."""

    MORNING = "MORNING"
    AFTERNOON = "AFTERNOON"
    EVENING = "EVENING"


class BookingStatus(enum.StrEnum):
    REQUESTED = "REQUESTED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


class QuestionKind(enum.StrEnum):
    SINGLE = "SINGLE"
    MULTIPLE = "MULTIPLE"


class Lecturer(Base):
    __tablename__ = "lecturers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(100))  # 职称/职务
    affiliation: Mapped[str] = mapped_column(String(100))  # 单位
    topics: Mapped[str] = mapped_column(Text)  # JSON list of topic names
    bio: Mapped[str] = mapped_column(Text)
    # The username of the account that signs in as this lecturer (accepts and declines).
    account: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_lecturers_tenant_id", "tenant_id"),
        UniqueConstraint("account", name="uq_lecturers_account"),
    )


class LecturerBooking(Base):
    __tablename__ = "lecturer_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    lecturer_id: Mapped[int] = mapped_column(ForeignKey("lecturers.id"))
    # Where the lecture is for: a tenant of the booker's subtree, or one of its branches.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    topic: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[Slot] = mapped_column(Enum(Slot, native_enum=False, length=10))
    status: Mapped[BookingStatus] = mapped_column(Enum(BookingStatus, native_enum=False, length=10))
    booked_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)  # the lecturer's or the canceller's
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_lecturer_bookings_lecturer_id_day", "lecturer_id", "day"),
        Index("ix_lecturer_bookings_tenant_id", "tenant_id"),
    )


class LecturerSlotHold(Base):
    """A held slot: one row per REQUESTED or ACCEPTED booking, deleted when it ends."""

    __tablename__ = "lecturer_slot_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    lecturer_id: Mapped[int] = mapped_column(ForeignKey("lecturers.id"))
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[Slot] = mapped_column(Enum(Slot, native_enum=False, length=10))
    booking_id: Mapped[int] = mapped_column(ForeignKey("lecturer_bookings.id"))

    __table_args__ = (
        UniqueConstraint(
            "lecturer_id", "day", "slot", name="uq_lecturer_slot_holds_lecturer_id_day_slot"
        ),
        UniqueConstraint("booking_id", name="uq_lecturer_slot_holds_booking_id"),
    )


class LiveClass(Base):
    __tablename__ = "live_classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    lecturer_id: Mapped[int] = mapped_column(ForeignKey("lecturers.id"))
    # The host: its admins run the class; members of its subtree take part.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_end: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_live_classes_tenant_id", "tenant_id"),)


class LiveAttendance(Base):
    __tablename__ = "live_attendances"

    id: Mapped[int] = mapped_column(primary_key=True)
    live_class_id: Mapped[int] = mapped_column(ForeignKey("live_classes.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "live_class_id", "member_id", name="uq_live_attendances_live_class_id_member_id"
        ),
    )


class LiveQuestion(Base):
    __tablename__ = "live_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    live_class_id: Mapped[int] = mapped_column(ForeignKey("live_classes.id"))
    text: Mapped[str] = mapped_column(String(500))
    kind: Mapped[QuestionKind] = mapped_column(Enum(QuestionKind, native_enum=False, length=10))
    options: Mapped[str] = mapped_column(Text)  # JSON list of option texts
    correct: Mapped[str] = mapped_column(Text)  # JSON sorted list of option indexes (from 0)
    points: Mapped[int] = mapped_column(Integer)
    time_limit: Mapped[int] = mapped_column(Integer)  # seconds
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)  # answers refused from then on
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # results published

    __table_args__ = (Index("ix_live_questions_live_class_id", "live_class_id"),)


class LiveAnswer(Base):
    __tablename__ = "live_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("live_questions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    choices: Mapped[str] = mapped_column(Text)  # JSON sorted list of option indexes
    score: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("question_id", "member_id", name="uq_live_answers_question_id_member_id"),
        Index("ix_live_answers_member_id", "member_id"),
    )
