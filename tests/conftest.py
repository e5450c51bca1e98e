"""Fixtures: every database test runs on SQLite and on a real PostgreSQL that this session
starts itself. With EHOME_REQUIRE_SERVICES=1 (CI) a missing service fails the run."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from server.app import create_app
from server.db import make_engine
from server.migrate import upgrade
from server.seed import seed
from server.settings import Settings
from tenants.demo import DemoData, generate
from tests.services import Postgres, Redis, ServiceUnavailable, start_postgres, start_redis

REQUIRE_SERVICES = os.environ.get("EHOME_REQUIRE_SERVICES") == "1"
# Servers the tests start as processes inherit this: no scheduler passes over the demo data
# unless a test asks for them (see settings_for).
os.environ.setdefault("EHOME_SCHEDULE_INTERVAL", "0")
# Nor rate limits: their own tests set them (tests/test_rate_limits.py).
os.environ.setdefault("EHOME_RATE_LIMIT", "0")
os.environ.setdefault("EHOME_RATE_LIMIT_ADDRESS", "0")
BACKENDS = ("sqlite", "postgresql")
AS_OF = date.today()
SECRET = "test-secret-key-0123456789-abcdefghijklmnop"
TEMPLATE_SEED = 7
DEMO_PASSWORD = "pw-demo"


def run_isolated(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine in its own thread and loop: set-up that must not touch the test loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _unavailable(what: str, why: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (EHOME_REQUIRE_SERVICES=1) but unavailable: {why}")
    pytest.skip(f"{what} unavailable: {why}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres | None]:
    try:
        server = start_postgres()
    except (ServiceUnavailable, OSError) as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is required (EHOME_REQUIRE_SERVICES=1): {exc}")
        yield None
        return
    yield server
    server.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ehome")


class Databases:
    """Makes databases on one backend: empty ones, and copies of a seeded template."""

    def __init__(self, backend: str, workdir: Path, postgres: Postgres | None) -> None:
        self.backend, self.workdir, self.postgres = backend, workdir, postgres
        self._template: str | None = None
        self._shared: str | None = None

    def _pg_admin(self, sql: str) -> None:
        assert self.postgres is not None
        dsn = f"postgresql://postgres@127.0.0.1:{self.postgres.port}/postgres"

        async def go() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        run_isolated(go)

    def empty(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / (name + '.db')}"
        assert self.postgres is not None
        self._pg_admin(f'CREATE DATABASE "{name}"')
        return self.postgres.url(name)

    def template(self) -> str:
        """A migrated database seeded at small scale with the demo accounts, made once."""
        if self._template is None:
            url = self.empty()
            run_isolated(lambda: asyncio.to_thread(upgrade, url))

            async def load() -> None:
                engine = make_engine(url)
                await seed(
                    engine,
                    scale="small",
                    seed=TEMPLATE_SEED,
                    as_of=AS_OF,
                    demo_password=DEMO_PASSWORD,
                )
                await engine.dispose()

            run_isolated(load)
            self._template = url
        return self._template

    def shared(self) -> str:
        """One copy of the template for all read-only tests of the session."""
        if self._shared is None:
            self._shared = self.copy()
        return self._shared

    def copy(self) -> str:
        """A fresh copy of the template, for tests that write."""
        source = self.template()
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            target = self.workdir / (name + ".db")
            shutil.copyfile(make_url(source).database or "", target)
            return f"sqlite+aiosqlite:///{target}"
        assert self.postgres is not None
        template = make_url(source).database
        self._pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.postgres.url(name)


_databases: dict[str, Databases] = {}


@pytest.fixture(scope="session", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, workdir: Path, postgres: Postgres | None
) -> Databases:
    backend: str = request.param
    if backend == "postgresql" and postgres is None:
        _unavailable("PostgreSQL", "no initdb/pg_ctl found")
    if backend not in _databases:
        _databases[backend] = Databases(backend, workdir / backend, postgres)
        (workdir / backend).mkdir(exist_ok=True)
    return _databases[backend]


def settings_for(url: str, workdir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": workdir,
        "secret_key": SECRET,
        "demo_password": DEMO_PASSWORD,
        # No scheduler passes: over the demo data they would raise reminders and warnings
        # in the middle of tests about something else. Its own tests run passes by hand.
        "schedule_interval": 0,
        # One shared app serves the whole suite from one address, and some tests (the authz
        # matrix, the executor's random queries, the N+1 checks at 100 a page) send documents
        # past the production limits on purpose. tests/test_limits.py and
        # tests/test_rate_limits.py pin the documented defaults on apps of their own.
        "rate_limit": 0,
        "rate_limit_address": 0,
        "max_depth": 100,
        "max_aliases": 1000,
        "max_tokens": 1_000_000,
        "max_directives": 1000,
        "max_root_fields": 1000,
        "max_cost": 100_000_000,
    }
    values.update(overrides)
    return Settings(**values)


class GraphQLClient:
    """Posts GraphQL over HTTP, signed in as one account (or anonymous)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str | None = None,
        tokens: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.token = token
        # Access tokens of the accounts signed in so far on this app: argon2 is slow on purpose.
        self._tokens = {} if tokens is None else tokens

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        if self.token and "authorization" not in headers:
            headers["authorization"] = f"Bearer {self.token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.headers["content-type"].startswith("application/"), response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The query's data; fails the test on any error."""
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result

    async def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first error of a query that must fail."""
        body = await self.post(query, variables)
        assert body.get("errors"), f"expected an error, got {body}"
        error: dict[str, Any] = body["errors"][0]
        return error

    def anonymous(self) -> GraphQLClient:
        return GraphQLClient(self.http, None, self._tokens)

    async def as_user(self, username: str, password: str = DEMO_PASSWORD) -> GraphQLClient:
        """A client signed in as `username` (signing in once per app)."""
        if username not in self._tokens:
            body = await self.anonymous().post(
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
                " { accessToken } }",
                {"u": username, "p": password},
            )
            assert "errors" not in body, body
            self._tokens[username] = body["data"]["login"]["accessToken"]
        return GraphQLClient(self.http, self._tokens[username], self._tokens)


async def _client(url: str, workdir: Path) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    app = create_app(settings_for(url, workdir))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        # Signed in as the district's super admin, who sees the whole demo district.
        yield await GraphQLClient(http).as_user("admin"), app
    await app.state.runtime.close()


@pytest.fixture(scope="session")
async def seeded(databases: Databases, workdir: Path) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    """A client on the shared seeded template: for tests that only read."""
    # A copy, not the template itself: PostgreSQL copies a template only while nobody is
    # connected to it.
    async for pair in _client(databases.shared(), workdir):
        yield pair


@pytest.fixture
async def client(seeded: tuple[GraphQLClient, Any]) -> GraphQLClient:
    return seeded[0]


@pytest.fixture
async def fresh(databases: Databases, workdir: Path) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    """A client on a private copy of the seeded template: for tests that write."""
    async for pair in _client(databases.copy(), workdir):
        yield pair


@pytest.fixture(scope="session")
def demo() -> DemoData:
    """The rows the seeded template holds, regenerated: the oracle API answers are checked by."""
    return generate("small", seed=TEMPLATE_SEED, as_of=AS_OF)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    """A throwaway Redis on a free loopback port, for tests across processes."""
    try:
        server = start_redis()
    except (ServiceUnavailable, OSError) as exc:
        _unavailable("Redis", str(exc))
        raise AssertionError("unreachable") from exc
    yield server
    server.stop()


def seeded_postgres(postgres: Postgres | None, password: str) -> str:
    """A new PostgreSQL database, migrated and seeded with the small demo district, for tests
    that run real server processes on it (skipped without PostgreSQL, failed under
    EHOME_REQUIRE_SERVICES=1 by the `postgres` fixture)."""
    if postgres is None:
        pytest.skip("PostgreSQL unavailable")
    url = Databases("postgresql", Path(tempfile.gettempdir()), postgres).empty()
    run_isolated(lambda: asyncio.to_thread(upgrade, url))

    async def load() -> None:
        engine = make_engine(url)
        await seed(engine, scale="small", seed=TEMPLATE_SEED, as_of=AS_OF, demo_password=password)
        await engine.dispose()

    run_isolated(load)
    return url
