"""Signing in and out: login with rate limits, refresh-token rotation with reuse detection,
logout. Every outcome is audited; brute force and token reuse raise security alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.audit import service as audit
from server.auth.models import AuthSession, LoginThrottle, RefreshToken, User
from server.auth.passwords import hash_password, verify_password
from server.auth.tokens import REFRESH_PREFIX, digest, issue_access, new_secret, new_session_id
from server.errors import RateLimited, Unauthenticated
from server.feed.events import Event, Publish, nobody
from server.members.models import Member

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20
BAD_CREDENTIALS = "wrong username or password"
# Verified when the username is unknown, so that a miss costs what a wrong password costs.
_DUMMY_HASH = hash_password("ehome: no such user")


@dataclass(frozen=True)
class TokenPolicy:
    secret: str
    access_ttl: timedelta
    refresh_ttl: timedelta


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    username: str
    session_id: str


def _principal(username: str) -> str:
    return f"user:{username}"


async def _take_turn(conn: AsyncConnection, *, username: str, client: str | None) -> None:
    """Lock this username's (then this address's) throttle row until the transaction ends:
    attempts for the same name or address count and record their failures one at a time.
    The order is always name, then address, so two attempts never wait for each other."""
    for key in (f"user:{username}", f"addr:{client}" if client else None):
        if key is None:
            continue
        insert_row = (
            pg_insert(LoginThrottle)
            if conn.dialect.name == "postgresql"
            else sqlite_insert(LoginThrottle)
        )
        await conn.execute(
            insert_row.values(key=key).on_conflict_do_update(
                index_elements=["key"], set_={"key": key}
            )
        )


async def _rate_limit(
    conn: AsyncConnection, *, username: str, client: str | None, now: datetime
) -> tuple[str, datetime] | None:
    """The subject over its limit and when its window frees up, or None."""
    since = now - WINDOW
    failures, oldest = await audit.count_since(
        conn, action="login.failure", since=since, subject=username
    )
    if failures >= MAX_FAILURES_PER_USERNAME and oldest is not None:
        return "username", oldest + WINDOW
    if client:
        failures, oldest = await audit.count_since(
            conn, action="login.failure", since=since, client_address=client
        )
        if failures >= MAX_FAILURES_PER_ADDRESS and oldest is not None:
            return "address", oldest + WINDOW
    return None


@dataclass(frozen=True)
class Account:
    """What the tokens say of their user."""

    id: int
    username: str
    member_id: int | None
    branch_id: int | None


async def _issue(
    conn: AsyncConnection, *, user: Account, session_id: str, policy: TokenPolicy, now: datetime
) -> Tokens:
    refresh = new_secret(REFRESH_PREFIX)
    await conn.execute(
        insert(RefreshToken).values(
            session_id=session_id,
            token_hash=digest(refresh),
            issued_at=now,
            expires_at=now + policy.refresh_ttl,
        )
    )
    access, expires = issue_access(
        secret=policy.secret,
        username=user.username,
        user_id=user.id,
        session_id=session_id,
        member_id=user.member_id,
        branch_id=user.branch_id,
        now=now,
        ttl=policy.access_ttl,
    )
    return Tokens(access, refresh, expires, user.username, session_id)


_USER = select(
    User.id, User.username, User.password_hash, User.member_id, User.is_active, Member.branch_id
).outerjoin(Member, Member.id == User.member_id)


async def login(
    engine: AsyncEngine,
    *,
    username: str,
    password: str,
    client: str | None,
    policy: TokenPolicy,
    now: datetime,
    publish: Publish = nobody,
) -> Tokens:
    refusal: Exception | None = None
    events: list[Event] = []
    async with engine.begin() as conn:
        await _take_turn(conn, username=username, client=client)
        home = await audit.home_of(conn, f"user:{username}")
        limited = await _rate_limit(conn, username=username, client=client, now=now)
        if limited is not None:
            by, until = limited
            entry = audit.Entry(
                principal="anonymous",
                tenant_path=home,
                action="login.rate_limited",
                subject=username,
                client_address=client,
                detail={"by": by},
            )
            alerted = await audit.alert(conn, kind="login.brute_force", entry=entry, now=now)
            events += [alerted] if alerted else []
            retry = max(1, int((until - now).total_seconds()) + 1)
            refusal = RateLimited(
                "too many failed sign-ins; try again later", retryAfter=retry, by=by
            )
        else:
            user = (await conn.execute(_USER.where(User.username == username))).first()
            valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
            if user is None or not valid or not user.is_active:
                await audit.append(
                    conn,
                    [
                        audit.Entry(
                            principal="anonymous",
                            tenant_path=home,
                            action="login.failure",
                            subject=username,
                            client_address=client,
                        )
                    ],
                    now=now,
                )
                refusal = Unauthenticated(BAD_CREDENTIALS, reason="credentials")
            else:
                session_id = new_session_id()
                await conn.execute(
                    insert(AuthSession).values(
                        id=session_id, user_id=user.id, created_at=now, client_address=client
                    )
                )
                await conn.execute(update(User).where(User.id == user.id).values(last_login_at=now))
                await audit.append(
                    conn,
                    [
                        audit.Entry(
                            principal=_principal(user.username),
                            tenant_path=home,
                            action="login.success",
                            subject=user.username,
                            client_address=client,
                            detail={"session": session_id},
                        )
                    ],
                    now=now,
                )
                account = Account(user.id, user.username, user.member_id, user.branch_id)
                tokens = await _issue(
                    conn, user=account, session_id=session_id, policy=policy, now=now
                )
    # Raised after the transaction committed: the failure and the alert stay on record.
    await publish(events)
    if refusal is not None:
        raise refusal
    return tokens


class RefreshReused(Unauthenticated):
    """A spent refresh token came back: its session (the whole family) is revoked. The caller
    announces the revocation to the other processes."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            "the refresh token was used already; the session is ended", reason="reused"
        )
        self.session_id = session_id


async def refresh(
    engine: AsyncEngine,
    *,
    token: str,
    client: str | None,
    policy: TokenPolicy,
    now: datetime,
    publish: Publish = nobody,
) -> Tokens:
    """Spend a refresh token for a new pair of tokens in the same session."""
    refusal: Exception | None = None
    events: list[Event] = []
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    RefreshToken.id,
                    RefreshToken.used_at,
                    RefreshToken.expires_at,
                    AuthSession.id.label("session_id"),
                    AuthSession.revoked_at,
                    User.id.label("user_id"),
                    User.username,
                    User.member_id,
                    User.is_active,
                    Member.branch_id,
                )
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .join(User, User.id == AuthSession.user_id)
                .outerjoin(Member, Member.id == User.member_id)
                .where(RefreshToken.token_hash == digest(token))
            )
        ).first()
        if row is None or row.revoked_at is not None or not row.is_active:
            refusal = Unauthenticated("the refresh token is not valid", reason="invalid")
        elif row.expires_at <= now:
            refusal = Unauthenticated("the refresh token has expired", reason="expired")
        else:
            # Spend it; of two concurrent uses only one can win this update.
            spent = await conn.execute(
                update(RefreshToken)
                .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            )
            home = await audit.home_of(conn, f"user:{row.username}")
            if row.used_at is not None or not spent.rowcount:
                await conn.execute(
                    update(AuthSession)
                    .where(AuthSession.id == row.session_id)
                    .values(revoked_at=now, revoked_reason="refresh_reuse")
                )
                entry = audit.Entry(
                    principal=_principal(row.username),
                    tenant_path=home,
                    action="token.refresh_reuse",
                    subject=row.username,
                    client_address=client,
                    detail={"session": row.session_id},
                )
                alerted = await audit.alert(conn, kind="token.refresh_reuse", entry=entry, now=now)
                events += [alerted] if alerted else []
                refusal = RefreshReused(row.session_id)
            else:
                user = Account(row.user_id, row.username, row.member_id, row.branch_id)
                entry = audit.Entry(
                    principal=_principal(row.username),
                    tenant_path=home,
                    action="token.refresh",
                    subject=row.username,
                    client_address=client,
                    detail={"session": row.session_id},
                )
                await audit.append(conn, [entry], now=now)
                tokens = await _issue(
                    conn, user=user, session_id=row.session_id, policy=policy, now=now
                )
    await publish(events)
    if refusal is not None:
        raise refusal
    return tokens


async def logout(
    engine: AsyncEngine, *, username: str, session_id: str, client: str | None, now: datetime
) -> None:
    async with engine.begin() as conn:
        home = await audit.home_of(conn, f"user:{username}")
        await conn.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="logout")
        )
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal=_principal(username),
                    tenant_path=home,
                    action="logout",
                    subject=username,
                    client_address=client,
                    detail={"session": session_id},
                )
            ],
            now=now,
        )
