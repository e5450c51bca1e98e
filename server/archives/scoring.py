"""A cadre's five-dimension scores (0-100) from its verified archive records.

The formula (also in the README, "Cadre archive"):

    Each of the five dimensions (LOYALTY, DETERMINATION, RESPONSIBILITY, ABILITY,
    SELF_DISCIPLINE) starts at a base of 80. Only VERIFIED records count, and only those in the
    rolling window: dated (`occurred_on`) within the 365 days before the day of `now`
    (today - 365 days < occurred_on; a record dated after today, a time-zone edge, counts as
    today's). Each record moves the dimension of its indicator:
        a POSITIVE record adds the indicator's `points`;
        a NEGATIVE record subtracts 2 x `points`, a serious one 3 x `points`;
    a record older than 180 days (today - occurred_on > 180 days) counts half.
    The sum is clamped to [0, 100] and rounded to one decimal.

    value = round(clamp(80 + sum(sign x factor x points x age weight), 0, 100), 1)
        sign x factor: +1 (positive), -2 (negative), -3 (serious negative)
        age weight:    1 (up to 180 days old), 0.5 (181 to 364 days old)

Scores are stored per cadre in `cadre_scores` (with the number of verified records in the
window) by `score_all` (the scheduler, once a day, for every cadre) and `score_one` (after a
review verifies a record). Both share the pure `Tally` below, so they cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    Cadre,
    CadreScore,
    Dimension,
    Polarity,
    ReviewStatus,
)
from server.db import Db
from server.sql import AnyRow
from tenants.models import Tenant
from tenants.scope import Scope

BASE = 80.0
WINDOW_DAYS = 365
HALF_AFTER_DAYS = 180
NEGATIVE_FACTOR = 2.0
SERIOUS_FACTOR = 3.0
FLOOR, CEILING = 0.0, 100.0
DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
# The column of cadre_scores that holds each dimension.
COLUMN = {d: d.value.lower() for d in DIMENSIONS}
CHUNK = 2000

Reader = Db | AsyncConnection
R, IND = ArchiveRecord, ArchiveIndicator


class RecordFacts(Protocol):
    """What the formula reads of one verified record (a row of `_RECORDS` has these)."""

    @property
    def dimension(self) -> Dimension: ...
    @property
    def polarity(self) -> Polarity: ...
    @property
    def points(self) -> float: ...
    @property
    def serious(self) -> bool: ...
    @property
    def occurred_on(self) -> date: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """One record as the formula sees it, for callers without a row (tests, the bench)."""

    dimension: Dimension
    polarity: Polarity
    points: float
    serious: bool
    occurred_on: date


def window_start(today: date) -> date:
    """Records dated after this day are in the window."""
    return today - timedelta(days=WINDOW_DAYS)


def contribution(record: RecordFacts, today: date) -> float | None:
    """What one verified record adds to its dimension; None outside the window."""
    age = max((today - record.occurred_on).days, 0)
    if age >= WINDOW_DAYS:
        return None
    if Polarity(record.polarity) is Polarity.POSITIVE:
        signed = record.points
    else:
        signed = -(SERIOUS_FACTOR if record.serious else NEGATIVE_FACTOR) * record.points
    return signed * (0.5 if age > HALF_AFTER_DAYS else 1.0)


@dataclass
class Tally:
    """One cadre's records, added one at a time; `values()` is the formula's result."""

    parts: dict[Dimension, list[float]] = field(default_factory=dict)
    records: int = 0

    def add(self, record: RecordFacts, today: date) -> None:
        delta = contribution(record, today)
        if delta is None:
            return
        self.records += 1
        self.parts.setdefault(Dimension(record.dimension), []).append(delta)

    def values(self) -> dict[Dimension, float]:
        # fsum: exact, so the order records arrive in never changes a rounded value.
        return {
            d: round(min(CEILING, max(FLOOR, math.fsum([BASE, *self.parts.get(d, ())]))), 1)
            for d in DIMENSIONS
        }


def dimension_scores(records: Iterable[RecordFacts], today: date) -> dict[Dimension, float]:
    """The pure formula for one cadre: its verified records -> the five values."""
    tally = Tally()
    for record in records:
        tally.add(record, today)
    return tally.values()


# -- storing --------------------------------------------------------------------------------------

_RECORDS = (
    select(R.cadre_id, IND.dimension, IND.polarity, IND.points, IND.serious, R.occurred_on)
    .join(IND, IND.id == R.indicator_id)
    .where(R.status == ReviewStatus.VERIFIED)
)


def _row(cadre_id: int, tally: Tally, now: datetime) -> dict[str, Any]:
    values = tally.values()
    return {
        "cadre_id": cadre_id,
        **{COLUMN[d]: values[d] for d in DIMENSIONS},
        "records": tally.records,
        "computed_at": now,
    }


async def _tally_of(conn: Reader, cadre_id: int, today: date) -> Tally:
    rows = await conn.execute(
        _RECORDS.where(R.cadre_id == cadre_id, R.occurred_on > window_start(today))
    )
    tally = Tally()
    for row in rows:
        tally.add(row, today)
    return tally


async def score_one(
    conn: AsyncConnection, cadre_id: int, now: datetime, *, today: date | None = None
) -> dict[Dimension, float]:
    """Rescore one cadre and store it, in the caller's transaction; `today` (default: the
    date of `now`) ends the window. Never commits."""
    tally = await _tally_of(conn, cadre_id, today or now.date())
    await conn.execute(delete(CadreScore).where(CadreScore.cadre_id == cadre_id))
    await conn.execute(insert(CadreScore), [_row(cadre_id, tally, now)])
    return tally.values()


async def score_all(conn: AsyncConnection, now: datetime, *, today: date | None = None) -> int:
    """Rescore every cadre: the verified records of the window in one streamed query, the
    formula per cadre, then the table replaced (delete + bulk insert: the portable upsert).
    Cadres without records get the base. `today` (default: the date of `now`) is the day the
    window ends on. Returns the number of cadres scored. Never commits."""
    today = today or now.date()
    tallies: dict[int, Tally] = {
        cadre_id: Tally() for cadre_id in await conn.scalars(select(Cadre.id))
    }
    stream = await conn.stream(_RECORDS.where(R.occurred_on > window_start(today)))
    async for partition in stream.partitions(CHUNK):
        for row in partition:
            tally = tallies.get(row.cadre_id)
            if tally is not None:  # a cadre added since the first query: scored next time
                tally.add(row, today)
    rows = [_row(cadre_id, tally, now) for cadre_id, tally in sorted(tallies.items())]
    await conn.execute(delete(CadreScore))
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(CadreScore), rows[start : start + CHUNK])
    return len(rows)


async def tally_now(conn: Reader, cadre_id: int, now: datetime) -> Tally:
    """The cadre's records tallied now, without storing (a read for a cadre not yet scored)."""
    return await _tally_of(conn, cadre_id, now.date())


# -- reading --------------------------------------------------------------------------------------

S = CadreScore


async def cadre_in_scope(db: Reader, *, scope: Scope, cadre_id: int) -> AnyRow | None:
    """The cadre's id, member and tenant path when the scope reaches its file (admins over
    the cadre's tenant, a member its own file); None otherwise, whether or not it exists."""
    row = (
        await db.execute(
            select(Cadre.id, Cadre.member_id, Tenant.path)
            .join(Tenant, Tenant.id == Cadre.tenant_id)
            .where(Cadre.id == cadre_id, scope.predicate(Tenant.path, member=Cadre.member_id))
        )
    ).first()
    return row


async def stored(db: Reader, cadre_id: int) -> AnyRow | None:
    return (await db.execute(select(S.__table__).where(S.cadre_id == cadre_id))).first()


async def district_averages(db: Reader) -> dict[Dimension, float | None]:
    """Each dimension's mean over every cadre with scores (the whole district: an aggregate
    names nobody)."""
    columns = [func.avg(getattr(S, COLUMN[d])) for d in DIMENSIONS]
    row = (await db.execute(select(*columns))).one()
    return {
        d: None if v is None else round(float(v), 1) for d, v in zip(DIMENSIONS, row, strict=True)
    }


def values_of(row: AnyRow) -> dict[Dimension, float]:
    return {d: float(getattr(row, COLUMN[d])) for d in DIMENSIONS}
