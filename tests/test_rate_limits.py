"""Rate limits (server/ratelimit.py), on SQLite and PostgreSQL: each operation spends its cost
from its principal's budget and its client address's, per minute; over either it is refused
with RATE_LIMITED and `retryAfter` (the seconds until the window turns), spends nothing, and
raises one security alert. Budgets are the principal's own and the address's own, reset with
the window (a clock is injected, nobody sleeps), and shared by app processes through Redis.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from graphql import parse
from sqlalchemy import select

from schema.build import build_schema
from schema.limits import measure_operation
from server import ratelimit
from server.app import create_app
from server.feed.models import Alert, FeedEventRow
from server.ratelimit import Budget, RedisCounters
from tenants.models import Tenant
from tests.conftest import Databases, GraphQLClient, settings_for
from tests.services import Redis, free_port

SCHEMA = build_schema()._schema
SMALL = "{ overview { members } }"  # costs 2
LARGE = "{ tenants(first: 3) { edges { node { id } } } }"  # costs 8
SIGNER = "10.0.0.1"  # the address the tests sign in from


def cost(query: str) -> int:
    measure = measure_operation(SCHEMA, parse(query), None, {})
    assert measure is not None
    return measure.cost


class Clock:
    """Wall-clock time, moved by hand: 15 s into a minute to begin with."""

    def __init__(self) -> None:
        self.now = (int(time.time()) // 60) * 60 + 15.0

    def __call__(self) -> float:
        return self.now


class App:
    """An app with its own settings and clock; clients from any address."""

    def __init__(self, app: Any, clock: Clock) -> None:
        self.app, self.clock = app, clock
        self.runtime = app.state.runtime
        self._https: list[httpx.AsyncClient] = []
        self._tokens: dict[str, str] = {}

    def client(self, address: str, token: str | None = None) -> GraphQLClient:
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        self._https.append(http)
        return GraphQLClient(http, token, self._tokens)

    async def user(self, username: str, address: str) -> GraphQLClient:
        """Signed in (from SIGNER), calling from `address`."""
        signed = await self.client(SIGNER).as_user(username)
        return self.client(address, signed.token)

    async def alerts(self) -> list[Any]:
        async with self.runtime.engine.connect() as conn:
            return list((await conn.execute(select(Alert).where(Alert.kind == "rate_limit"))).all())

    async def close(self) -> None:
        for http in self._https:
            await http.aclose()
        await ratelimit.close(self.runtime)
        await self.runtime.close()


@asynccontextmanager
async def running(url: str, workdir: Path, clock: Clock, **overrides: Any) -> AsyncIterator[App]:
    app = App(create_app(settings_for(url, workdir, **overrides)), clock)
    ratelimit.limiter_for(app.runtime).clock = clock
    try:
        yield app
    finally:
        await app.close()


def limited(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED", error
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def test_a_principal_over_its_budget_is_refused_until_the_minute_turns(
    databases: Databases, workdir: Path
) -> None:
    assert (cost(SMALL), cost(LARGE)) == (2, 8)
    clock = Clock()
    async with running(
        databases.copy(), workdir, clock, rate_limit=10, rate_limit_address=0
    ) as app:
        admin = await app.user("admin", "10.0.0.2")
        assert await admin.data(LARGE)  # 8 of 10
        # 16 would be over: refused, 45 s before the minute turns ...
        refused = limited(await admin.post(LARGE))
        assert refused == {
            "code": "RATE_LIMITED",
            "retryAfter": 45,
            "by": "principal",
            "limit": 10,
            "window": 60,
        }
        # ... and spending nothing: a 2 still fits, then nothing does.
        assert await admin.data(SMALL)
        clock.now += 5
        assert limited(await admin.post(SMALL))["retryAfter"] == 40
        # Another account, from the same address, has its own budget.
        other = await app.user("admin.d01t01", "10.0.0.2")
        for _ in range(5):
            assert await other.data(SMALL)
        # One alert about the account, however often it knocks, filed where its admins look
        # (the super admin's district), with its SECURITY_ALERT feed event.
        [alert] = await app.alerts()
        assert (alert.subject, alert.principal, alert.light) == ("user:admin", "user:admin", "RED")
        assert alert.client_address == "10.0.0.2"
        async with app.runtime.engine.connect() as conn:
            root = await conn.scalar(select(Tenant.path).where(Tenant.parent_id.is_(None)))
            event = (
                await conn.execute(select(FeedEventRow).where(FeedEventRow.id == alert.event_id))
            ).one()
        assert alert.tenant_path == root
        assert event.kind == "SECURITY_ALERT"
        # The minute turns: the budget is whole again.
        clock.now += 41
        for _ in range(5):
            assert await admin.data(SMALL)
        assert limited(await admin.post(SMALL))["retryAfter"] == 59
        # Still one alert: one per subject in ten minutes.
        assert len(await app.alerts()) == 1


async def test_anonymous_requests_count_by_address(databases: Databases, workdir: Path) -> None:
    clock = Clock()
    async with running(
        databases.copy(), workdir, clock, rate_limit=1000, rate_limit_address=6
    ) as app:
        stranger = app.client("10.0.0.3")
        # Without a token the query is refused, and still spends its cost from the address.
        for _ in range(3):
            error = await stranger.error(SMALL)
            assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert limited(await stranger.post(SMALL))["by"] == "address"
        # Signing in from there is refused too: the address has spent its minute.
        body = await stranger.post(
            'mutation { login(username: "admin", password: "x") { accessToken } }'
        )
        assert limited(body)["retryAfter"] == 45
        # Another address is not.
        error = await app.client("10.0.0.4").error(SMALL)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        # Signed-in requests spend from their address as well as from their account.
        member = await app.user("admin.d01t01", "10.0.0.5")
        for _ in range(3):
            assert await member.data(SMALL)
        assert limited(await member.post(SMALL))["by"] == "address"
        alerts = {a.subject: a for a in await app.alerts()}
        assert set(alerts) == {"address:10.0.0.3", "address:10.0.0.5"}
        anonymous = alerts["address:10.0.0.3"]
        assert (anonymous.principal, anonymous.client_address) == ("anonymous", "10.0.0.3")
        assert anonymous.tenant_path is not None  # filed at the top, where someone sees it
        assert alerts["address:10.0.0.5"].principal == "user:admin.d01t01"
        # A new minute, a new budget.
        clock.now += 45
        assert (await stranger.error(SMALL))["extensions"]["code"] == "UNAUTHENTICATED"


async def test_processes_sharing_redis_share_the_budget(
    databases: Databases, workdir: Path, redis_server: Redis
) -> None:
    url = databases.copy()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    clock = Clock()
    settings = {
        "redis_url": redis_server.url,
        "redis_prefix": prefix,
        "rate_limit": 10,
        "rate_limit_address": 0,
    }
    async with (
        running(url, workdir, clock, **settings) as first,
        running(url, workdir, clock, **settings) as second,
    ):
        one = await first.user("admin", "10.0.0.6")
        other = second.client("10.0.0.6", one.token)  # the same account, on the other process
        for _ in range(3):
            assert await one.data(SMALL)
        assert await other.data(SMALL)  # 8 of 10, spent on two processes
        assert limited(await other.post(LARGE))["retryAfter"] == 45
        assert await one.data(SMALL)
        assert limited(await one.post(SMALL))["by"] == "principal"
        assert limited(await other.post(SMALL))["by"] == "principal"
        # One alert, though both processes refused: the database keeps it to one.
        assert len(await first.alerts()) == 1
        client = redis.Redis.from_url(redis_server.url)
        try:
            keys = [k.decode() async for k in client.scan_iter(f"{prefix}:ratelimit:*")]
            assert keys == [f"{prefix}:ratelimit:user:admin:{int(clock.now // 60)}"]
            assert 60 < await client.ttl(keys[0]) <= 120
        finally:
            await client.aclose()
        # The minute turns for both.
        clock.now += 45
        assert await other.data(SMALL)
        assert await one.data(LARGE)


async def test_without_redis_requests_pass_and_the_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture, redis_server: Redis
) -> None:
    budgets = [Budget("principal", "user:x", 1)]
    gone = RedisCounters(f"redis://127.0.0.1:{free_port()}/0", "t")
    try:
        with caplog.at_level(logging.WARNING, logger="ehome.ratelimit"):
            for window in range(3):
                assert await gone.spend(budgets, 100, window) is None  # fails open
        assert len(caplog.records) == 1
        assert "Redis does not answer" in caplog.records[0].getMessage()
    finally:
        await gone.close()
    # The same counters on a Redis that answers do count.
    live = RedisCounters(redis_server.url, f"t{uuid.uuid4().hex[:8]}")
    try:
        assert await live.spend(budgets, 1, 7) is None
        assert await live.spend(budgets, 1, 7) == 0
        assert await live.spend(budgets, 1, 8) is None
    finally:
        await live.close()


async def test_zero_turns_a_limit_off(databases: Databases, workdir: Path) -> None:
    clock = Clock()
    async with running(databases.copy(), workdir, clock, rate_limit=0, rate_limit_address=0) as app:
        admin = await app.user("admin", "10.0.0.7")
        for _ in range(20):
            assert await admin.data(LARGE)
        assert await app.alerts() == []
