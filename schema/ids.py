"""Relay global ids (`base64("Member:42")`) and opaque page cursors."""

from __future__ import annotations

import base64
import binascii

from strawberry import ID

from server.errors import BadUserInput

_CURSOR = "cursor"


def _encode(kind: str, value: int) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


MAX_KEY = 2**31 - 1


def _decode(token: str, what: str) -> tuple[str, int]:
    try:
        kind, _, raw = base64.b64decode(token.encode(), validate=True).decode().partition(":")
        value = int(raw)
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{what} {token!r} is malformed", argument=what) from None
    if not kind or value < 0 or str(value) != raw:
        raise BadUserInput(f"{what} {token!r} is malformed", argument=what)
    # Keys are 32-bit integers on PostgreSQL: a larger one would fail in the driver, not here.
    if value > MAX_KEY:
        raise BadUserInput(f"{what} {token!r} is out of range", argument=what)
    return kind, value


def global_id(type_name: str, pk: int) -> ID:
    return ID(_encode(type_name, pk))


def parse_global_id(token: str, *, argument: str = "id") -> tuple[str, int]:
    return _decode(token, argument)


def id_of(token: str, kind: str, argument: str = "id") -> int:
    """The key of a global id that must be of `kind`, or BAD_USER_INPUT naming `argument`."""
    found, pk = _decode(token, argument)
    if found != kind:
        article = "an" if kind[0] in "AEIOU" else "a"
        raise BadUserInput(f"{argument} must be the id of {article} {kind}", argument=argument)
    return pk


def cursor(pk: int) -> str:
    return _encode(_CURSOR, pk)


def parse_cursor(token: str) -> int:
    kind, value = _decode(token, "after")
    if kind != _CURSOR:
        raise BadUserInput(f"after {token!r} is not a cursor", argument="after")
    return value
