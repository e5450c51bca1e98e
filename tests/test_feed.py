"""The command center's live feed, end to end over HTTP and graphql-transport-ws, on SQLite and
PostgreSQL.

Proves: `recordActivity` rejects bad input as BAD_USER_INPUT naming the field, refuses a branch
outside the writer's reach (or absent) as FORBIDDEN with nothing written or published, and on
success returns the Activity and produces exactly one BRANCH_ACTIVITY event carrying its branch
and tenant; each `feed` subscriber gets exactly the events of its subtree, `under` narrows (never
widens) and `kinds` filters; a subscriber that reconnects with `after` gets what it missed first,
in ascending id order, nothing twice, then live events; `feedEvents` pages the history newest
first within the same scope; members and bad arguments are refused; the outbox publishes each
event on the bus once its transaction has committed (checked on the bus itself, so the hub's
2-second poll of the database cannot stand in for a missing publish), and a refused mutation
or a rolled-back `Runtime.write()` publishes and stores nothing; the `overview` subscription pushes
at once, again when an activity in scope changes the tiles, and at most once a second; and a
subscriber that falls more than EHOME_FEED_QUEUE events behind ends with SUBSCRIBER_TOO_SLOW and
its last cursor, from which a new subscription resumes without losing an event.

The WebSocket helpers here (`Served`, `Socket`) are shared with test_alerts.py and
test_ws_hygiene.py.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from sqlalchemy import select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from schema.ids import cursor, global_id, parse_cursor
from server.app import create_app
from server.feed.events import Event, emit, tenant_info
from server.feed.hub import CHANNEL
from server.feed.models import FeedEventRow, FeedKind, Light
from server.runtime import Runtime
from tenants.demo import DemoData
from tests.conftest import DEMO_PASSWORD, Databases, settings_for

PROTOCOL = "graphql-transport-ws"
Json = dict[str, Any]
T = TypeVar("T")

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }"
RECORD = (
    "mutation($i: RecordActivityInput!) { recordActivity(input: $i) {"
    " id title kind occurredAt attendance branch { id name tenant { code } } } }"
)
EVENT_FIELDS = (
    "id cursor kind light title occurredAt payload tenant { id code path level } branch { id name }"
)
FEED = (
    "subscription($under: ID, $kinds: [FeedKind!], $after: String) {"
    f" feed(under: $under, kinds: $kinds, after: $after) {{ {EVENT_FIELDS} }} }}"
)
HISTORY = (
    "query($under: ID, $kinds: [FeedKind!], $after: String, $first: Int) {"
    " feedEvents(under: $under, kinds: $kinds, after: $after, first: $first) {"
    f" edges {{ cursor node {{ {EVENT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)
TILES = "tenant { code } branches members activitiesToday openAlerts lights { green yellow red }"


# -- the oracle ---------------------------------------------------------------------------------


def tenant_of(demo: DemoData, code: str) -> Json:
    return next(t for t in demo.tenants if t["code"] == code)


def tenant_gid(demo: DemoData, code: str) -> str:
    return str(global_id("Tenant", tenant_of(demo, code)["id"]))


def branch_at(demo: DemoData, code: str, nth: int = 0) -> int:
    """The id of the nth branch sitting directly at the tenant `code`."""
    tenant = tenant_of(demo, code)["id"]
    ids: list[int] = [b["id"] for b in demo.branches if b["tenant_id"] == tenant]
    return ids[nth]


def event_id(event: Json) -> int:
    return parse_cursor(event["cursor"])


# -- one running app ----------------------------------------------------------------------------


class Served:
    """One app running under starlette's TestClient (its lifespan included), and the access
    tokens of whoever signed in on it. HTTP requests, WebSockets and `call` all run on the
    TestClient's event loop thread, the loop the app's hub lives on."""

    def __init__(self, client: TestClient, app: Starlette) -> None:
        self.client = client
        self.app = app
        self.tokens: dict[str, str] = {}

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the app's loop (the hub and the engine belong to it)."""
        portal = self.client.portal
        assert portal is not None, "the TestClient is not running"
        return portal.call(fn)

    def rows(self, sql: str, **params: Any) -> list[Json]:
        async def fetch() -> list[Json]:
            async with self.runtime.engine.connect() as conn:
                return [dict(r._mapping) for r in await conn.execute(text(sql), params)]

        return self.call(fetch)

    def count(self, sql: str, **params: Any) -> int:
        [row] = self.rows(sql, **params)
        return int(next(iter(row.values())))

    def token(self, username: str) -> str:
        if username not in self.tokens:
            body = self.post(None, LOGIN, {"u": username, "p": DEMO_PASSWORD})
            assert "errors" not in body, body
            self.tokens[username] = body["data"]["login"]["accessToken"]
        return self.tokens[username]

    def post(self, username: str | None, query: str, variables: Json | None = None) -> Json:
        headers = {} if username is None else {"authorization": f"Bearer {self.token(username)}"}
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: Json = response.json()
        return body

    def data(self, username: str | None, query: str, variables: Json | None = None) -> Json:
        body = self.post(username, query, variables)
        assert "errors" not in body, body["errors"]
        data: Json = body["data"]
        return data

    def error(self, username: str | None, query: str, variables: Json | None = None) -> Json:
        body = self.post(username, query, variables)
        assert body.get("errors"), f"expected an error, got {body}"
        error: Json = body["errors"][0]
        return error

    def record(
        self,
        username: str,
        branch: int,
        title: str,
        *,
        kind: str = "THEME_DAY",
        occurred_at: datetime | None = None,
        attendance: int | None = None,
    ) -> Json:
        """recordActivity, which must succeed: the Activity it returns."""
        data = self.data(
            username, RECORD, {"i": activity_input(branch, title, kind, occurred_at, attendance)}
        )
        activity: Json = data["recordActivity"]
        return activity

    def emit(
        self,
        path: str,
        title: str,
        *,
        kind: FeedKind = FeedKind.WARNING,
        light: Light | None = None,
    ) -> int:
        """Commit one event about the tenant at `path` the way services do (outbox, published
        after the commit); its id."""

        async def write() -> int:
            async with self.runtime.write() as (conn, outbox):
                tenant = await tenant_info(conn, path)
                assert tenant is not None, path
                event = await emit(
                    conn,
                    kind=kind,
                    title=title,
                    tenant=tenant,
                    light=light,
                    occurred_at=datetime.now(UTC),
                )
                outbox.append(event)
            return event.id

        return self.call(write)

    def history(self, username: str, **variables: Any) -> list[Json]:
        """Every page of feedEvents, following `after`; checks the page links on the way."""
        nodes: list[Json] = []
        after = None
        while True:
            page = self.data(username, HISTORY, {**variables, "after": after})["feedEvents"]
            nodes += [edge["node"] for edge in page["edges"]]
            assert [e["cursor"] for e in page["edges"]] == [
                e["node"]["cursor"] for e in page["edges"]
            ]
            if page["edges"]:
                assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]

    def published(self) -> Published:
        """From now on, every event published on the app's bus (not what the hub's poll finds
        in the database), each checked to be committed when it is published."""
        published = Published(self.runtime)

        async def listen() -> None:
            self.runtime.bus.subscribe(CHANNEL, published.on_message)

        self.call(listen)
        return published

    @contextmanager
    def socket(self, username: str | None = None) -> Iterator[Socket]:
        """A graphql-transport-ws connection, signed in as `username` (acknowledged), or
        not initialised at all."""
        with self.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as session:
            socket = Socket(session)
            if username is not None:
                socket.init(self.token(username))
            yield socket


class Published:
    """Events as published on the bus. Subscribers only learn of an event from the bus or from
    the hub's poll of the database every 2 s; recording the bus tells a publish from a poll."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.events: list[Event] = []
        self.uncommitted: list[int] = []  # published before their transaction committed

    async def on_message(self, message: str) -> None:
        event = Event.from_json(message)
        # A connection of its own: it sees only what is committed.
        async with self.runtime.engine.connect() as conn:
            stored = await conn.scalar(select(FeedEventRow.id).where(FeedEventRow.id == event.id))
        if stored is None:
            self.uncommitted.append(event.id)
        self.events.append(event)

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]


def activity_input(
    branch: int | str,
    title: str,
    kind: str = "THEME_DAY",
    occurred_at: datetime | None = None,
    attendance: int | None = None,
) -> Json:
    value: Json = {
        "branchId": branch if isinstance(branch, str) else global_id("Branch", branch),
        "title": title,
        "kind": kind,
    }
    if occurred_at is not None:
        value["occurredAt"] = occurred_at.isoformat()
    if attendance is not None:
        value["attendance"] = attendance
    return value


class Socket:
    """A graphql-transport-ws client over starlette's test WebSocket, with timeouts (the test
    session's own receive waits forever). Messages of several operations on one connection are
    kept apart by id; server pings are answered unless `answer_pings` is off."""

    def __init__(self, session: WebSocketTestSession) -> None:
        self.session = session
        self.answer_pings = True
        self.pings: list[Json] = []  # the server's pings, as they came
        self.pending: dict[str, deque[Json]] = defaultdict(deque)

    def send(self, message: Json) -> None:
        self.session.send_json(message)

    def raw(self, timeout: float) -> Json:
        """The next protocol message (pings counted and answered); WebSocketDisconnect when the
        server closes, TimeoutError when nothing comes in time."""

        deadline = time.monotonic() + timeout

        async def get() -> Any:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                return await self.session._send_rx.receive()

        while True:
            message = self.session.portal.call(get)
            if message["type"] == "websocket.close":
                raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
            body: Json = json.loads(message["text"])
            if body.get("type") == "ping":
                self.pings.append(body)
                if self.answer_pings:
                    self.send({"type": "pong"})
                continue
            return body

    def init(self, token: str) -> None:
        self.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert self.raw(5.0) == {"type": "connection_ack"}

    def subscribe(self, op: str, query: str, variables: Json | None = None) -> None:
        self.send(
            {
                "type": "subscribe",
                "id": op,
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    def complete(self, op: str) -> None:
        self.send({"type": "complete", "id": op})

    def message(self, op: str, timeout: float = 5.0) -> Json:
        """The next message for operation `op`; messages of other operations wait their turn."""
        deadline = time.monotonic() + timeout
        while not self.pending[op]:
            try:
                body = self.raw(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                waiting = {k: list(v) for k, v in self.pending.items() if v}
                raise AssertionError(
                    f"nothing for {op!r} in {timeout} s; unread: {waiting}"
                ) from None
            self.pending[str(body.get("id"))].append(body)
        return self.pending[op].popleft()

    def next(self, op: str, timeout: float = 5.0) -> Json:
        """The data of the next result of `op`, which must carry no error."""
        body = self.message(op, timeout)
        assert body["type"] == "next" and "errors" not in body["payload"], body
        data: Json = body["payload"]["data"]
        return data

    def events(self, op: str, count: int, timeout: float = 5.0) -> list[Json]:
        return [self.next(op, timeout)["feed"] for _ in range(count)]

    def drain(self) -> list[Json]:
        """Whatever has arrived and not been read yet, of every operation."""
        left = [m for queue in self.pending.values() for m in queue]
        self.pending.clear()
        while True:
            try:
                left.append(self.raw(0.05))
            except TimeoutError:
                return left

    def closed(self, timeout: float) -> int:
        """Wait for the server to close the connection, reading past whatever comes; the code."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.raw(max(0.0, deadline - time.monotonic()))
        except WebSocketDisconnect as closed:
            return closed.code


@pytest.fixture
def serve(databases: Databases, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start apps on private copies of the seeded database; `serve(feed_queue=10)` overrides
    settings. Each is stopped (lifespan and all) at the end of the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Served:
            app = create_app(settings_for(databases.copy(), tmp_path, **overrides))
            client = stack.enter_context(TestClient(app))
            return Served(client, app)

        yield start


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    return serve()


# -- recordActivity ------------------------------------------------------------------------------


def test_record_activity_names_the_field_of_bad_input(served: Served, demo: DemoData) -> None:
    branch = branch_at(demo, "d01t01v001")
    soon = datetime.now(UTC) + timedelta(days=3)
    cases: list[tuple[Json, str]] = [
        (activity_input(branch, "党课", kind="PICNIC"), "kind"),
        (activity_input(branch, ""), "title"),
        (activity_input(branch, "   "), "title"),
        (activity_input(branch, "课" * 201), "title"),
        (activity_input(branch, "党课", occurred_at=soon), "occurredAt"),
        ({**activity_input(branch, "党课"), "occurredAt": "2024-05-01T10:00:00"}, "occurredAt"),
        (activity_input(branch, "党课", attendance=-1), "attendance"),
        (activity_input(tenant_gid(demo, "d01t01v001"), "党课"), "branchId"),
        (activity_input("not-a-global-id", "党课"), "branchId"),
    ]
    activities = served.count("SELECT count(*) FROM activities")
    for value, field in cases:
        error = served.error("admin", RECORD, {"i": value})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (field, error)
        assert error["extensions"]["argument"] == field, (value, error)
    # Refused before anything was written.
    assert served.count("SELECT count(*) FROM activities") == activities
    assert served.count("SELECT count(*) FROM feed_events") == 0


def test_a_junior_admin_records_only_in_its_village(served: Served, demo: DemoData) -> None:
    junior = "admin.d01t01v001"
    elsewhere = [
        branch_at(demo, "d01t01v002"),  # a sibling village
        branch_at(demo, "d01t01"),  # its own town's branch, above it
        branch_at(demo, "d01t02v005"),  # another town
        99_999,  # no such branch: the same refusal, existence does not leak
    ]
    activities = served.count("SELECT count(*) FROM activities")
    published = served.published()
    with served.socket("admin") as watcher:
        watcher.subscribe("all", FEED)
        messages = set()
        for branch in elsewhere:
            error = served.error(junior, RECORD, {"i": activity_input(branch, "越界活动")})
            assert error["extensions"]["code"] == "FORBIDDEN", (branch, error)
            messages.add(error["message"])
        assert len(messages) == 1, messages

        # Nothing written: no activity, no audit entry of one, no event stored...
        assert served.count("SELECT count(*) FROM activities") == activities
        assert served.count("SELECT count(*) FROM audit_log WHERE action = 'activity.record'") == 0
        assert served.count("SELECT count(*) FROM feed_events") == 0
        # ...and nothing published: the first event the super admin sees is the next success.
        assert published.ids == []
        mine = served.record(junior, branch_at(demo, "d01t01v001"), "本村活动")
        [first] = watcher.events("all", 1)
        assert first["title"].endswith("本村活动")
        assert first["branch"]["id"] == mine["branch"]["id"]
        assert published.ids == [event_id(first)] and published.uncommitted == []


def test_record_activity_returns_it_and_emits_one_event(served: Served, demo: DemoData) -> None:
    junior = "admin.d01t01v001"
    branch = branch_at(demo, "d01t01v001", 1)
    when = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    published = served.published()
    with served.socket("admin") as watcher:
        watcher.subscribe("all", FEED)
        title = "学" * 200  # the longest title allowed, padded with blanks that are trimmed
        activity = served.record(
            junior, branch, f"  {title}  ", kind="STUDY_SESSION", occurred_at=when, attendance=12
        )
        [live] = watcher.events("all", 1)
        assert watcher.drain() == []

    assert activity["title"] == title
    assert activity["kind"] == "STUDY_SESSION"
    assert activity["attendance"] == 12
    assert datetime.fromisoformat(activity["occurredAt"]) == when
    assert activity["branch"]["id"] == global_id("Branch", branch)
    assert activity["branch"]["tenant"] == {"code": "d01t01v001"}
    activity_pk = int(served.rows("SELECT max(id) AS id FROM activities")[0]["id"])
    assert activity["id"] == global_id("Activity", activity_pk)

    # Exactly one event, the same in the history and live.
    [stored] = served.rows("SELECT id, kind, tenant_path FROM feed_events")
    # Published once, by the mutation itself, after its commit.
    assert published.ids == [stored["id"]] and published.uncommitted == []
    assert stored["kind"] == "BRANCH_ACTIVITY"
    assert stored["tenant_path"] == tenant_of(demo, "d01t01v001")["path"]
    [history] = served.history("admin")
    assert history == live
    village = tenant_of(demo, "d01t01v001")
    assert live["id"] == global_id("FeedEvent", stored["id"])
    assert live["cursor"] == cursor(stored["id"])
    assert live["kind"] == "BRANCH_ACTIVITY"
    assert live["light"] is None
    assert datetime.fromisoformat(live["occurredAt"]) == when
    assert live["branch"] == {"id": global_id("Branch", branch), "name": activity["branch"]["name"]}
    assert live["tenant"] == {
        "id": global_id("Tenant", village["id"]),
        "code": village["code"],
        "path": village["path"],
        "level": "VILLAGE",
    }
    assert live["payload"]["activity"] == activity_pk
    assert served.count("SELECT count(*) FROM audit_log WHERE action = 'activity.record'") == 1


# -- scope of the live feed ----------------------------------------------------------------------


def test_each_subscriber_gets_exactly_its_subtree(served: Served, demo: DemoData) -> None:
    t01, t02 = tenant_of(demo, "d01t01")["path"], tenant_of(demo, "d01t02")["path"]
    # (title, where, kind): activities in villages of both towns, at both towns themselves and at
    # the district, and warnings.
    happenings = [
        ("v001", "d01t01v001", FeedKind.BRANCH_ACTIVITY),
        ("v002", "d01t01v002", FeedKind.BRANCH_ACTIVITY),
        ("v005", "d01t02v005", FeedKind.BRANCH_ACTIVITY),
        ("v006", "d01t02v006", FeedKind.BRANCH_ACTIVITY),
        ("t01", "d01t01", FeedKind.BRANCH_ACTIVITY),
        ("t02", "d01t02", FeedKind.BRANCH_ACTIVITY),
        ("d01", "d01", FeedKind.BRANCH_ACTIVITY),
        ("w-v001", "d01t01v001", FeedKind.WARNING),
        ("w-t02", "d01t02", FeedKind.WARNING),
        ("v001-again", "d01t01v001", FeedKind.BRANCH_ACTIVITY),
        ("v005-again", "d01t02v005", FeedKind.BRANCH_ACTIVITY),
    ]
    # (who, operation, arguments, which events it must get).
    subscriptions: list[tuple[str, str, Json, Callable[[str, FeedKind], bool]]] = [
        ("admin", "all", {}, lambda path, kind: True),
        (
            "admin",
            "under-t01",
            {"under": tenant_gid(demo, "d01t01")},
            lambda p, k: p.startswith(t01),
        ),
        ("admin", "warnings", {"kinds": ["WARNING"]}, lambda p, k: k is FeedKind.WARNING),
        (
            "admin",
            "t02-activities",
            {"under": tenant_gid(demo, "d01t02"), "kinds": ["BRANCH_ACTIVITY"]},
            lambda p, k: p.startswith(t02) and k is FeedKind.BRANCH_ACTIVITY,
        ),
        ("admin.d01t01", "all", {}, lambda p, k: p.startswith(t01)),
        ("admin.d01t01v001", "all", {}, lambda p, k: p.startswith(t01 + "v001/")),
        # `under` its own village changes nothing for a village admin; `under` its town or
        # another town, tenants it may not see, reads like a tenant that does not exist: nothing.
        (
            "admin.d01t01v001",
            "under-v001",
            {"under": tenant_gid(demo, "d01t01v001")},
            lambda p, k: p.startswith(t01 + "v001/"),
        ),
        (
            "admin.d01t01v001",
            "under-t01",
            {"under": tenant_gid(demo, "d01t01")},
            lambda p, k: False,
        ),
        (
            "admin.d01t01v001",
            "under-t02",
            {"under": tenant_gid(demo, "d01t02")},
            lambda p, k: False,
        ),
        ("admin.d01t02v005", "all", {}, lambda p, k: p.startswith(t02 + "v005/")),
    ]
    with ExitStack() as stack:
        sockets = {
            who: stack.enter_context(served.socket(who))
            for who in dict.fromkeys(who for who, *_ in subscriptions)
        }
        for who, op, variables, _ in subscriptions:
            sockets[who].subscribe(op, FEED, variables)
        time.sleep(0.2)  # let every subscription register with the hub before anything happens
        published = served.published()
        paths = {}
        for title, code, kind in happenings:
            paths[title] = tenant_of(demo, code)["path"]
            if kind is FeedKind.BRANCH_ACTIVITY:
                served.record("admin", branch_at(demo, code), title)
            else:
                served.emit(paths[title], title, kind=kind, light=Light.YELLOW)

        for who, op, _, sees in subscriptions:
            expected = [t for t, code, kind in happenings if sees(paths[t], kind)]
            got = sockets[who].events(op, len(expected))
            assert [e["title"].rpartition("：")[2] for e in got] == expected, (who, op)
            ids = [event_id(e) for e in got]
            assert ids == sorted(set(ids)), (who, op, ids)
            assert all(e["tenant"]["path"] == paths[t] for e, t in zip(got, expected, strict=True))
        time.sleep(0.3)  # anything sent past the expected events would be in by now
        for who, socket in sockets.items():
            assert socket.drain() == [], who
    stored = [r["id"] for r in served.rows("SELECT id FROM feed_events ORDER BY id")]
    assert published.ids == stored and published.uncommitted == []


def test_feed_subscriptions_refuse_members_and_bad_arguments(
    served: Served, demo: DemoData
) -> None:
    member = served.rows("SELECT username FROM users WHERE username LIKE 'm.%' ORDER BY id")[0]
    with served.socket(member["username"]) as socket:
        socket.subscribe("feed", FEED)
        refused = socket.message("feed")
        assert refused["type"] == "error", refused
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["FORBIDDEN"]
    with served.socket("admin") as socket:
        for op, variables, argument in [
            ("after", {"after": "garbage"}, "after"),
            ("not-a-cursor", {"after": tenant_gid(demo, "d01")}, "after"),
            ("under", {"under": str(global_id("Branch", 1))}, "under"),
        ]:
            socket.subscribe(op, FEED, variables)
            message = socket.message(op)
            [error] = message["payload"]["errors"]
            assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, op
            assert socket.message(op)["type"] == "complete"


# -- resuming with `after` -----------------------------------------------------------------------


def test_a_subscriber_resumes_after_its_last_cursor(served: Served, demo: DemoData) -> None:
    senior = "admin.d01t01"
    v001, v002, t01 = (branch_at(demo, c) for c in ("d01t01v001", "d01t01v002", "d01t01"))
    with served.socket(senior) as first:
        first.subscribe("feed", FEED)
        time.sleep(0.1)
        for n, branch in enumerate((v001, v002, t01)):
            served.record("admin", branch, f"seen-{n}")
        seen = first.events("feed", 3)
    last = seen[-1]["cursor"]

    # Offline: three in scope, one outside it.
    served.record("admin", v002, "missed-0")
    served.record("admin", branch_at(demo, "d01t02v005"), "outside")
    served.record("admin", t01, "missed-1")
    served.record("admin", v001, "missed-2")

    with served.socket(senior) as again:
        again.subscribe("resume", FEED, {"after": last})
        # From further back too: the replay and the live part meet without a seam.
        again.subscribe("older", FEED, {"after": seen[0]["cursor"]})
        missed = again.events("resume", 3)
        time.sleep(0.1)
        served.record("admin", v001, "live-0")
        served.record("admin", t01, "live-1")
        live = again.events("resume", 2)
        older = again.events("older", 7)
        time.sleep(0.3)
        assert again.drain() == []

    def titles(events: list[Json]) -> list[str]:
        return [e["title"].rpartition("：")[2] for e in events]

    assert titles(missed) == ["missed-0", "missed-1", "missed-2"]
    assert titles(live) == ["live-0", "live-1"]
    ids = [event_id(e) for e in seen + missed + live]
    assert ids == sorted(set(ids))
    assert older == seen[1:] + missed + live


# -- history -------------------------------------------------------------------------------------


def test_feed_events_pages_history_newest_first_in_scope(served: Served, demo: DemoData) -> None:
    for title, code in [
        ("a", "d01t01v001"),
        ("b", "d01t01v002"),
        ("c", "d01t02v005"),
        ("d", "d01t01"),
        ("e", "d01t01v001"),
        ("f", "d01"),
    ]:
        served.record("admin", branch_at(demo, code), title)
    served.emit(tenant_of(demo, "d01t01v001")["path"], "g", light=Light.RED)

    def titles(nodes: list[Json]) -> list[str]:
        return [n["title"].rpartition("：")[2] for n in nodes]

    everything = served.history("admin", first=2)
    assert titles(everything) == ["g", "f", "e", "d", "c", "b", "a"]
    ids = [event_id(n) for n in everything]
    assert ids == sorted(ids, reverse=True)
    assert everything == served.history("admin")  # one page or many: the same events

    # Pages: `first` at a time, `after` continues with older ones.
    page = served.data("admin.d01t01", HISTORY, {"first": 2})["feedEvents"]
    assert titles([e["node"] for e in page["edges"]]) == ["g", "e"]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = served.data(
        "admin.d01t01", HISTORY, {"first": 10, "after": page["pageInfo"]["endCursor"]}
    )
    assert titles([e["node"] for e in rest["feedEvents"]["edges"]]) == ["d", "b", "a"]
    assert rest["feedEvents"]["pageInfo"]["hasNextPage"] is False

    assert titles(served.history("admin.d01t01", first=2)) == ["g", "e", "d", "b", "a"]
    assert titles(served.history("admin.d01t01v001", first=1)) == ["g", "e", "a"]
    assert titles(served.history("admin.d01t02v005")) == ["c"]
    assert titles(served.history("admin", under=tenant_gid(demo, "d01t02"))) == ["c"]
    assert titles(served.history("admin", kinds=["WARNING"])) == ["g"]
    assert titles(
        served.history(
            "admin.d01t01", kinds=["BRANCH_ACTIVITY"], under=tenant_gid(demo, "d01t01v001")
        )
    ) == ["e", "a"]
    # `under` never widens: a village admin naming its town (which it may not see) or another
    # town gets nothing, as for a tenant that does not exist.
    assert titles(served.history("admin.d01t01v001", under=tenant_gid(demo, "d01t01v001"))) == [
        "g",
        "e",
        "a",
    ]
    assert served.history("admin.d01t01v001", under=tenant_gid(demo, "d01t01")) == []
    assert served.history("admin.d01t01v001", under=tenant_gid(demo, "d01t02")) == []
    assert served.history("admin", under=str(global_id("Tenant", 99_999))) == []

    warning = everything[0]
    assert warning["kind"] == "WARNING" and warning["light"] == "RED"
    assert warning["branch"] is None and warning["tenant"]["code"] == "d01t01v001"

    # A member has no feed.
    member = served.rows("SELECT username FROM users WHERE username LIKE 'm.%' ORDER BY id")[0]
    error = served.error(member["username"], HISTORY)
    assert error["extensions"]["code"] == "FORBIDDEN", error
    bad = served.error("admin", HISTORY, {"after": tenant_gid(demo, "d01")})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}


# -- the outbox ----------------------------------------------------------------------------------


class Boom(Exception):
    """Raised inside a write to roll it back."""


def test_a_rolled_back_write_stores_and_publishes_nothing(served: Served, demo: DemoData) -> None:
    village = tenant_of(demo, "d01t01v001")["path"]

    async def rolled_back() -> None:
        async with served.runtime.write() as (conn, outbox):
            tenant = await tenant_info(conn, village)
            assert tenant is not None
            outbox.append(
                await emit(
                    conn,
                    kind=FeedKind.WARNING,
                    title="never",
                    tenant=tenant,
                    occurred_at=datetime.now(UTC),
                )
            )
            raise Boom

    published = served.published()
    with served.socket("admin") as watcher:
        watcher.subscribe("all", FEED)
        time.sleep(0.1)
        with pytest.raises(Boom):
            served.call(rolled_back)
        assert served.count("SELECT count(*) FROM feed_events") == 0
        assert published.ids == []
        kept = served.emit(village, "kept")
        assert published.ids == [kept] and published.uncommitted == []
        [first] = watcher.events("all", 1)
        assert (first["title"], event_id(first)) == ("kept", kept)
        # The hub polls the database every 2 s: the rolled-back event is not found there either.
        time.sleep(2.5)
        assert watcher.drain() == []
    assert [n["title"] for n in served.history("admin")] == ["kept"]


# -- the overview subscription ------------------------------------------------------------------


def test_overview_pushes_at_once_then_on_change_at_most_once_a_second(
    served: Served, demo: DemoData
) -> None:
    senior = "admin.d01t01"
    query = served.data(senior, f"{{ overview {{ {TILES} }} }}")["overview"]
    with served.socket(senior) as socket:
        started = time.monotonic()
        socket.subscribe("tiles", f"subscription {{ overview {{ {TILES} }} }}")
        first = socket.next("tiles")["overview"]
        assert time.monotonic() - started < 1.0
        assert first == query
        base = first["activitiesToday"]

        # An activity outside the town does not change its tiles; one inside does, once.
        served.record("admin", branch_at(demo, "d01t02v005"), "outside")
        served.record("admin", branch_at(demo, "d01t01v001"), "inside")
        second = socket.next("tiles")["overview"]
        pushed = [time.monotonic()]
        assert second == {**first, "activitiesToday": base + 1}

        # A burst of five: pushed no sooner than a second after the last push, and together.
        for n in range(5):
            served.record("admin", branch_at(demo, "d01t01v002"), f"burst-{n}")
        burst_done = time.monotonic()
        tiles = second
        while tiles["activitiesToday"] < base + 6:
            tiles = socket.next("tiles")["overview"]
            pushed.append(time.monotonic())
        gaps = [b - a for a, b in itertools.pairwise(pushed)]
        assert all(gap >= 0.95 for gap in gaps), gaps
        assert len(pushed) - 1 <= 1 + int(burst_done - pushed[0]), (gaps, burst_done - pushed[0])
        assert tiles == {**first, "activitiesToday": base + 6}
        assert socket.drain() == []


# -- a slow subscriber ---------------------------------------------------------------------------


def test_a_subscriber_that_falls_behind_ends_with_its_last_cursor(
    serve: Callable[..., Served], demo: DemoData
) -> None:
    served = serve(feed_queue=10)
    village = tenant_of(demo, "d01t01v001")["path"]

    async def burst() -> list[int]:
        """35 events committed at once (one transaction, published together): the hub hands
        them to the subscriber's queue in one go, faster than any socket drains them."""
        async with served.runtime.write() as (conn, outbox):
            tenant = await tenant_info(conn, village)
            assert tenant is not None
            for n in range(35):
                outbox.append(
                    await emit(
                        conn,
                        kind=FeedKind.WARNING,
                        title=f"burst-{n}",
                        tenant=tenant,
                        occurred_at=datetime.now(UTC),
                    )
                )
        return [e.id for e in outbox]

    with served.socket("admin") as socket:
        socket.subscribe("slow", FEED)
        time.sleep(0.1)
        served.record("admin", branch_at(demo, "d01t01v001"), "before")
        [before] = socket.events("slow", 1)
        # Not reading now. Activities recorded one at a time do not make it fall behind under
        # the TestClient (its socket buffers without limit, so the server side keeps up);
        # a burst committed at once does.
        for n in range(3):
            served.record("admin", branch_at(demo, "d01t01v002"), f"unread-{n}")
        burst_ids = served.call(burst)
        received = [before]
        while True:
            message = socket.message("slow")
            if message["type"] != "next" or "errors" in message["payload"]:
                break
            received.append(message["payload"]["data"]["feed"])
        assert message["type"] == "next", message
        [error] = message["payload"]["errors"]
        assert error["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW", error
        assert error["extensions"]["lastCursor"] == received[-1]["cursor"]
        assert socket.message("slow") == {"id": "slow", "type": "complete"}
        assert len(received) < 1 + 3 + 35  # it did fall behind

        socket.subscribe("resumed", FEED, {"after": error["extensions"]["lastCursor"]})
        stored = served.count("SELECT count(*) FROM feed_events")
        remaining = socket.events("resumed", stored - len(received))
        served.record("admin", branch_at(demo, "d01t01v001"), "after")
        [after] = socket.events("resumed", 1)
        time.sleep(0.3)
        assert socket.drain() == []

    got = [event_id(e) for e in received + remaining + [after]]
    assert got == sorted(set(got))  # ascending, none twice
    assert got == [r["id"] for r in served.rows("SELECT id FROM feed_events ORDER BY id")]
    assert set(burst_ids) <= set(got)
