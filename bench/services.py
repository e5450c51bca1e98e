"""Venue booking under contention, and its throughput.

The reference district (`ehome seed --scale district --demo`: 60 venues) on a throwaway
PostgreSQL, one `ehome` server process (uvicorn, pinned to core 0) and this load generator
(pinned to core 1), through GraphQL over HTTP as the super admin (`bookVenue`, a branch
named):

1. The race: 100 concurrent `bookVenue` of the same venue and slot (one hour, two granules),
   all sent at once. Exactly one must succeed and 99 be refused (BAD_USER_INPUT on
   startsAt); the database must then hold one booking and two granules. Anything else fails
   the benchmark (exit status 1).
2. Throughput: 1,000 bookings over distinct venues and slots (one hour each, Tuesdays to
   Fridays, shuffled), sent by N concurrent clients (default 10): bookings/s and p50/p95
   latency. Every one must succeed.
3. Baseline, in the same run: 1,000 other distinct bookings through the service itself
   (`Runtime.write()` + `server.venues.service.book`, the mutation's transaction without HTTP
   and GraphQL) with the same N concurrent workers, in this process: the ratio tells what the
   API layer costs on top of the transaction.

`--sqlite` runs the same against a SQLite file too (one writer at a time: the race is
serialized by SQLite's lock, the unique index still decides). The throwaway PostgreSQL runs
with fsync off: commit costs are understated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import func, select

from bench.harness import create_database, pinned, postgres, serve, uvicorn_cmd
from schema.ids import global_id
from server.activities.service import branch_facts
from server.branches.models import Branch
from server.db import make_engine
from server.migrate import upgrade
from server.runtime import Runtime
from server.seed import seed
from server.settings import Settings
from server.venues import service
from server.venues.models import Venue, VenueBooking, VenueGranule
from tenants.scope import Scope

PASSWORD = "bench-demo-password"
SECRET = "bench-secret-key-0123456789-abcdefghijkl"
SHANGHAI = ZoneInfo("Asia/Shanghai")
RACERS = 100
BOOKINGS = 1000
HOURS = range(9, 16)  # one-hour bookings starting 09:00 ... 15:00: every venue is open then
BOOK = "mutation($i: BookVenueInput!) { bookVenue(input: $i) { id status startsAt endsAt } }"


@dataclass(frozen=True)
class Slot:
    venue: int
    day: date
    hour: int

    def starts(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, self.hour, tzinfo=SHANGHAI)


@dataclass
class Figures:
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self, name: str) -> str:
        return (
            f"  {name:<44} {self.rate:8.1f} bookings/s   p50 "
            f"{statistics.median(self.latencies_ms):7.1f} ms   p95 {self.pct(0.95):7.1f} ms"
        )


class Failed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def prepare(url: str) -> tuple[list[int], list[int]]:
    """Migrate and seed the district; its venue ids and some branch ids."""
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        await seed(engine, scale="district", seed=1, demo_password=PASSWORD)
        async with engine.connect() as conn:
            venues = list(await conn.scalars(select(Venue.id).order_by(Venue.id)))
            branches = list(await conn.scalars(select(Branch.id).order_by(Branch.id).limit(200)))
    finally:
        await engine.dispose()
    return venues, branches


def slots(venues: list[int], count: int) -> list[Slot]:
    """`count` distinct one-hour slots over the venues, Tuesday to Friday from two days on,
    shuffled (a fixed seed: the same every run)."""
    found: list[Slot] = []
    day = datetime.now(SHANGHAI).date() + timedelta(days=2)
    while len(found) < count:
        if 2 <= day.isoweekday() <= 5:
            found += [Slot(v, day, h) for v in venues for h in HOURS]
        day += timedelta(days=1)
    random.Random(9).shuffle(found)
    return found[:count]


def variables(slot: Slot, branch: int, purpose: str) -> dict[str, Any]:
    starts = slot.starts()
    return {
        "i": {
            "venueId": global_id("Venue", slot.venue),
            "branchId": global_id("Branch", branch),
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(hours=1)).isoformat(),
            "purpose": purpose,
            "headCount": 10,
        }
    }


async def sign_in(http: httpx.AsyncClient) -> str:
    body = {
        "query": 'mutation($p: String!) { login(username: "admin", password: $p) { accessToken } }',
        "variables": {"p": PASSWORD},
    }
    answer = (await http.post("/graphql", json=body)).json()
    return str(answer["data"]["login"]["accessToken"])


async def race(http: httpx.AsyncClient, token: str, slot: Slot, branch: int) -> list[Any]:
    """RACERS identical bookings sent at once; their answers."""
    headers = {"authorization": f"Bearer {token}"}
    body = {"query": BOOK, "variables": variables(slot, branch, "争抢同一时段")}
    gate = asyncio.Event()

    async def one() -> Any:
        await gate.wait()
        return (await http.post("/graphql", json=body, headers=headers)).json()

    tasks = [asyncio.create_task(one()) for _ in range(RACERS)]
    await asyncio.sleep(0.1)
    gate.set()
    return await asyncio.gather(*tasks)


async def check_race(answers: list[Any], url: str, slot: Slot) -> str:
    won = [a for a in answers if not a.get("errors")]
    lost = [a["errors"][0] for a in answers if a.get("errors")]
    refusals = {(e["extensions"].get("code"), e["extensions"].get("argument")) for e in lost}
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(
                select(func.count())
                .select_from(VenueBooking)
                .where(VenueBooking.venue_id == slot.venue, VenueBooking.starts_at == slot.starts())
            )
            held = await conn.scalar(
                select(func.count())
                .select_from(VenueGranule)
                .where(
                    VenueGranule.venue_id == slot.venue,
                    VenueGranule.granule_start >= slot.starts(),
                    VenueGranule.granule_start < slot.starts() + timedelta(hours=1),
                )
            )
    finally:
        await engine.dispose()
    if len(won) != 1 or refusals != {("BAD_USER_INPUT", "startsAt")} or stored != 1 or held != 2:
        raise Failed(
            f"the race: {len(won)} succeeded (must be exactly 1), refusals {refusals}, "
            f"{stored} bookings and {held} granules stored (must be 1 and 2)"
        )
    return (
        f"  {RACERS} concurrent bookings of one venue and slot: 1 succeeded, "
        f"{len(lost)} refused ({lost[0]['message']!r}); 1 booking, 2 granules stored"
    )


async def through_api(
    http: httpx.AsyncClient, token: str, todo: list[Slot], branches: list[int], clients: int
) -> Figures:
    headers = {"authorization": f"Bearer {token}"}
    queue: asyncio.Queue[tuple[int, Slot]] = asyncio.Queue()
    for n, slot in enumerate(todo):
        queue.put_nowait((n, slot))
    latencies: list[float] = []
    failures: list[Any] = []

    async def client() -> None:
        while not queue.empty():
            n, slot = queue.get_nowait()
            body = {
                "query": BOOK,
                "variables": variables(slot, branches[n % len(branches)], "学习"),
            }
            started = time.perf_counter()
            answer = (await http.post("/graphql", json=body, headers=headers)).json()
            latencies.append((time.perf_counter() - started) * 1000)
            if answer.get("errors"):
                failures.append(answer["errors"][0])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    if failures:
        raise Failed(f"{len(failures)} distinct bookings failed, e.g. {failures[0]}")
    return Figures(seconds, latencies)


async def through_service(url: str, todo: list[Slot], branches: list[int], clients: int) -> Figures:
    """The mutation's transaction without HTTP and GraphQL: Runtime.write + service.book."""
    runtime = Runtime.create(settings(url))
    everything = Scope.everything()
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[int, Slot]] = asyncio.Queue()
    for n, slot in enumerate(todo):
        queue.put_nowait((n, slot))
    booker = service.Booker("admin", None, "user:admin", None, manages_venue=True)

    async def worker() -> None:
        while not queue.empty():
            n, slot = queue.get_nowait()
            started = time.perf_counter()
            now = datetime.now(UTC)
            async with runtime.write() as (conn, outbox):
                venue = await service.venue(conn, scope=everything, venue_id=slot.venue)
                facts = await branch_facts(conn, branches[n % len(branches)])
                assert venue is not None and facts is not None
                _id, event = await service.book(
                    conn,
                    venue=venue,
                    facts=facts,
                    booker=booker,
                    purpose="学习",
                    head_count=10,
                    starts_at=slot.starts(),
                    ends_at=slot.starts() + timedelta(hours=1),
                    tz=SHANGHAI,
                    now=now,
                )
                outbox.append(event)
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - started
    finally:
        await runtime.close()
    return Figures(seconds, latencies)


def settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        data_dir=Path(tempfile.gettempdir()),
        secret_key=SECRET,
        schedule_interval=0,
        rate_limit=0,
        rate_limit_address=0,
    )


@contextmanager
def server(url: str) -> Iterator[str]:
    port = free_port()
    env = {
        "EHOME_DATABASE_URL": url,
        "EHOME_LOG_LEVEL": "WARNING",
        "EHOME_SECRET_KEY": SECRET,
        "EHOME_SCHEDULE_INTERVAL": "0",
        "EHOME_RATE_LIMIT": "0",
        "EHOME_RATE_LIMIT_ADDRESS": "0",
    }
    with serve(pinned(uvicorn_cmd("server.asgi:create", port, factory=True), 0), port, env) as base:
        yield base


def run_backend(name: str, url: str, clients: int) -> list[str]:
    print(f"{name}: seeding the district ...", flush=True)
    started = time.perf_counter()
    venues, branches = asyncio.run(prepare(url))
    print(f"{name}: seeded in {time.perf_counter() - started:.1f} s ({len(venues)} venues)")
    todo = slots(venues, 2 * BOOKINGS + 1)
    contested, api_slots, service_slots = todo[0], todo[1 : BOOKINGS + 1], todo[BOOKINGS + 1 :]

    async def over_http(base: str) -> tuple[list[Any], Figures]:
        limits = httpx.Limits(max_connections=RACERS + clients, max_keepalive_connections=RACERS)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
            token = await sign_in(http)
            answers = await race(http, token, contested, branches[0])
            api = await through_api(http, token, api_slots, branches, clients)
        return answers, api

    with server(url) as base:
        answers, api = asyncio.run(over_http(base))
    lines = [f"{name}:", asyncio.run(check_race(answers, url, contested))]
    direct = asyncio.run(through_service(url, service_slots, branches, clients))
    lines += [
        api.line(f"{BOOKINGS} distinct bookings, GraphQL over HTTP"),
        direct.line(f"{BOOKINGS} distinct bookings, service transaction"),
        f"  ratio: the API path takes {direct.rate / api.rate:.2f}x the time per booking of "
        f"the bare transaction ({clients} concurrent clients)",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10, help="concurrent clients")
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the server's core
    report: list[str] = []
    try:
        with postgres() as pg:
            url = asyncio.run(create_database(pg))
            report += run_backend("PostgreSQL", url, args.clients)
        if args.sqlite:
            folder = tempfile.mkdtemp(prefix="ehome-bench-")
            report += run_backend("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db", args.clients)
    except Failed as failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    print(
        "\nVenue booking (bench/services.py): one ehome process on one core, the load on the "
        "other;\nbookings of one hour (two 30-minute granules) as the super admin.\n"
    )
    print("\n".join(report))


if __name__ == "__main__":
    main()
