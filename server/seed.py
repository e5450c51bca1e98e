"""`ehome seed`: bulk-load the demo district into an empty database."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.enforcer import domain_of
from policies.models import CasbinRule
from server.archives.demo import archive_rows
from server.archives.rules import default_rule_rows
from server.assessments.standard import standard_rows
from server.auth.passwords import hash_password
from server.learning.demo import learning_rows
from server.lecturers.demo import lecturer_rows
from server.models import (
    Activity,
    AssessmentIndicator,
    AssessmentTemplate,
    Branch,
    LightRule,
    Member,
    ScreeningScale,
    Tenant,
    User,
)
from server.one_form.demo import one_form_rows
from server.reminders.demo import reminder_rows
from server.screening.scales import scale_rows
from server.venues.demo import venue_rows
from server.volunteering.demo import volunteering_rows
from tenants.demo import DemoData, demo_accounts, demo_bindings, generate

CHUNK = 2000
# Progress callback: (table, rows done, rows in all).
Progress = Callable[[str, int, int], None]


class AlreadySeeded(RuntimeError):
    pass


@dataclass(frozen=True)
class SeedReport:
    counts: dict[str, int]
    seconds: float
    skipped: bool = False


async def is_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return (await conn.scalar(select(func.count()).select_from(Tenant))) == 0


async def _bulk(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], progress: Progress | None
) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), list(rows[start : start + CHUNK]))
        if progress:
            progress(table.name, min(start + CHUNK, len(rows)), len(rows))
    if progress and not rows:
        progress(table.name, 0, 0)


async def _reset_sequences(conn: AsyncConnection, tables: Sequence[Table]) -> None:
    # Ids were assigned here, not by the sequences: move each sequence past them.
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


def account_rows(data: DemoData, password: str, *, seed: int) -> list[dict[str, Any]]:
    # One argon2 hash serves every demo account: they share one published password by design,
    # and hashing ~260 times would cost most of the seed's time. Real accounts hash their own.
    password_hash = hash_password(password)
    now = datetime.now(UTC)
    return [
        {
            "id": i,
            "username": username,
            "password_hash": password_hash,
            "member_id": member_id,
            "is_active": True,
            "created_at": now,
            "last_login_at": None,
        }
        for i, (username, member_id) in enumerate(demo_accounts(data, seed=seed), start=1)
    ]


def binding_rows(data: DemoData, *, seed: int) -> list[dict[str, Any]]:
    """The demo accounts' role bindings, as Casbin g rows."""
    return [
        {"id": i, "ptype": "g", "v0": f"user:{username}", "v1": role, "v2": domain_of(path)}
        for i, (username, role, path) in enumerate(demo_bindings(data, seed=seed), start=1)
    ]


async def seed(
    engine: AsyncEngine,
    *,
    scale: str,
    seed: int = 1,
    as_of: date | None = None,
    demo_password: str | None = None,
    progress: Progress | None = None,
) -> SeedReport:
    """Insert the generated district. Refuses a database that already holds tenants."""
    started = time.perf_counter()
    if not await is_empty(engine):
        raise AlreadySeeded("the database already holds tenants; seed only an empty database")
    as_of = as_of or date.today()
    data = generate(scale, seed=seed, as_of=as_of)
    templates, indicators = standard_rows(datetime.now(UTC))
    tables: list[tuple[Table, list[dict[str, Any]]]] = [
        (Tenant.__table__, data.tenants),  # type: ignore[list-item]
        (Branch.__table__, data.branches),  # type: ignore[list-item]
        (Member.__table__, data.members),  # type: ignore[list-item]
        (Activity.__table__, data.activities),  # type: ignore[list-item]
        # The standard assessment templates: reference data every installation starts with.
        (AssessmentTemplate.__table__, templates),  # type: ignore[list-item]
        (AssessmentIndicator.__table__, indicators),  # type: ignore[list-item]
        # The archive's catalogue and the district's cadres with their records.
        *archive_rows(data, seed=seed),
        (LightRule.__table__, default_rule_rows(data.tenants[0]["path"], datetime.now(UTC))),  # type: ignore[list-item]
        # Dues ledger and travel, which the member reminders read.
        *reminder_rows(data, seed=seed, as_of=as_of),
        # The public well-being screening scales: reference data.
        (ScreeningScale.__table__, scale_rows()),  # type: ignore[list-item]
        # The learning catalogue, cohorts, and members' enrolments and completions.
        *learning_rows(data, seed=seed, as_of=as_of),
        # The red lecturers' register and a few bookings.
        *lecturer_rows(data, seed=seed, as_of=as_of),
        # The venues members and admins book (no bookings).
        *venue_rows(data, seed=seed),
        # The service centers (178 party-mass + 24 community at district scale).
        *volunteering_rows(data, seed=seed, as_of=as_of),
        # One-form departments, service types and half a year of applications.
        *one_form_rows(data, seed=seed, as_of=as_of),
    ]
    if demo_password is not None:
        tables.append((User.__table__, account_rows(data, demo_password, seed=seed)))  # type: ignore[arg-type]
        tables.append((CasbinRule.__table__, binding_rows(data, seed=seed)))  # type: ignore[arg-type]
    async with engine.begin() as conn:
        for table, rows in tables:
            await _bulk(conn, table, rows, progress)
        await _reset_sequences(conn, [t for t, _ in tables])
    counts = {t.name: len(rows) for t, rows in tables}
    return SeedReport(counts=counts, seconds=time.perf_counter() - started)
