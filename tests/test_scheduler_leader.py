"""The scheduler's leader lease (server/reminders/lease.py, server/scheduler.py), on SQLite and
PostgreSQL.

- In one process, on a clock the tests set: one holder at a time; the holder renews; another
  takes over once the lease has expired, or at once when the holder releases it; contenders
  racing on separate engines (separate connections) for an absent or an expired lease: exactly
  one wins; `lead_and_run` runs the jobs once per pass overall, by the holder only.
- Across real `ehome serve` processes (EHOME_SCHEDULE_INTERVAL=1) on one database: only one
  process runs passes; when it shuts down it releases the lease and the other leads within a
  pass or two; a third process started meanwhile stands by; a leader killed without releasing
  is replaced once its lease has expired (the test moves the expiry back instead of waiting
  the 30 s it lasts). Which process ran each pass is read from the processes' logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from server import scheduler
from server.db import make_engine
from server.migrate import upgrade
from server.reminders import lease
from server.reminders.models import SchedulerLease
from server.seed import seed
from tests.conftest import (
    SECRET,
    TEMPLATE_SEED,
    GraphQLClient,
    Postgres,
    run_isolated,
    seeded_postgres,
)
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=180)  # three passes of 60 s
PASS = timedelta(seconds=60)
PASS_LINE = "scheduler pass run by leader "


def second_engine(app: Any) -> AsyncEngine:
    """Another engine (another pool, other connections) on the app's database."""
    url = app.state.runtime.engine.url.render_as_string(hide_password=False)
    return make_engine(url)


async def holder_row(engine: AsyncEngine) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(SchedulerLease))).first()


# -- one process, a clock of our own ---------------------------------------------------------


def test_the_ttl_is_three_intervals_and_at_least_30_s() -> None:
    assert lease.ttl_for(60) == timedelta(seconds=180)
    assert lease.ttl_for(1) == timedelta(seconds=30)
    assert lease.ttl_for(10) == timedelta(seconds=30)
    assert lease.ttl_for(11) == timedelta(seconds=33)
    first, second = lease.holder_id(), lease.holder_id()
    assert first != second and first.split(":")[1] == str(os.getpid())


async def test_one_holder_at_a_time_until_the_lease_expires(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    _gql, app = fresh
    one, other = app.state.runtime.engine, second_engine(app)
    try:
        assert await lease.acquire(one, holder="a", now=T0, ttl=TTL)
        assert not await lease.acquire(other, holder="b", now=T0, ttl=TTL)
        # The holder renews, each time for another TTL from its pass.
        assert await lease.acquire(one, holder="a", now=T0 + PASS, ttl=TTL)
        assert not await lease.acquire(other, holder="b", now=T0 + PASS + TTL / 2, ttl=TTL)
        row = await holder_row(other)
        assert (row.holder, row.expires_at) == ("a", T0 + PASS + TTL)
        assert await lease.current(other, now=T0 + PASS + TTL / 2) == "a"
        # The holder stopped renewing: at its expiry the other takes over, and keeps it.
        assert await lease.current(other, now=T0 + PASS + TTL) is None
        assert await lease.acquire(other, holder="b", now=T0 + PASS + TTL, ttl=TTL)
        assert not await lease.acquire(one, holder="a", now=T0 + PASS + TTL, ttl=TTL)
        assert await lease.current(one, now=T0 + PASS + TTL) == "b"
        # Releasing what one does not hold changes nothing.
        assert not await lease.release(one, holder="a", now=T0 + PASS + TTL)
        assert await lease.current(one, now=T0 + PASS + TTL + PASS) == "b"
    finally:
        await other.dispose()


async def test_a_released_lease_is_taken_at_once(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    assert await lease.acquire(engine, holder="a", now=T0, ttl=TTL)
    assert await lease.release(engine, holder="a", now=T0 + PASS)
    assert not await lease.release(engine, holder="a", now=T0 + PASS)  # once
    assert await lease.current(engine, now=T0 + PASS) is None
    # At the very instant of the release, long before the lease would have run out.
    assert await lease.acquire(engine, holder="b", now=T0 + PASS, ttl=TTL)
    assert await lease.current(engine, now=T0 + PASS) == "b"


async def race(engines: list[AsyncEngine], now: datetime) -> list[bool]:
    """Every engine tries at once, as its own holder."""
    return list(
        await asyncio.gather(
            *(
                lease.acquire(engine, holder=f"p{i}", now=now, ttl=TTL)
                for i, engine in enumerate(engines)
            )
        )
    )


async def test_racing_contenders_one_wins(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engines = [second_engine(app) for _ in range(6)]
    try:
        for _round in range(5):
            async with engines[0].begin() as conn:
                await conn.execute(delete(SchedulerLease))
            # Nobody holds it yet: all insert, one insert succeeds.
            won = await race(engines, T0)
            assert won.count(True) == 1, won
            row = await holder_row(engines[0])
            assert row.holder == f"p{won.index(True)}"
            # The lease has expired: all update conditionally, one update matches.
            later = T0 + TTL + PASS
            won = await race(engines, later)
            assert won.count(True) == 1, won
            row = await holder_row(engines[0])
            assert (row.holder, row.expires_at) == (f"p{won.index(True)}", later + TTL)
    finally:
        for engine in engines:
            await engine.dispose()


async def test_lead_and_run_runs_each_pass_once(
    fresh: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _gql, app = fresh
    runtime = app.state.runtime
    passes: list[datetime] = []

    async def counted(_runtime: Any, now: datetime | None = None) -> None:
        assert now is not None
        passes.append(now)

    monkeypatch.setattr(scheduler, "run_pass", counted)
    led: dict[str, list[int]] = {"a": [], "b": []}

    async def tick(k: int, *holders: str) -> None:
        for holder in holders:
            # A pass a minute, a lease of three minutes (EHOME_SCHEDULE_INTERVAL=60).
            if await scheduler.lead_and_run(runtime, holder, T0 + k * PASS, ttl=TTL):
                led[holder].append(k)

    # Both processes pass every minute, in either order: "a" came first and leads.
    for k in range(6):
        await tick(k, *(("a", "b") if k == 0 or k % 2 else ("b", "a")))
    assert led == {"a": [0, 1, 2, 3, 4, 5], "b": []}
    assert passes == [T0 + k * PASS for k in range(6)]
    # "a" dies after its pass at minute 5: its lease runs until minute 8; "b" leads from then.
    for k in range(6, 11):
        await tick(k, "b")
    assert led["b"] == [8, 9, 10]
    # "a" comes back (a restarted process): it stands by.
    await tick(11, "a", "b")
    assert led == {"a": [0, 1, 2, 3, 4, 5], "b": [8, 9, 10, 11]}
    # "b" shuts down and releases: "a" leads at its next pass, not three minutes later.
    assert await lease.release(runtime.engine, holder="b", now=T0 + 11 * PASS + PASS / 2)
    await tick(12, "a")
    assert led["a"][-1] == 12
    # One pass per minute overall, never two: minutes 6 and 7 had none (the dead holder's).
    assert passes == [T0 + k * PASS for k in (0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12)]


async def test_the_real_jobs_run_under_the_lease(fresh: tuple[GraphQLClient, Any]) -> None:
    """Not mocked: the leader's pass runs every job (the reminders among them); the other's
    does nothing."""
    _gql, app = fresh
    runtime = app.state.runtime
    now = datetime.now(UTC)
    assert await scheduler.lead_and_run(runtime, "a", now)
    assert not await scheduler.lead_and_run(runtime, "b", now + timedelta(seconds=1))
    row = await holder_row(runtime.engine)
    assert row.holder == "a"
    assert row.expires_at == now + lease.ttl_for(runtime.settings.schedule_interval)


# -- real server processes --------------------------------------------------------------------


@dataclass
class Server:
    """One `ehome serve` process with a one-second scheduler; its log (JSON lines) in a file."""

    database: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "EHOME_DATABASE_URL": self.database,
            "EHOME_SECRET_KEY": SECRET,
            "EHOME_DATA_DIR": str(self.log.parent),
            "EHOME_SCHEDULE_INTERVAL": "1",
            "EHOME_LOG_LEVEL": "INFO",
            "EHOME_LOG_FORMAT": "json",
        }
        env.pop("EHOME_REDIS_URL", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.log.read_text()[-3000:])
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not start")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)

    def passes(self) -> list[tuple[datetime, str]]:
        """(time, holder) of each pass this process ran as the leader."""
        found = []
        for line in self.log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            if message.startswith(PASS_LINE):
                found.append(
                    (datetime.fromisoformat(entry["time"]), message.removeprefix(PASS_LINE))
                )
        return found


def pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


@pytest.fixture(params=("postgresql", "sqlite"))
def database(request: pytest.FixtureRequest, postgres: Postgres | None, tmp_path: Path) -> str:
    """A migrated database with the small demo district, for server processes to share."""
    if request.param == "postgresql":
        return seeded_postgres(postgres, "pw-leader")
    url = f"sqlite+aiosqlite:///{tmp_path / 'leader.db'}"
    run_isolated(lambda: asyncio.to_thread(upgrade, url))

    async def load() -> None:
        engine = make_engine(url)
        await seed(engine, scale="small", seed=TEMPLATE_SEED, demo_password="pw-leader")
        await engine.dispose()

    run_isolated(load)
    return url


@pytest.fixture
def servers(database: str, tmp_path: Path) -> Iterator[list[Server]]:
    made = [Server(database, tmp_path / f"server{i}.log") for i in range(3)]
    try:
        yield made
    finally:
        for server in made:
            server.stop(signal.SIGKILL)


async def wait_for_holder(
    engine: AsyncEngine, pids: set[int], seconds: float = 10.0
) -> tuple[str, datetime]:
    """The lease's holder once it is one of `pids` (and its lease runs)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        row = await holder_row(engine)
        if row is not None and pid_of(row.holder) in pids and row.expires_at > datetime.now(UTC):
            return str(row.holder), row.expires_at
        await asyncio.sleep(0.1)
    raise AssertionError(f"no holder among {pids} within {seconds} s: {row}")


async def test_processes_share_one_leader(database: str, servers: list[Server]) -> None:
    first, second, third = servers
    engine = make_engine(database)
    try:
        first.start()
        second.start()
        leader_holder, _ = await wait_for_holder(engine, {first.pid, second.pid})
        leader, follower = (
            (first, second) if pid_of(leader_holder) == first.pid else (second, first)
        )
        await asyncio.sleep(3)
        # Only the leader runs passes, about one a second.
        assert follower.passes() == []
        assert {holder for _, holder in leader.passes()} == {leader_holder}
        assert len(leader.passes()) >= 2

        # The leader shuts down: it releases the lease, and the follower leads at once.
        leader.stop(signal.SIGTERM)
        row = await holder_row(engine)
        assert row.holder == leader_holder and row.expires_at <= datetime.now(UTC)
        stopped = datetime.now(UTC)
        follower_holder, _ = await wait_for_holder(engine, {follower.pid}, seconds=5)
        taken = datetime.now(UTC)
        assert taken - stopped < timedelta(seconds=5)  # not the 30 s of the lease

        # A third process stands by while the follower leads.
        third.start()
        await asyncio.sleep(2.5)
        assert third.passes() == []
        assert (await holder_row(engine)).holder == follower_holder

        # The follower is killed: no release; the third waits for the lease to expire.
        follower.stop(signal.SIGKILL)
        killed = datetime.now(UTC)
        row = await holder_row(engine)
        assert row.holder == follower_holder and row.expires_at > killed
        await asyncio.sleep(2.5)
        assert third.passes() == []
        # As if the 30 s had gone by: the lease expires now.
        async with engine.begin() as conn:
            await conn.execute(
                update(SchedulerLease).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        third_holder, _ = await wait_for_holder(engine, {third.pid}, seconds=5)
        await asyncio.sleep(2)
        assert {holder for _, holder in third.passes()} == {third_holder}

        # Over the whole run: one leader at a time, never back and forth, about one pass a
        # second overall (two processes passing at once would double it).
        timeline = sorted(p for s in (leader, follower, third) for p in s.passes())
        holders = [holder for _, holder in timeline]
        runs = [h for i, h in enumerate(holders) if i == 0 or holders[i - 1] != h]
        assert runs == [leader_holder, follower_holder, third_holder]
        for server in (leader, follower, third):
            times = [t for t, _ in server.passes()]
            span = (times[-1] - times[0]).total_seconds()
            assert len(times) <= span + 2, (len(times), span)
    finally:
        await engine.dispose()
