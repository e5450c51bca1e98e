"""Accounts, sign-in sessions, refresh tokens, partner keys and the operations registered for
them. Secrets are stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), unique=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthSession(Base):
    """One sign-in: its refresh tokens form a family; revoking the session ends them all, and
    the access tokens issued in it."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_address: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(Base):
    """Stored as a SHA-256 hash; each use spends it and issues the next of its family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PartnerKey(Base):
    """An API client bound to a subtree with scopes. The key is shown once; only its SHA-256
    hash is kept (a key is 256 random bits: a fast hash is enough, unlike a password)."""

    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    scopes: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PersistedOperation(Base):
    """An operation registered for a partner key (`ehome partner allow`). A key with any
    registered operations may run only those (server/persisted.py). `document` is the
    operation with the fragments it uses, printed canonically; `sha256` is its hex digest."""

    __tablename__ = "persisted_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Looked up through the unique constraint, whose first column it is.
    partner_key_id: Mapped[int] = mapped_column(ForeignKey("partner_keys.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    operation_name: Mapped[str | None] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("partner_key_id", "sha256"),)


class LoginThrottle(Base):
    """One row per username and per client address that tried to sign in. A sign-in locks its
    rows for its transaction, so concurrent attempts for the same name or address count and
    record their failures in turn: a burst of guesses cannot slip past the limit."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
