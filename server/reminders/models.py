"""Member reminders and what they are computed from: the party dues ledger, travel abroad
with its declarations, and the reminders themselves (one per cause, whatever the passes);
plus the scheduler's lease, which keeps one leader across processes."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, Enum, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class DeclarationStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class DuesEntry(Base):
    """One member's dues for one month; `paid_on` NULL while unpaid."""

    __tablename__ = "dues_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-10"
    amount: Mapped[float] = mapped_column(Float)
    paid_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint("member_id", "month"),
        Index("ix_dues_ledger_paid_on_month", "paid_on", "month"),
    )


class TravelDeclaration(Base):
    """A member's declaration of private travel abroad, before it."""

    __tablename__ = "travel_declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    destination: Mapped[str] = mapped_column(String(100))
    departs_on: Mapped[date] = mapped_column(Date)
    returns_on: Mapped[date] = mapped_column(Date)
    status: Mapped[DeclarationStatus] = mapped_column(
        Enum(DeclarationStatus, native_enum=False, length=16)
    )
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TravelRecord(Base):
    """Travel abroad as recorded (e.g. from exit and entry records)."""

    __tablename__ = "travel_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    destination: Mapped[str] = mapped_column(String(100))
    departed_on: Mapped[date] = mapped_column(Date)
    returned_on: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reminder(Base):
    """One reminder per cause: (cause, cause_key) is unique, so a pass that runs twice, or in
    two processes, creates it once."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    # The account a reminder is for, when it has one (myReminders looks reminders up by it).
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    cause: Mapped[str] = mapped_column(String(32))  # dues_overdue, travel_undeclared, ...
    cause_key: Mapped[str] = mapped_column(String(100))
    light: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("feed_events.id"))

    __table_args__ = (UniqueConstraint("cause", "cause_key"),)


class SchedulerLease(Base):
    """Who runs the scheduler: a process holds the lease until `expires_at` and renews it on
    each pass; another takes over only after it lapses."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
