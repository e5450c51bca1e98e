"""Venue booking: venues (party-history education sites and meeting rooms) with their opening
hours, bookings, and the granules a booking holds.

Two bookings of one venue never overlap: time is cut into fixed granules (GRANULE, 30
minutes, on the clock's half hours), a booking holds one `venue_granules` row per granule it
covers, and (venue_id, granule_start) is unique. Whatever the backend and however many
requests race, the database lets one transaction hold a granule; the others find it taken.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class VenueKind(enum.StrEnum):
    PARTY_HISTORY_SITE = "PARTY_HISTORY_SITE"  # 党史教育基地
    MEETING_ROOM = "MEETING_ROOM"  # 会议室


class BookingStatus(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    # Not stored: a CONFIRMED booking whose end has passed reads as COMPLETED.
    COMPLETED = "COMPLETED"


class Venue(Base):
    __tablename__ = "venues"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    # JSON {"1": ["09:00", "17:00"], ...}: ISO weekday (1 = Monday) -> local opening and
    # closing time in the district's time zone; a weekday absent is closed all day.
    opening_hours: Mapped[str] = mapped_column(Text)
    # JSON list of ISO dates the venue is closed whatever the weekday (holidays, works).
    closed_dates: Mapped[str] = mapped_column(Text, default="[]")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_venues_tenant_id", "tenant_id"),)


class VenueBooking(Base):
    __tablename__ = "venue_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    # Who booked: the account (reminders reach it by name) and its member, if it is one.
    booked_by: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    purpose: Mapped[str] = mapped_column(String(200))
    head_count: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_venue_bookings_venue_id_starts_at", "venue_id", "starts_at"),
        Index("ix_venue_bookings_booked_by", "booked_by"),
        Index("ix_venue_bookings_branch_id", "branch_id"),
        Index("ix_venue_bookings_status_starts_at", "status", "starts_at"),
    )


class VenueGranule(Base):
    """One granule of a venue held by a confirmed booking; deleted when it is cancelled."""

    __tablename__ = "venue_granules"

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    granule_start: Mapped[datetime] = mapped_column(UTCDateTime)
    booking_id: Mapped[int] = mapped_column(ForeignKey("venue_bookings.id"))

    __table_args__ = (
        UniqueConstraint(
            "venue_id", "granule_start", name="uq_venue_granules_venue_id_granule_start"
        ),
        Index("ix_venue_granules_booking_id", "booking_id"),
    )
