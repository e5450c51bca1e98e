"""A member reminders pass over the reference district.

The district (`ehome seed --scale district --demo`: 30,000 members, their dues ledger of two
months, ~300 travel declarations and ~240 travel records) on a throwaway PostgreSQL, seeded as
of 2026-11-28; plus one `fortress_star` campaign over the whole district closing 12 hours
after the pass, with 40 evaluator accounts who have submitted nothing (the set-up of
bench/assessments.py: 6,420 evaluator rows). The pass runs at 2026-11-28 12:00 in Shanghai,
when both months of the ledger are past their grace period, the members who joined on a
Nov 28 have their anniversary, and the campaign is due within a day: every cause has work.

What is measured is `server.reminders.schedule.run` (the scheduler's reminders job: each
cause in its own transaction, BEGIN to COMMIT, events written, not published: no hub here):

- the first pass, on three identical copies of the seeded database (median of 3), which
  creates the reminders; its breakdown by cause;
- the passes after it on the same database (median of 3), which find everything reminded
  already (idempotent) and create nothing.

Target (issue): a pass over 30,000 members takes at most 10 s on PostgreSQL (the verdict
takes the slower of the first pass and the backlog pass).
`measure(url)` seeds an empty database at `url` and returns the figures, for other benchmarks
(bench/archive.py) to call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.assessments import WEIGHTS, add_evaluators, district_root, evaluator_specs
from bench.harness import create_database, postgres
from server.assessments import campaigns, ratings
from server.branches.models import Branch
from server.db import make_engine
from server.feed.models import Alert, FeedEventRow
from server.members.models import Member
from server.migrate import upgrade
from server.reminders import schedule, service
from server.reminders.models import DuesEntry, Reminder
from server.reminders.service import Cause
from server.runtime import Runtime
from server.seed import seed
from server.settings import Settings

TARGET_SECONDS = 10.0
AS_OF = date(2026, 11, 28)
PASS_AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # noon in Shanghai
RUNS = 3
BACKLOG_MONTH = "2026-10"
CAUSE_CALLS = {
    Cause.DUES_OVERDUE: "remind_dues",
    Cause.TRAVEL_UNDECLARED: "remind_travel",
    Cause.POLITICAL_BIRTHDAY: "remind_birthdays",
    Cause.ASSESSMENT_DUE: "remind_assessments",
    Cause.VENUE_BOOKING: "remind_venue_bookings",
}


@contextmanager
def timed_causes(seconds: dict[Cause, float]) -> Iterator[None]:
    """Time each cause's service call as the job makes it (through the module attribute);
    restored afterwards, the server code unchanged."""
    originals = {cause: getattr(service, name) for cause, name in CAUSE_CALLS.items()}

    def timer(cause: Cause, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                seconds[cause] += time.perf_counter() - started

        return wrapper

    for cause, name in CAUSE_CALLS.items():
        setattr(service, name, timer(cause, originals[cause]))
    try:
        yield
    finally:
        for cause, name in CAUSE_CALLS.items():
            setattr(service, name, originals[cause])


async def prepare(url: str) -> dict[str, float]:
    """Migrate and seed the district at `url`, and launch the campaign due at the pass."""
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        seeded = await seed(engine, scale="district", seed=1, as_of=AS_OF, demo_password="bench")
        async with engine.begin() as conn:
            await add_evaluators(conn, PASS_AT)
            tenant = await district_root(conn)
            branches = list((await conn.scalars(select(Branch.id).order_by(Branch.id))).all())
            await campaigns.launch(
                conn,
                template_code=ratings.FORTRESS_STAR,
                name="2026年度堡垒指数星级评定",
                tenant=tenant,
                opens_at=PASS_AT - timedelta(days=14),
                closes_at=PASS_AT + timedelta(hours=12),
                methods=WEIGHTS,
                target_ids=None,
                evaluators=evaluator_specs(branches),
                actor="bench",
                client=None,
                now=PASS_AT - timedelta(days=14),
            )
        async with engine.connect() as conn:
            members = int(await conn.scalar(select(func.count()).select_from(Member)) or 0)
            dues = int(await conn.scalar(select(func.count()).select_from(DuesEntry)) or 0)
            unpaid = int(
                await conn.scalar(select(func.count()).where(DuesEntry.paid_on.is_(None))) or 0
            )
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    finally:
        await engine.dispose()
    return {
        "seed_seconds": seeded.seconds,
        "members": members,
        "dues_rows": dues,
        "unpaid_rows": unpaid,
    }


async def copy_database(url: str) -> str:
    """A new database on the same server with `url`'s database as its template."""
    parsed = make_url(url)
    name = f"{parsed.database}_{uuid.uuid4().hex[:6]}"
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"')
    finally:
        await conn.close()
    return parsed.set(database=name).render_as_string(hide_password=False)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        found = {
            cause.value: int(
                await conn.scalar(select(func.count()).where(Reminder.cause == cause.value)) or 0
            )
            for cause in Cause
        }
        found["events"] = int(
            await conn.scalar(select(func.count()).select_from(FeedEventRow)) or 0
        )
        found["alerts"] = int(await conn.scalar(select(func.count()).select_from(Alert)) or 0)
    return found


async def one_pass(runtime: Runtime) -> tuple[float, dict[Cause, float], dict[Cause, int]]:
    seconds: dict[Cause, float] = defaultdict(float)
    with timed_causes(seconds):
        started = time.perf_counter()
        created = await schedule.run(runtime, PASS_AT)
        total = time.perf_counter() - started
    if set(created) != set(Cause):
        raise RuntimeError(f"a cause failed (see the log): {created}")
    return total, dict(seconds), created


def _runtime(url: str) -> Runtime:
    return Runtime.create(Settings(database_url=url, secret_key="bench-" + "x" * 40))


async def measure(url: str, *, runs: int = RUNS) -> dict[str, float]:
    """Seed the district into the empty PostgreSQL database at `url`, then time the
    reminders pass: first passes on `runs` copies of it, repeats on the last copy."""
    figures = await prepare(url)
    firsts: list[float] = []
    per_cause: dict[Cause, list[float]] = defaultdict(list)
    created: dict[Cause, int] = {}
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    repeats: list[float] = []
    for run in range(runs):
        runtime = _runtime(await copy_database(url))
        try:
            before = await counts(runtime.engine)
            seconds, by_cause, created = await one_pass(runtime)
            firsts.append(seconds)
            for cause, value in by_cause.items():
                per_cause[cause].append(value)
            after = await counts(runtime.engine)
            if run == runs - 1:
                for _ in range(runs):
                    seconds, _by_cause, again = await one_pass(runtime)
                    if any(again.values()):
                        raise RuntimeError(f"a repeated pass created reminders: {again}")
                    repeats.append(seconds)
                if await counts(runtime.engine) != after:
                    raise RuntimeError("a repeated pass changed what the first one made")
        finally:
            await runtime.close()
    # The worst month: every member's latest month unpaid (a first pass over a ledger
    # imported with a backlog, or a payment system down for a month).
    runtime = _runtime(await copy_database(url))
    try:
        async with runtime.engine.begin() as conn:
            await conn.execute(
                update(DuesEntry).where(DuesEntry.month == BACKLOG_MONTH).values(paid_on=None)
            )
        seconds, by_cause, backlog = await one_pass(runtime)
    finally:
        await runtime.close()
    figures |= {
        "backlog_pass_seconds": seconds,
        "backlog_dues_seconds": by_cause[Cause.DUES_OVERDUE],
        "backlog_reminders": sum(backlog.values()),
        "backlog_dues_reminders": backlog[Cause.DUES_OVERDUE],
    }
    figures |= {
        "first_pass_seconds": statistics.median(firsts),
        "first_pass_max_seconds": max(firsts),
        "repeat_pass_seconds": statistics.median(repeats),
        "events": after["events"] - before["events"],
        "alerts": after["alerts"] - before["alerts"],
        "reminders": sum(created.values()),
    }
    for cause in Cause:
        figures[f"{cause.value}_reminders"] = created[cause]
        figures[f"{cause.value}_seconds"] = statistics.median(per_cause[cause])
    return figures


def show(figures: dict[str, float], firsts_runs: int) -> None:
    first = figures["first_pass_seconds"]
    print(
        f"\nseed --scale district --demo (as of {AS_OF}): {figures['seed_seconds']:.1f} s; "
        f"{figures['members']:,.0f} members, {figures['dues_rows']:,.0f} dues rows "
        f"({figures['unpaid_rows']:,.0f} unpaid)"
    )
    print(f"pass at {PASS_AT.isoformat()} (12:00 in Shanghai), on PostgreSQL:")
    print(
        f"  first pass (median of {firsts_runs} copies): {first:.2f} s "
        f"(slowest {figures['first_pass_max_seconds']:.2f} s); "
        f"{figures['reminders']:,.0f} reminders, {figures['events']:,.0f} feed events, "
        f"{figures['alerts']:,.0f} alerts"
    )
    for cause in Cause:
        print(
            f"    {cause.value:<20} {figures[f'{cause.value}_reminders']:>6,.0f} reminders "
            f"{figures[f'{cause.value}_seconds']:6.2f} s"
        )
    repeat = figures["repeat_pass_seconds"]
    print(
        f"  repeated pass (median of {firsts_runs}, nothing new): {repeat:.3f} s "
        f"({first / repeat:.0f}x faster than the first)"
    )
    backlog = figures["backlog_pass_seconds"]
    print(
        f"  backlog pass (every member's {BACKLOG_MONTH} unpaid): {backlog:.2f} s; "
        f"{figures['backlog_reminders']:,.0f} reminders "
        f"({figures['backlog_dues_reminders']:,.0f} dues, {figures['backlog_dues_seconds']:.2f} s)"
    )
    print(f"  {figures['members'] / first:,.0f} members/s (first pass)")
    verdict = "met" if max(first, backlog) <= TARGET_SECONDS else "not met"
    print(f"  target <= {TARGET_SECONDS:.0f} s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=RUNS, help="first passes (on copies)")
    args = parser.parse_args()
    with postgres() as server:
        url = asyncio.run(create_database(server))
        print("PostgreSQL: seeding the district, launching a campaign ...", flush=True)
        figures = asyncio.run(measure(url, runs=args.runs))
    print(
        "\nThe member reminders pass (server/reminders/schedule.py:run): dues overdue, travel "
        "without an approved declaration,\npolitical birthdays, assessment submissions due. "
        "The throwaway PostgreSQL runs with fsync=off: commit costs are understated."
    )
    show(figures, args.runs)


if __name__ == "__main__":
    main()
