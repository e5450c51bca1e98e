"""Access tokens (short-lived JWTs) and opaque secrets (refresh tokens, partner keys)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from server.errors import Unauthenticated

ALGORITHM = "HS256"
REFRESH_PREFIX = "ehr_"
PARTNER_PREFIX = "ehk_"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    username: str
    user_id: int
    session_id: str
    member_id: int | None
    branch_id: int | None
    expires_at: datetime


def issue_access(
    *,
    secret: str,
    username: str,
    user_id: int,
    session_id: str,
    member_id: int | None,
    branch_id: int | None,
    now: datetime,
    ttl: timedelta,
) -> tuple[str, datetime]:
    expires = now + ttl
    claims = {
        "sub": username,
        "uid": user_id,
        "sid": session_id,
        "mid": member_id,
        "bid": branch_id,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def read_access(token: str, secret: str) -> AccessClaims:
    """The claims of a valid access token; anything else is UNAUTHENTICATED, saying why."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "uid", "sid", "exp", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(
            "the access token has expired; refresh it", reason="expired"
        ) from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the access token is not valid", reason="invalid") from None
    if claims.get("typ") != "access":
        raise Unauthenticated("the access token is not valid", reason="invalid")
    return AccessClaims(
        username=str(claims["sub"]),
        user_id=int(claims["uid"]),
        session_id=str(claims["sid"]),
        member_id=claims.get("mid"),
        branch_id=claims.get("bid"),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
    )


def new_secret(prefix: str) -> str:
    """256 random bits, URL-safe, with a prefix that tells what the secret is."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256. Random 256-bit secrets need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_session_id() -> str:
    return uuid.uuid4().hex
