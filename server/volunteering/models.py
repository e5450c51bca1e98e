"""Volunteering (e服务): service centers, micro-wishes (微心愿) and volunteer services (志愿服务).

A center sits at a town or village tenant; wishes and services belong to a center and are
scoped by the center's tenant path. States are text (see server/volunteering/states.py for the
two state machines); every move is a conditional UPDATE on the state, so concurrent moves
(two members claiming one wish) leave exactly one winner.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class CenterKind(enum.StrEnum):
    PARTY_MASS = "PARTY_MASS"  # 党群服务中心
    COMMUNITY = "COMMUNITY"  # 社区便民服务中心


class ServiceCenter(Base):
    __tablename__ = "service_centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_service_centers_tenant_id", "tenant_id"),
        UniqueConstraint("tenant_id", "name", name="uq_service_centers_tenant_id_name"),
    )


class MicroWish(Base):
    """A wish a person in need posts through a center; one member claims and fulfils it."""

    __tablename__ = "micro_wishes"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"))
    # The requester is not a user: personal data, masked unless the viewer may read it.
    requester_name: Mapped[str] = mapped_column(String(50))
    requester_phone: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12))
    posted_by: Mapped[str] = mapped_column(String(120))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completion_note: Mapped[str | None] = mapped_column(Text)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_micro_wishes_center_id_state", "center_id", "state"),
        Index("ix_micro_wishes_claimer_id", "claimer_id"),
        Index("ix_micro_wishes_completed_at", "completed_at"),
    )


class VolunteerService(Base):
    """A volunteer service an admin initiates at a center: members sign up to its capacity."""

    __tablename__ = "volunteer_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("service_centers.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    # Kept with the row and moved by the same conditional UPDATE that admits a sign-up, so the
    # capacity holds under concurrent sign-ups on both backends.
    signed_up: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(12))
    initiated_by: Mapped[str] = mapped_column(String(120))
    initiated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completion_note: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_volunteer_services_center_id_state", "center_id", "state"),
        Index("ix_volunteer_services_completed_at", "completed_at"),
    )


class VolunteerSignup(Base):
    """A member's sign-up for a service; attendance and rating once the service is done."""

    __tablename__ = "volunteer_signups"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("volunteer_services.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attended: Mapped[bool | None] = mapped_column()
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint(
            "service_id", "member_id", name="uq_volunteer_signups_service_id_member_id"
        ),
        Index("ix_volunteer_signups_member_id", "member_id"),
    )
