"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


class AuditEntry(Base):
    """One entry. `hash` = SHA-256 of the previous entry's hash and this entry's canonical
    content, so changing or removing a row breaks every hash after it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    principal: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    # The tenant the entry concerns; scoped readers see entries of their subtree.
    tenant_path: Mapped[str | None] = mapped_column(byte_ordered_string(255))
    subject: Mapped[str | None] = mapped_column(String(120))
    client_address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_tenant_path_id", "tenant_path", "id"),
        # Login rate limits count recent failures by username and by client address.
        Index("ix_audit_log_action_subject_occurred_at", "action", "subject", "occurred_at"),
        Index("ix_audit_log_action_client_occurred_at", "action", "client_address", "occurred_at"),
    )


class AuditHead(Base):
    """One row: the last entry's id and hash. Appending updates it in the same transaction,
    and its row lock makes concurrent appenders take turns, so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
