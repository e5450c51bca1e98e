"""Turning a bearer token into a Principal, from memory: access tokens are verified by their
signature, revoked sign-in sessions and partner keys are kept in sets reloaded from the
database and kept current through the control bus (policies/sync.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.auth.models import AuthSession, PartnerKey
from server.auth.principal import Principal
from server.auth.tokens import PARTNER_PREFIX, AccessClaims, digest, read_access
from server.errors import Unauthenticated
from tenants.models import Tenant

VERIFIED_CACHE = 10_000  # access tokens whose signature was checked, kept by this process


class Revoked(Unauthenticated):
    """A credential that was valid once and has been revoked: its use is worth an alert."""

    def __init__(self, message: str, *, subject: str, path: str | None = None) -> None:
        super().__init__(message, reason="revoked")
        self.subject = subject
        self.path = path  # the tenant it was bound to, when its binding is gone


@dataclass(frozen=True, slots=True)
class Partner:
    name: str
    tenant_path: str
    scopes: frozenset[str]


class Identity:
    def __init__(self, engine: AsyncEngine, *, secret: str, access_ttl: timedelta) -> None:
        self.engine = engine
        self.secret = secret
        self.access_ttl = access_ttl
        self.revoked: set[str] = set()
        self.partners: dict[str, Partner] = {}  # by key digest
        self.revoked_keys: dict[str, Partner] = {}  # by key digest
        self._verified: dict[str, AccessClaims] = {}
        self._loaded = asyncio.Event()
        self._loading = asyncio.Lock()

    async def load(self) -> None:
        """Reload revoked sessions (those whose access tokens may still be alive) and keys."""
        async with self._loading:
            since = datetime.now(UTC) - self.access_ttl
            async with self.engine.connect() as conn:
                revoked = await conn.scalars(
                    select(AuthSession.id).where(AuthSession.revoked_at >= since)
                )
                keys = (
                    await conn.execute(
                        select(
                            PartnerKey.key_hash,
                            PartnerKey.name,
                            PartnerKey.scopes,
                            PartnerKey.revoked_at,
                            Tenant.path,
                        ).join(Tenant, Tenant.id == PartnerKey.tenant_id)
                    )
                ).all()
                self.revoked = set(revoked)
                self.partners = {
                    row.key_hash: Partner(row.name, row.path, frozenset(row.scopes.split()))
                    for row in keys
                    if row.revoked_at is None
                }
                self.revoked_keys = {
                    row.key_hash: Partner(row.name, row.path, frozenset())
                    for row in keys
                    if row.revoked_at is not None
                }
            self._loaded.set()

    async def ready(self) -> None:
        if not self._loaded.is_set():
            if not self._loading.locked():
                await self.load()
            await self._loaded.wait()

    def revoke(self, session_id: str) -> None:
        self.revoked.add(session_id)

    def resolve(self, authorization: str | None) -> Principal | None:
        """The principal of an `Authorization` header; None without one. A header that does
        not hold a valid credential is UNAUTHENTICATED, saying why."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("use `Authorization: Bearer <token>`", reason="malformed")
        if token.startswith(PARTNER_PREFIX):
            key = digest(token)
            partner = self.partners.get(key)
            if partner is None:
                if key in self.revoked_keys:
                    gone = self.revoked_keys[key]
                    raise Revoked(
                        "the partner key was revoked",
                        subject=f"partner:{gone.name}",
                        path=gone.tenant_path,
                    )
                raise Unauthenticated("the partner key is not valid", reason="invalid")
            return Principal(kind="partner", name=partner.name, partner_scopes=partner.scopes)
        claims = self._verified.get(token)
        if claims is None or claims.expires_at <= datetime.now(UTC):
            claims = read_access(token, self.secret)  # raises when expired or not valid
            # A verified signature stays verified: remember it for the token's other requests.
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = claims
        if claims.session_id in self.revoked:
            raise Revoked("the session has ended; sign in again", subject=f"user:{claims.username}")
        return Principal(
            kind="user",
            name=claims.username,
            user_id=claims.user_id,
            member_id=claims.member_id,
            branch_id=claims.branch_id,
            session_id=claims.session_id,
            expires_at=claims.expires_at,
        )
