"""The feed's outbox: every event the command center streams, stored with the change that
caused it; and alerts, which stay open until someone acknowledges and resolves them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


class FeedKind(enum.StrEnum):
    BRANCH_ACTIVITY = "BRANCH_ACTIVITY"
    ASSESSMENT = "ASSESSMENT"
    SECURITY_ALERT = "SECURITY_ALERT"
    WARNING = "WARNING"


class Light(enum.StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"


class FeedEventRow(Base):
    """Ids are the feed's order: events are written one transaction at a time (see
    server/feed/events.py), so a larger id is always committed after a smaller one."""

    __tablename__ = "feed_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the platform recorded it (its transaction; the commit follows within moments).
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(24))
    light: Mapped[str | None] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255))
    # What a subscriber shows without asking the database: the event carries its tenant and
    # branch as they were.
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_feed_events_tenant_path_id", "tenant_path", "id"),)


class AlertStatus(enum.StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


class Alert(Base):
    """A security alert or a warning that needs follow-up."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    light: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    tenant_path: Mapped[str | None] = mapped_column(byte_ordered_string(255))
    principal: Mapped[str | None] = mapped_column(String(120))
    subject: Mapped[str | None] = mapped_column(String(120))
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    audit_id: Mapped[int | None] = mapped_column(ForeignKey("audit_log.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("feed_events.id"))
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN.value)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_alerts_status_tenant_path", "status", "tenant_path"),)
