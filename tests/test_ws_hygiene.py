"""WebSocket hygiene on /graphql (graphql-transport-ws), on SQLite and PostgreSQL.

Proves: a connection that sends no `connection_init` within 10 s is closed with 4408; a
`subscribe` before `connection_init` is closed with 4401, a second `connection_init` with 4429;
the server pings every EHOME_WS_PING seconds, a client that answers with pongs stays connected
and a silent one is dropped with 4504 after three intervals; a 21st concurrent operation on one
connection is refused with an `error` message for that operation only (the connection and its 20
subscriptions carry on, and a freed slot can be used again); and a signed-in connection is
closed with 4403 when its access token expires.

The two ~10 s deadlines and the two ping behaviours are each watched side by side (one thread
per socket) to keep the run short.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tenants.demo import DemoData
from tests.conftest import Databases, settings_for
from tests.test_feed import FEED, Json, Served, Socket, branch_at

ME = "{ me { username } }"


@pytest.fixture
def serve(databases: Databases, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`serve(ws_ping=1)`: an app with those settings on a private copy of the seeded database."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Served:
            app = create_app(settings_for(databases.copy(), tmp_path, **overrides))
            return Served(stack.enter_context(TestClient(app)), app)

        yield start


def closed_after(socket: Socket, since: float, timeout: float) -> tuple[int, float]:
    """The code the server closes `socket` with, and the seconds from `since` until then."""
    code = socket.closed(timeout)
    return code, time.monotonic() - since


def test_subscribe_before_connection_init_is_closed_4401(serve: Callable[..., Served]) -> None:
    served = serve()
    with served.socket() as socket:
        socket.subscribe("1", ME)
        assert socket.closed(5.0) == 4401

    with served.socket("admin") as socket:
        token = served.token("admin")
        socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert socket.closed(5.0) == 4429  # one connection_init per connection


def test_no_init_in_ten_seconds_is_4408_and_an_expired_token_is_4403(
    serve: Callable[..., Served], demo: DemoData
) -> None:
    served = serve(access_ttl=10)
    with served.socket() as idle, ThreadPoolExecutor(max_workers=2) as pool:
        idle_since = time.monotonic()
        waiting = pool.submit(closed_after, idle, idle_since, 15.0)

        issued = time.monotonic()
        token = served.token("admin.d01t01")
        with served.socket("admin.d01t01") as signed_in:
            # Working until then: it runs operations and streams the feed.
            signed_in.subscribe("feed", FEED)
            time.sleep(0.1)
            served.record("admin", branch_at(demo, "d01t01v001"), "still alive")
            assert signed_in.events("feed", 1)[0]["title"].endswith("still alive")
            expiring = pool.submit(closed_after, signed_in, issued, 15.0)

            code, elapsed = waiting.result()
            assert code == 4408
            assert 9.5 <= elapsed <= 12.0, elapsed
            # The token's expiry is a whole second (JWT), at most 10 s after it was issued.
            code, elapsed = expiring.result()
            assert code == 4403
            assert 8.5 <= elapsed <= 11.5, elapsed

    # The expired token opens no new connection either.
    with served.socket() as again:
        again.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert again.closed(5.0) == 4403


def test_pings_keep_an_answering_peer_and_drop_a_silent_one(serve: Callable[..., Served]) -> None:
    served = serve(ws_ping=1)

    def keep_answering(socket: Socket, seconds: float) -> None:
        """Read (and answer pings) for `seconds`; nothing but pings is expected."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            try:
                message = socket.raw(left)
            except TimeoutError:
                return
            raise AssertionError(f"unexpected {message}")

    with (
        served.socket("admin") as lively,
        served.socket("admin.d01t01") as silent,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        silent.answer_pings = False
        since = time.monotonic()
        dropped = pool.submit(closed_after, silent, since, 10.0)
        answering = pool.submit(keep_answering, lively, 4.5)

        code, elapsed = dropped.result()
        assert code == 4504
        # Three silent intervals of 1 s: dropped at the first check after them.
        assert 2.5 <= elapsed <= 5.0, elapsed
        assert silent.pings and all(p == {"type": "ping"} for p in silent.pings)

        answering.result()
        assert time.monotonic() - since > 4.0
        assert len(lively.pings) >= 3
        assert all(p == {"type": "ping"} for p in lively.pings)
        # Still connected, and still served.
        lively.subscribe("me", ME)
        assert lively.next("me") == {"me": {"username": "admin"}}


def test_a_21st_operation_on_one_connection_is_refused(
    serve: Callable[..., Served], demo: DemoData
) -> None:
    served = serve()
    with served.socket("admin") as socket:
        ops = [str(n) for n in range(1, 21)]
        for op in ops:
            socket.subscribe(op, FEED)
        socket.subscribe("21", FEED)
        refused = socket.message("21")
        assert refused["type"] == "error", refused
        assert [e["message"] for e in refused["payload"]] == ["Subscription limit reached"]

        # The connection and the twenty subscriptions carry on.
        time.sleep(0.2)
        served.record("admin", branch_at(demo, "d01t01v001"), "to all twenty")
        for op in ops:
            assert socket.events(op, 1)[0]["title"].endswith("to all twenty"), op

        # A completed subscription frees its slot.
        socket.complete("1")
        time.sleep(0.1)
        socket.subscribe("22", FEED)
        time.sleep(0.2)
        served.record("admin", branch_at(demo, "d01t01v001"), "slot reused")
        for op in [*ops[1:], "22"]:
            assert socket.events(op, 1)[0]["title"].endswith("slot reused"), op
        time.sleep(0.2)
        left: list[Json] = socket.drain()
        assert left == [], left


def test_a_connection_ends_when_its_session_is_signed_out(serve: Callable[..., Served]) -> None:
    # The access token would be good for 15 more minutes: the sign-out ends the socket anyway,
    # within a ping interval, while another account's socket stays open.
    served = serve(ws_ping=1)
    with served.socket("admin.d01t01") as ended, served.socket("admin") as kept:
        ended.subscribe("feed", FEED)
        kept.subscribe("feed", FEED)
        time.sleep(0.2)
        since = time.monotonic()
        assert served.data("admin.d01t01", "mutation { logout }") == {"logout": True}
        code, elapsed = closed_after(ended, since, 5.0)
        assert code == 4403
        assert elapsed <= 2.5, elapsed
        with pytest.raises(TimeoutError):
            kept.raw(1.5)  # pings only, answered by the helper: no close
