"""Scoring every cadre and evaluating every light over the district, and a reminders pass
over its members.

The reference district (`ehome seed --scale district`: ~1,190 cadres, ~31,000 archive records)
on a throwaway PostgreSQL. What is measured is the archive's daily job as the scheduler runs
it (server/archives/schedule.py): `scoring.score_all` (every cadre's five dimensions from the
verified records of the 365-day window, the cadre_scores table replaced) then
`lights.evaluate` over every cadre (the rules, the changes stored and kept, a WARNING event
and an alert per YELLOW or RED change), from BEGIN to COMMIT. Two cases, each the median of
`--runs` runs:

- first pass: no light stored yet, so every YELLOW and RED cadre is a change (each run
  rolled back, so that each starts from the seeded state);
- steady pass: the next day's pass, lights already stored (few or no changes).

Target (issue): scoring all 1,190 cadres over ~31,000 records takes at most 5 s on PostgreSQL.
A reminders pass over 30,000 members (at most 10 s) follows, on a database of its own
(bench/reminders.py, also runnable alone). If the seed holds no cadres, or with
`--own-records` (the seeded ones removed first), the setup makes 1,190 cadres with 26 records
each itself, every one VERIFIED and dated in the window: the worst case, all ~31,000 records
counted. `--sqlite` adds the same on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench import reminders
from bench.harness import create_database, postgres
from server.archives import lights, scoring
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    Cadre,
    Dimension,
    ReviewStatus,
)
from server.branches.models import Branch
from server.db import make_engine
from server.members.models import Member
from server.migrate import upgrade
from server.seed import seed

TARGET_SECONDS = 5.0
CADRES = 1190
RECORDS_PER_CADRE = 26
CHUNK = 2000


# -- setup --------------------------------------------------------------------------------------


async def bulk(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[start : start + CHUNK])


async def own_indicators(conn: AsyncConnection) -> list[int]:
    """Indicators to file records under: the catalogue's, or a small one made here."""
    ids = list(await conn.scalars(select(ArchiveIndicator.id).order_by(ArchiveIndicator.id)))
    if ids:
        return ids
    category = (
        await conn.execute(
            insert(ArchiveTagCategory)
            .values(code="bench.category", name="基准测试", system="STRICT_MANAGEMENT")
            .returning(ArchiveTagCategory.id)
        )
    ).scalar_one()
    rows = [
        {
            "code": f"bench.{d.value.lower()}.{polarity.lower()}.{k}",
            "name": f"{d.value} {polarity} {k}",
            "context": "AT_WORK",
            "polarity": polarity,
            "dimension": d,
            "tag_category_id": category,
            "points": float(2 + k),
            "serious": polarity == "NEGATIVE" and k == 2,
        }
        for d in Dimension
        for polarity in ("POSITIVE", "NEGATIVE")
        for k in range(3)
    ]
    await bulk(conn, ArchiveIndicator.__table__, rows)
    return list(await conn.scalars(select(ArchiveIndicator.id).order_by(ArchiveIndicator.id)))


async def ensure_cadres(
    conn: AsyncConnection, rng: random.Random, today: date, *, replace: bool
) -> bool:
    """Cadres with records, unless the seed made them already (or `replace`: the seeded ones
    removed first). Every record made here is VERIFIED and dated in the window: the worst case.
    Returns whether they were made here."""
    if replace:
        await conn.execute(delete(ArchiveRecord))
        await conn.execute(delete(Cadre))
    elif await conn.scalar(select(func.count()).select_from(Cadre)):
        return False
    indicators = await own_indicators(conn)
    members = (
        await conn.execute(
            select(Member.id, Branch.tenant_id)
            .join(Branch, Branch.id == Member.branch_id)
            .order_by(Member.id)
        )
    ).all()
    now = datetime.now(UTC)
    chosen = sorted(rng.sample(members, min(CADRES, len(members))), key=lambda m: m.id)
    cadre_rows = [
        {
            "member_id": m.id,
            "tenant_id": m.tenant_id,
            "position": "干部",
            "rank": "科员",
            "unit": "基准测试",
            "created_at": now,
        }
        for m in chosen
    ]
    await bulk(conn, Cadre.__table__, cadre_rows)
    cadres = list(await conn.scalars(select(Cadre.id).order_by(Cadre.id)))
    records = [
        {
            "cadre_id": cadre,
            "indicator_id": rng.choice(indicators),
            "source": "DAILY_SUPERVISION",
            "occurred_on": today - timedelta(days=rng.randrange(0, scoring.WINDOW_DAYS)),
            "evidence": "基准测试记录",
            "attachments": "[]",
            "status": ReviewStatus.VERIFIED,
            "author": "bench",
            "created_at": now,
        }
        for cadre in cadres
        for _ in range(RECORDS_PER_CADRE)
    ]
    await bulk(conn, ArchiveRecord.__table__, records)
    return True


# -- the archive's daily pass ------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    score_seconds: float
    evaluate_seconds: float
    scored: int
    events: int
    lights: Counter[str]


async def one_pass(engine: AsyncEngine, now: datetime, *, keep: bool) -> Run:
    """score_all then evaluate over every cadre in one transaction, BEGIN to COMMIT (or to the
    rollback, for a run that must leave the database as it found it)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        transaction = await conn.begin()
        scored = await scoring.score_all(conn, now)
        scored_at = time.perf_counter()
        events = await lights.evaluate(conn, None, now)
        evaluated_at = time.perf_counter()
        await (transaction.commit() if keep else transaction.rollback())
    ended = time.perf_counter()
    return Run(
        seconds=ended - started,
        score_seconds=scored_at - started,
        evaluate_seconds=evaluated_at - scored_at,
        scored=scored,
        events=len(events),
        lights=Counter(e.light for e in events if e.light),
    )


@dataclass
class Facts:
    cadres: int
    records: int
    verified_in_window: int
    made_here: bool


async def facts(engine: AsyncEngine, now: datetime, made_here: bool) -> Facts:
    async with engine.connect() as conn:
        cadres = int(await conn.scalar(select(func.count()).select_from(Cadre)) or 0)
        records = int(await conn.scalar(select(func.count()).select_from(ArchiveRecord)) or 0)
        verified = int(
            await conn.scalar(
                select(func.count()).where(
                    ArchiveRecord.status == ReviewStatus.VERIFIED,
                    ArchiveRecord.occurred_on > scoring.window_start(now.date()),
                )
            )
            or 0
        )
    return Facts(cadres, records, verified, made_here)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Report:
    backend: str
    seed_seconds: float
    facts: Facts
    first: list[Run]
    steady: list[Run]


async def timed(runs: int, make: Callable[[], Awaitable[Run]]) -> list[Run]:
    return [await make() for _ in range(runs)]


async def run(url: str, backend: str, *, runs: int, rng_seed: int, own: bool) -> Report:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        seeded = await seed(engine, scale="district", seed=1, as_of=date.today())
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            made_here = await ensure_cadres(conn, random.Random(rng_seed), now.date(), replace=own)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
        found = await facts(engine, now, made_here)
        first = await timed(runs, lambda: one_pass(engine, now, keep=False))
        await one_pass(engine, now, keep=True)  # today's pass, kept: the lights are stored
        tomorrow = now + timedelta(days=1)
        steady = await timed(runs, lambda: one_pass(engine, tomorrow, keep=False))
    finally:
        await engine.dispose()
    return Report(backend, seeded.seconds, found, first, steady)


# -- output -------------------------------------------------------------------------------------


def describe(name: str, runs: list[Run]) -> float:
    median = statistics.median(r.seconds for r in runs)
    mid = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    print(
        f"  {name}: "
        + ", ".join(f"{r.seconds:.2f}" for r in runs)
        + f" s; median {median:.2f} s (score_all {mid.score_seconds:.2f} s, "
        f"evaluate {mid.evaluate_seconds:.2f} s)"
    )
    print(
        f"    {mid.scored:,} cadres scored; {mid.events} light changes told "
        f"({mid.lights.get('RED', 0)} RED, {mid.lights.get('YELLOW', 0)} YELLOW, "
        f"{mid.lights.get('GREEN', 0)} GREEN); {mid.scored / median:,.0f} cadres/s"
    )
    return median


def show(report: Report) -> None:
    f = report.facts
    print(f"\n{report.backend}")
    origin = "made by this bench, all verified and in the window" if f.made_here else "seeded"
    print(f"  seed --scale district: {report.seed_seconds:.1f} s")
    print(
        f"  {f.cadres:,} cadres, {f.records:,} archive records ({origin}); "
        f"{f.verified_in_window:,} verified in the 365-day window"
    )
    first = describe("first pass (no lights stored yet)", report.first)
    describe("steady pass (the next day, lights stored)", report.steady)
    verdict = "met" if first <= TARGET_SECONDS else "not met"
    print(f"  target <= {TARGET_SECONDS:.0f} s (score all cadres, first pass median): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--seed", type=int, default=7, help="seed of records made here, if any")
    parser.add_argument(
        "--own-records",
        action="store_true",
        help="replace the seeded cadres by 1,190 with 26 verified records each, all in the window",
    )
    parser.add_argument("--sqlite", action="store_true", help="also on SQLite, for comparison")
    args = parser.parse_args()
    reports: list[Report] = []
    with postgres() as server:
        url = asyncio.run(create_database(server))
        print("PostgreSQL: seeding the district ...", flush=True)
        reports.append(
            asyncio.run(
                run(url, "PostgreSQL", runs=args.runs, rng_seed=args.seed, own=args.own_records)
            )
        )
        # The reminders pass seeds a database of its own: its dates are fixed (bench/reminders).
        print("PostgreSQL: seeding the district for the reminders pass ...", flush=True)
        reminder_figures = asyncio.run(
            reminders.measure(asyncio.run(create_database(server)), runs=args.runs)
        )
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print("SQLite: seeding the district ...", flush=True)
            reports.append(
                asyncio.run(
                    run(url, "SQLite", runs=args.runs, rng_seed=args.seed, own=args.own_records)
                )
            )
    print(
        "\nThe archive's daily pass: scoring.score_all + lights.evaluate over every cadre, one "
        "transaction, BEGIN to COMMIT\n(first-pass runs rolled back). The throwaway "
        "PostgreSQL runs with fsync=off: commit costs are understated."
    )
    for report in reports:
        show(report)
    print(
        "\nThe member reminders pass (server/reminders/schedule.py:run) over the district's "
        "members, on PostgreSQL:"
    )
    reminders.show(reminder_figures, args.runs)


if __name__ == "__main__":
    main()
