"""The live feed across real server processes: two `ehome serve` processes share a PostgreSQL
database and a Redis; feed subscribers speak graphql-transport-ws over real sockets.

What this proves:

- an activity recorded through one process reaches subscribers on both processes, each event
  exactly once, in ascending id order, within a second (also for concurrent writers on both);
- Redis stopping and starting again on the same port while events flow loses nothing and
  duplicates nothing (the hub polls the database while the bus is away and catches up after
  the reconnect), and live delivery over the bus resumes afterwards;
- a server process killed mid-stream and started again: the client reconnects with `after` =
  its last cursor and receives every event recorded meanwhile, none missed, none twice.

Every received stream is also compared with what the database stored (`feedEvents`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from schema.ids import cursor, global_id, parse_cursor
from tenants.demo import generate
from tests.conftest import REQUIRE_SERVICES, SECRET, Postgres, seeded_postgres
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-feed-processes"
PROTOCOL = "graphql-transport-ws"
DEADLINE = 1.0  # seconds: an event must reach a subscriber on any process within this
RECOVERY = 12.0  # seconds allowed for catching up after Redis or a server comes back
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
POLL_BOUND = 5.0  # seconds: the hub polls the database every 2 s
FEED = "subscription($a: String) { feed(after: $a) { cursor title } }"
RECORD = (
    "mutation($b: ID!, $t: String!) { recordActivity(input: "
    '{branchId: $b, title: $t, kind: "THEME_DAY"}) { id } }'
)
NEWEST = (
    "query($a: String) { feedEvents(first: 100, after: $a) "
    "{ edges { cursor } pageInfo { hasNextPage endCursor } } }"
)


# -- services and server processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def database(postgres: Postgres | None) -> str:
    return seeded_postgres(postgres, PASSWORD)


@pytest.fixture(scope="module")
def branches() -> list[str]:
    """Global ids of the small demo's branches: activities are spread over all of them."""
    demo = generate("small", seed=7, as_of=date.today())
    return [global_id("Branch", b["id"]) for b in demo.branches]


@dataclass
class RestartableRedis:
    """A Redis this module controls: stopped and started again on the same port, so servers
    configured with its URL find it again after the restart."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", *NO_PERSISTENCE],
                stdout=subprocess.DEVNULL,
            )
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                except OSError:
                    time.sleep(0.02)
            # It exited (the port not yet free after the stop): try again.
            time.sleep(0.1)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill it: every client sees its connection drop, as when Redis crashes."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def own_redis() -> Iterator[RestartableRedis]:
    """A Redis per test: servers of other test modules publishing on the same channels (events
    of another database) cannot reach these servers."""
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("Redis is required (EHOME_REQUIRE_SERVICES=1): redis-server not found")
        pytest.skip("Redis unavailable: redis-server not found")
    redis = RestartableRedis(free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@dataclass
class Server:
    """One `ehome serve` process; its log goes to a file (a pipe nobody reads would fill up
    with the bus's warnings and block the server)."""

    database: str
    redis_url: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        env = {
            **os.environ,
            "EHOME_DATABASE_URL": self.database,
            "EHOME_REDIS_URL": self.redis_url,
            "EHOME_SECRET_KEY": SECRET,
            "EHOME_DATA_DIR": str(self.log.parent),
            "EHOME_LOG_LEVEL": "WARNING",
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{self.tail()}")
            try:
                # The lifespan joins the bus and starts the hub before /healthz answers.
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to its WebSocket clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextlib.contextmanager
def two_servers(database: str, redis_url: str, tmp: Path) -> Iterator[tuple[Server, Server]]:
    a = Server(database, redis_url, tmp / "a.log")
    b = Server(database, redis_url, tmp / "b.log")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


# -- clients -------------------------------------------------------------------------------


async def gql(
    http: httpx.AsyncClient,
    base: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def login(http: httpx.AsyncClient, base: str) -> str:
    data = await gql(
        http,
        base,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
        {"u": "admin", "p": PASSWORD},
    )
    return str(data["login"]["accessToken"])


async def newest_cursor(http: httpx.AsyncClient, base: str, token: str) -> str:
    """Where a test's stream starts: subscribing `after` it leaves no window in which an event
    could be committed before the subscription is registered and never be delivered."""
    edges = (await gql(http, base, NEWEST, {"a": None}, token))["feedEvents"]["edges"]
    return str(edges[0]["cursor"]) if edges else cursor(0)  # the seed stores no events


async def stored_ids_after(http: httpx.AsyncClient, base: str, token: str, start: int) -> list[int]:
    """Ids of every stored event past `start`, ascending: what a subscriber must have got."""
    ids: list[int] = []
    after: str | None = None
    while True:
        page = (await gql(http, base, NEWEST, {"a": after}, token))["feedEvents"]
        batch = [parse_cursor(edge["cursor"]) for edge in page["edges"]]
        ids.extend(i for i in batch if i > start)
        if not page["pageInfo"]["hasNextPage"] or (batch and batch[-1] <= start):
            return sorted(ids)
        after = page["pageInfo"]["endCursor"]


@dataclass(frozen=True)
class Received:
    id: int
    cursor: str
    title: str
    at: float  # time.monotonic() on arrival


class FeedClient:
    """One graphql-transport-ws connection with one `feed` subscription; a reader task collects
    the events and answers the server's pings."""

    def __init__(self, url: str, token: str, after: str | None) -> None:
        self.url, self.token, self.after = url, token, after
        self.events: list[Received] = []
        self.problems: list[Any] = []  # error/complete messages: a healthy feed never ends
        self.closed = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> FeedClient:
        self._ws = await connect(self.url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        await self._ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
            )
        )
        ack = json.loads(await asyncio.wait_for(self._ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        subscribe = {
            "id": "feed",
            "type": "subscribe",
            "payload": {"query": FEED, "variables": {"a": self.after}},
        }
        await self._ws.send(json.dumps(subscribe))
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self._ws.send(json.dumps({"type": "pong"}))
                elif kind == "next" and "errors" not in message["payload"]:
                    event = message["payload"]["data"]["feed"]
                    self.events.append(
                        Received(
                            parse_cursor(event["cursor"]),
                            event["cursor"],
                            # The feed titles an activity "<branch> · <kind>：<title>".
                            event["title"].rsplit("：", 1)[-1],
                            time.monotonic(),
                        )
                    )
                elif kind != "pong":
                    self.problems.append(message)
        except ConnectionClosed:
            pass  # the server went away: the test decides whether that was expected
        finally:
            self.closed.set()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def got(self, titles: Collection[str], within: float, what: str) -> None:
        """Wait until every one of `titles` has arrived."""
        wanted = set(titles)
        await self.until(lambda: wanted <= {e.title for e in self.events}, within, what)

    def titles(self, prefix: str) -> list[str]:
        return [e.title for e in self.events if e.title.startswith(prefix)]

    async def until(self, check: Callable[[], bool], within: float, what: str) -> None:
        """Wait until `check()` holds; fail after `within` seconds, naming `what`."""
        deadline = time.monotonic() + within
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: not within {within} s; got {len(self.events)} events, "
                    f"problems {self.problems}"
                )
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def feed(url: str, token: str, after: str | None) -> AsyncIterator[FeedClient]:
    client = await FeedClient(url, token, after).open()
    try:
        yield client
    finally:
        await client.close()


def assert_exact_stream(events: list[Received], stored: list[int], what: str) -> None:
    """Ascending ids, none twice, and exactly the events the database holds past the start."""
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), (
        f"{what}: duplicates {sorted(i for i in ids if ids.count(i) > 1)}"
    )
    assert ids == sorted(ids), f"{what}: out of order {ids}"
    missing = sorted(set(stored) - set(ids))
    extra = sorted(set(ids) - set(stored))
    assert not missing and not extra, f"{what}: missing {missing}, not stored {extra}"


class Recorder:
    """Records activities titled `<prefix>-NNN` through one server, optionally paced."""

    def __init__(
        self, http: httpx.AsyncClient, base: str, token: str, branches: list[str], prefix: str
    ) -> None:
        self.http, self.base, self.token = http, base, token
        self.branches, self.prefix = branches, prefix
        self.done: list[str] = []  # titles whose mutation answered
        self.answered_at: dict[str, float] = {}

    async def record(self, n: int) -> str:
        title = f"{self.prefix}-{n:03d}"
        branch = self.branches[n % len(self.branches)]
        await gql(self.http, self.base, RECORD, {"b": branch, "t": title}, self.token)
        self.done.append(title)
        self.answered_at[title] = time.monotonic()
        return title

    async def stream(
        self, count: int, pause: float, hook: Callable[[int], Awaitable[None]] | None = None
    ) -> None:
        for n in range(count):
            if hook is not None:
                await hook(n)
            await self.record(n)
            await asyncio.sleep(pause)


# -- tests ---------------------------------------------------------------------------------


async def test_an_event_recorded_through_one_process_reaches_subscribers_on_both(
    database: str, own_redis: RestartableRedis, branches: list[str], tmp_path: Path
) -> None:
    with two_servers(database, own_redis.url, tmp_path) as (a, b):
        async with httpx.AsyncClient(timeout=15) as http:
            token = await login(http, a.base)
            start = await newest_cursor(http, a.base, token)
            async with feed(a.ws, token, start) as on_a, feed(b.ws, token, start) as on_b:
                subscribers = (on_a, on_b)
                recorder = Recorder(http, a.base, token, branches, "cross")
                # One at a time: each must arrive on both processes within the deadline.
                for n in range(5):
                    title = await recorder.record(n)
                    for sub in subscribers:
                        await sub.got([title], DEADLINE, title)
                latencies = [
                    e.at - recorder.answered_at[e.title]
                    for sub in subscribers
                    for e in sub.events
                    if e.title in recorder.answered_at
                ]
                assert max(latencies) < DEADLINE, latencies

                # Concurrent writers on both processes: still one order, the same everywhere.
                other = Recorder(http, b.base, token, branches, "cross-b")
                await asyncio.gather(
                    *(recorder.record(n) for n in range(5, 15)),
                    *(other.record(n) for n in range(10)),
                )
                wanted = set(recorder.done) | set(other.done)
                for sub in subscribers:
                    await sub.got(wanted, DEADLINE, "concurrent burst")
                await asyncio.sleep(0.3)  # room for a duplicate to show up
                stored = await stored_ids_after(http, a.base, token, parse_cursor(start))
                for sub, name in ((on_a, "subscriber on A"), (on_b, "subscriber on B")):
                    assert not sub.problems, sub.problems
                    assert_exact_stream(sub.events, stored, name)
                    assert sorted(sub.titles("cross")) == sorted(wanted)
                assert [e.id for e in on_a.events] == [e.id for e in on_b.events]


async def test_a_redis_restart_while_events_flow_loses_and_repeats_nothing(
    database: str, own_redis: RestartableRedis, branches: list[str], tmp_path: Path
) -> None:
    total, outage_at, down_for = 40, 15, 8
    with two_servers(database, own_redis.url, tmp_path) as (a, b):
        async with httpx.AsyncClient(timeout=30) as http:
            token = await login(http, a.base)
            start = await newest_cursor(http, a.base, token)
            async with feed(b.ws, token, start) as on_b, feed(a.ws, token, start) as on_a:
                recorder = Recorder(http, a.base, token, branches, "redis")

                async def outage(n: int) -> None:
                    # In the middle of the stream Redis goes away; activities keep being
                    # recorded. Before it comes back (on the same port), the events recorded
                    # meanwhile must have reached both processes by polling the database.
                    if n == outage_at:
                        await asyncio.to_thread(own_redis.stop)
                    elif n == outage_at + down_for:
                        during = set(recorder.done[outage_at:])
                        for sub in (on_a, on_b):
                            await sub.got(during, POLL_BOUND, "polled while Redis was down")
                        assert own_redis.process is None  # still down: not delivered by the bus
                        await asyncio.to_thread(own_redis.start)

                await recorder.stream(total, 0.08, outage)
                assert len(recorder.done) == total  # publishing failures never fail a change
                for sub in (on_a, on_b):
                    await sub.got(recorder.done, RECOVERY, "catch-up")

                # The bus is live again (not only the 2 s poll): probes arrive fast once the
                # listener has reconnected.
                probes = Recorder(http, a.base, token, branches, "probe")
                deadline, fast = time.monotonic() + RECOVERY, 0
                while fast < 3:
                    assert time.monotonic() < deadline, "bus delivery did not resume"
                    title = await probes.record(len(probes.done))
                    await on_b.got([title], 3.0, title)
                    took = on_b.events[-1].at - probes.answered_at[title]
                    fast = fast + 1 if took < 0.3 else 0
                for sub in (on_a, on_b):
                    await sub.got(probes.done, 3.0, "probes")
                await asyncio.sleep(0.3)  # room for a late duplicate
                stored = await stored_ids_after(http, a.base, token, parse_cursor(start))
                for sub, name in ((on_a, "subscriber on A"), (on_b, "subscriber on B")):
                    assert not sub.problems, sub.problems
                    assert_exact_stream(sub.events, stored, name)
                    assert sub.titles("redis") == recorder.done


async def test_a_restarted_server_resumes_with_after_missing_nothing(
    database: str, own_redis: RestartableRedis, branches: list[str], tmp_path: Path
) -> None:
    total = 30
    with two_servers(database, own_redis.url, tmp_path) as (a, b):
        async with httpx.AsyncClient(timeout=15) as http:
            token = await login(http, a.base)
            start = await newest_cursor(http, a.base, token)
            recorder = Recorder(http, a.base, token, branches, "restart")
            # A's subscriber lives through B's restart untouched.
            steady = await FeedClient(a.ws, token, start).open()
            first = await FeedClient(b.ws, token, start).open()
            second: FeedClient | None = None
            writing = asyncio.create_task(recorder.stream(total, 0.06))
            try:
                await first.until(lambda: len(first.titles("restart")) >= 8, 10, "before kill")
                # B dies mid-stream; events keep being recorded through A meanwhile.
                await asyncio.to_thread(b.kill)
                await asyncio.wait_for(first.closed.wait(), 5)
                before = list(first.events)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(b.start)  # the same port: clients reconnect where they were
                second = await FeedClient(b.ws, token, before[-1].cursor).open()
                await writing
                assert len(recorder.done) == total
                await second.until(
                    lambda: (
                        len(before) + len(second.events) >= len(recorder.done)
                        and set(recorder.done) <= {e.title for e in before + second.events}
                    ),
                    RECOVERY,
                    "after reconnect",
                )
                await steady.got(recorder.done, DEADLINE, "subscriber on A")
                await asyncio.sleep(0.3)  # room for a late duplicate
                stored = await stored_ids_after(http, a.base, token, parse_cursor(start))
                assert not first.problems and not second.problems, (first.problems, second.problems)
                assert second.events and second.events[0].id > before[-1].id
                assert_exact_stream(before + second.events, stored, "both sessions together")
                assert_exact_stream(steady.events, stored, "subscriber on A")
                assert not steady.problems and not steady.closed.is_set(), steady.problems
                titles = [e.title for e in before + second.events if e.title.startswith("restart")]
                assert titles == recorder.done
            finally:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
                await steady.close()
                await first.close()
                if second is not None:
                    await second.close()
