"""The example partner client (docs/examples/partner_client.py) against a live `ehome serve`
process, on SQLite and PostgreSQL, with Redis carrying the operator's changes to the server.

Proves what docs/partners.md promises a partner who copies the example:

- the paginated queries (gql over HTTPX, following `endCursor`) return exactly the tenants and
  members of the key's subtree, over several pages; `under` narrows, and a tenant outside the
  subtree reads as empty;
- the subscription (gql's websockets transport, graphql-transport-ws, the key in
  `connection_init`) receives an activity an admin records meanwhile through the API in the
  key's subtree, and not one recorded elsewhere; with `after` it resumes after a cursor;
- a scope the key lacks is FORBIDDEN, over HTTP and on the socket;
- a key revoked with `ehome partner revoke` is refused at once by the running server:
  UNAUTHENTICATED over HTTP, the socket closed with 4403;
- the script runs as a command: `--help`, a listing as JSON lines, a clear refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from schema.ids import cursor, global_id
from server.admin import create_partner
from server.db import make_engine
from tenants.demo import DemoData
from tests.conftest import DEMO_PASSWORD, SECRET, Databases, run_isolated
from tests.services import Redis, free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "partner_client.py"
TOWN, OTHER_TOWN = "/d01/t01/", "/d01/t02/"
WAIT = 15.0  # seconds for an event or a revocation to reach the client


def load_example() -> ModuleType:
    """The example as partners run it: a file, not a package of this repository."""
    spec = importlib.util.spec_from_file_location("partner_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pc = load_example()


# -- a live server ------------------------------------------------------------------------------


@dataclass
class Site:
    base: str  # http://127.0.0.1:PORT
    key: str  # read:tenants, read:members, read:feed at TOWN
    leaving_key: str  # read:members at OTHER_TOWN; revoked by a test
    env: dict[str, str]  # what reaches the server's database and Redis
    root: Path


def _env(url: str, data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    env.update(
        EHOME_DATABASE_URL=url,
        EHOME_DATA_DIR=str(data_dir),
        EHOME_SECRET_KEY=SECRET,
        EHOME_REDIS_URL=redis_url,
        # A channel prefix of its own: servers of other tests share this Redis.
        EHOME_REDIS_PREFIX=f"pc{uuid.uuid4().hex[:10]}",
        EHOME_SCHEDULE_INTERVAL="0",
        EHOME_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def _keys(url: str) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        engine = make_engine(url)
        try:
            portal = await create_partner(
                engine,
                name="gov-portal",
                tenant_code="d01t01",
                scopes=["read:tenants", "read:members", "read:feed"],
            )
            leaving = await create_partner(
                engine, name="leaving", tenant_code="d01t02", scopes=["read:members"]
            )
        finally:
            await engine.dispose()
        return portal.key, leaving.key

    keys: tuple[str, str] = run_isolated(make)
    return keys


@pytest.fixture(scope="module")
def site(
    databases: Databases, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """`ehome serve` on a copy of the seeded demo district, with two partner keys."""
    root = tmp_path_factory.mktemp("partner-client")
    url = databases.copy()
    key, leaving_key = _keys(url)
    env = _env(url, root, redis_server.url)
    port = free_port()
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield Site(base=base, key=key, leaving_key=leaving_key, env=env, root=root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


async def as_admin(site: Site, query: str, variables: dict[str, Any] | None = None) -> Any:
    """A query by the district's super admin, signed in through the API."""
    async with httpx.AsyncClient(base_url=site.base, timeout=30) as http:
        login = await http.post(
            "/graphql",
            json={
                "query": 'mutation($p: String!) { login(username: "admin", password: $p)'
                " { accessToken } }",
                "variables": {"p": DEMO_PASSWORD},
            },
        )
        token = login.json()["data"]["login"]["accessToken"]
        answer = await http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token}"},
        )
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


def tenants_under(demo: DemoData, path: str) -> list[dict[str, Any]]:
    return [t for t in demo.tenants if t["path"].startswith(path)]


def members_under(demo: DemoData, path: str) -> list[dict[str, Any]]:
    tenant_ids = {t["id"] for t in tenants_under(demo, path)}
    branches = {b["id"] for b in demo.branches if b["tenant_id"] in tenant_ids}
    return [m for m in demo.members if m["branch_id"] in branches]


# -- the queries --------------------------------------------------------------------------------


async def test_the_queries_page_through_the_keys_subtree_only(site: Site, demo: DemoData) -> None:
    tenants = await pc.tenants(site.base, site.key, page_size=2)
    expected_tenants = tenants_under(demo, TOWN)
    assert len(expected_tenants) > 2  # several pages
    assert [t["path"] for t in tenants] == [t["path"] for t in expected_tenants]
    assert [t["id"] for t in tenants] == [global_id("Tenant", t["id"]) for t in expected_tenants]

    members = await pc.members(site.base, site.key, page_size=25)
    expected = members_under(demo, TOWN)
    assert 25 < len(expected) < len(demo.members)
    assert [m["id"] for m in members] == [global_id("Member", m["id"]) for m in expected]

    # `under` narrows to a village of the subtree; a tenant outside it reads as empty.
    village = expected_tenants[-1]
    assert village["level"] == "VILLAGE"
    narrowed = await pc.members(site.base, site.key, under=global_id("Tenant", village["id"]))
    in_village = members_under(demo, village["path"])
    assert in_village
    assert [m["id"] for m in narrowed] == [global_id("Member", m["id"]) for m in in_village]
    outside = next(t for t in demo.tenants if t["path"] == OTHER_TOWN)
    assert await pc.members(site.base, site.key, under=global_id("Tenant", outside["id"])) == []


# -- the subscription ---------------------------------------------------------------------------


async def _newest_cursor(site: Site) -> str:
    data = await as_admin(site, "{ feedEvents(first: 1) { edges { cursor } } }")
    edges = data["feedEvents"]["edges"]
    return str(edges[0]["cursor"]) if edges else cursor(0)


async def _record(site: Site, branch_id: int, title: str) -> None:
    await as_admin(
        site,
        "mutation($b: ID!, $t: String!) { recordActivity(input: "
        '{branchId: $b, title: $t, kind: "THEME_DAY"}) { id } }',
        {"b": global_id("Branch", branch_id), "t": title},
    )


async def test_the_feed_receives_activities_recorded_meanwhile(site: Site, demo: DemoData) -> None:
    inside = next(b for b in demo.branches if b["id"] in _branch_ids(demo, TOWN))
    outside = next(b for b in demo.branches if b["id"] in _branch_ids(demo, OTHER_TOWN))
    tag = uuid.uuid4().hex[:6]
    # From the newest stored event on: whether the socket is up before the first activity is
    # recorded or not, the replay and the live stream together miss nothing.
    start = await _newest_cursor(site)
    received: list[dict[str, Any]] = []

    async def follow() -> None:
        async with contextlib.aclosing(pc.feed(site.base, site.key, after=start)) as events:
            async for event in events:
                received.append(event)
                if len(received) == 2:
                    return

    listener = asyncio.create_task(follow())
    try:
        await asyncio.sleep(0.5)  # most often, the two inside events arrive live
        await _record(site, outside["id"], f"outside {tag}")
        await _record(site, inside["id"], f"first {tag}")
        await _record(site, inside["id"], f"second {tag}")
        await asyncio.wait_for(asyncio.shield(listener), WAIT)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener

    # The other town's activity never reached the partner; the two of its town did, in order.
    assert [e["title"].rsplit("：", 1)[-1] for e in received] == [f"first {tag}", f"second {tag}"]
    first = received[0]
    assert first["kind"] == "BRANCH_ACTIVITY"
    assert first["branch"]["name"] == inside["name"]
    assert first["payload"]["kind"] == "THEME_DAY"

    # Resuming after the first event's cursor (as after a dropped connection) gives the second.
    async with contextlib.aclosing(pc.feed(site.base, site.key, after=first["cursor"])) as again:
        resumed = await asyncio.wait_for(anext(again), WAIT)
    assert resumed == received[1]


def _branch_ids(demo: DemoData, path: str) -> set[int]:
    tenant_ids = {t["id"] for t in tenants_under(demo, path)}
    return {b["id"] for b in demo.branches if b["tenant_id"] in tenant_ids}


# -- refusals -----------------------------------------------------------------------------------


async def _ehome(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        env=site.env,
        cwd=site.root,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_missing_scopes_and_a_revoked_key_are_refused(site: Site, demo: DemoData) -> None:
    # The key reads members of its town; tenants and the feed are not among its scopes.
    members = await pc.members(site.base, site.leaving_key)
    assert len(members) == len(members_under(demo, OTHER_TOWN)) > 0
    with pytest.raises(pc.Refused) as refused:
        await pc.tenants(site.base, site.leaving_key)
    assert refused.value.code == "FORBIDDEN"
    with pytest.raises(pc.Refused) as refused:
        await asyncio.wait_for(anext(pc.feed(site.base, site.leaving_key)), WAIT)
    assert refused.value.code == "FORBIDDEN"

    revoked = await _ehome(site, "partner", "revoke", "leaving")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    # The command told the running server over Redis: the key stops working at once.
    deadline = time.monotonic() + WAIT
    while True:
        try:
            await pc.members(site.base, site.leaving_key)
        except pc.Refused as exc:
            assert exc.code == "UNAUTHENTICATED"
            break
        assert time.monotonic() < deadline, "the revoked key still works"
        await asyncio.sleep(0.1)
    # On the socket, connection_init with the key is answered by closing with 4403.
    with pytest.raises(pc.Refused) as refused:
        await asyncio.wait_for(anext(pc.feed(site.base, site.leaving_key)), WAIT)
    assert refused.value.code == 4403
    # A key nobody issued is refused alike; the other partner's key is untouched.
    with pytest.raises(pc.Refused) as refused:
        await pc.members(site.base, "ehk_" + "x" * 43)
    assert refused.value.code == "UNAUTHENTICATED"
    assert len(await pc.members(site.base, site.key)) == len(members_under(demo, TOWN))


# -- the command line ---------------------------------------------------------------------------


async def _script(site: Site | None, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    if site is not None:
        env.update(EHOME_URL=site.base, EHOME_PARTNER_KEY=key)
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_example_runs_as_a_command(site: Site, demo: DemoData) -> None:
    helped = await _script(None, "", "--help")
    assert helped.returncode == 0, helped.stderr
    for word in ("EHOME_URL", "EHOME_PARTNER_KEY", "tenants", "members", "feed"):
        assert word in helped.stdout

    unset = await _script(None, "", "tenants")
    assert unset.returncode == 2
    assert "set EHOME_URL and EHOME_PARTNER_KEY" in unset.stderr

    listed = await _script(site, site.key, "tenants", "--page-size", "3")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["code"] for r in rows] == [t["code"] for t in tenants_under(demo, TOWN)]

    refused = await _script(site, "ehk_" + "y" * 43, "members")
    assert refused.returncode == 1
    assert "refused" in refused.stderr and "UNAUTHENTICATED" in refused.stderr
    assert "Traceback" not in refused.stderr
