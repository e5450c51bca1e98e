"""Reading accounts."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from server.auth.models import User
from server.db import Db

_EXISTS = select(User.id).where(User.username == bindparam("username")).limit(1)


async def exists(db: Db, *, username: str) -> bool:
    return await db.scalar(_EXISTS, {"username": username}) is not None
