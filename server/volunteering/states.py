"""The two state machines, and the one way every move is made.

Micro-wish (微心愿)::

    post     → OPEN                       admin of the center's subtree, for the requester
    claim      OPEN → CLAIMED             a member who may see the wish (exactly one wins)
    release    CLAIMED → OPEN             the claimer gives it up
    complete   CLAIMED → COMPLETED        the claimer, with a note (a VOLUNTEER_SERVICE activity)
    rate       COMPLETED → RATED          admin, for the requester: 1-5 and a comment
    withdraw   OPEN | CLAIMED → WITHDRAWN admin: the requester no longer needs it
    cancel     OPEN | CLAIMED → CANCELLED admin: the center calls it off (duplicate, unsuitable)

Volunteer service (志愿服务)::

    initiate → OPEN                       admin of the center's subtree
    sign up / withdraw sign-up            members, while OPEN and not ended (capacity)
    complete   OPEN → COMPLETED           admin, with who attended (VOLUNTEER_SERVICE activities)
    rate       COMPLETED → RATED          admin: 1-5 and a comment per participant
    cancel     OPEN → CANCELLED           admin

Any other move is BAD_USER_INPUT naming the current state. A move is one conditional UPDATE
(`... WHERE id = :id AND state IN (:from)`): of two concurrent moves from the same state the
database lets one through and the other updates no row; that one is then told the state the
winner left (`refuse`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.errors import BadUserInput


class WishState(enum.StrEnum):
    OPEN = "OPEN"
    CLAIMED = "CLAIMED"
    COMPLETED = "COMPLETED"
    RATED = "RATED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"


class ServiceState(enum.StrEnum):
    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    RATED = "RATED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class Move:
    name: str
    sources: tuple[str, ...]
    target: str
    verb: str  # for the message: "claim", "complete", ...


WISH_MOVES = {
    m.name: m
    for m in (
        Move("claim", (WishState.OPEN,), WishState.CLAIMED, "claim"),
        Move("release", (WishState.CLAIMED,), WishState.OPEN, "release"),
        Move("complete", (WishState.CLAIMED,), WishState.COMPLETED, "complete"),
        Move("rate", (WishState.COMPLETED,), WishState.RATED, "rate"),
        Move("withdraw", (WishState.OPEN, WishState.CLAIMED), WishState.WITHDRAWN, "withdraw"),
        Move("cancel", (WishState.OPEN, WishState.CLAIMED), WishState.CANCELLED, "cancel"),
    )
}
SERVICE_MOVES = {
    m.name: m
    for m in (
        Move("complete", (ServiceState.OPEN,), ServiceState.COMPLETED, "complete"),
        Move("rate", (ServiceState.COMPLETED,), ServiceState.RATED, "rate"),
        Move("cancel", (ServiceState.OPEN,), ServiceState.CANCELLED, "cancel"),
    )
}


def refuse(move: Move, state: str, *, what: str, argument: str = "id") -> BadUserInput:
    """The error for a move the current state does not allow: it names the state."""
    allowed = " or ".join(move.sources)
    return BadUserInput(
        f"this {what} is {state}: only a {what} that is {allowed} can be {_done(move.verb)}",
        argument=argument,
        state=state,
    )


def _done(verb: str) -> str:
    return {
        "claim": "claimed",
        "release": "released",
        "complete": "completed",
        "rate": "rated",
        "withdraw": "withdrawn",
        "cancel": "cancelled",
    }[verb]


def check(move: Move, state: str, *, what: str) -> None:
    if state not in move.sources:
        raise refuse(move, state, what=what)


async def apply(
    conn: AsyncConnection,
    table: Table,
    move: Move,
    pk: int,
    *,
    what: str,
    guard: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> None:
    """Make `move` on row `pk` if its state (and every `guard` column) still allows it, in one
    conditional UPDATE; otherwise BAD_USER_INPUT naming the state the row is in now."""
    stmt = (
        update(table)
        .where(table.c.id == bindparam("pk"))
        .where(table.c.state.in_(list(move.sources)))
        .values(state=move.target, **(values or {}))
    )
    for column, value in (guard or {}).items():
        stmt = stmt.where(table.c[column] == value)
    result = await conn.execute(stmt, {"pk": pk})
    if result.rowcount == 1:
        return
    state = await conn.scalar(select(table.c.state).where(table.c.id == pk))
    if state is None or state in move.sources:
        # The state allowed it, so a guard did not: the caller checked those before and
        # raises its own error; reaching here means the row changed under us.
        raise BadUserInput(f"this {what} changed meanwhile: try again", argument="id", state=state)
    raise refuse(move, str(state), what=what)
