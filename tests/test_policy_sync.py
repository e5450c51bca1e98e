"""Authorization changes apply at once in every process: two real server processes share a
PostgreSQL database and a Redis; a grant made through one is enforced by the other within a
second, and so is the end of a session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema.ids import global_id
from tenants.demo import generate
from tests.conftest import SECRET, Postgres, seeded_postgres
from tests.services import Redis, free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-sync"
DEADLINE = 1.0  # seconds: the bound for a change to reach another process


@pytest.fixture(scope="module")
def database(postgres: Postgres | None) -> str:
    return seeded_postgres(postgres, PASSWORD)


def start_server(url: str, redis: Redis, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "EHOME_DATABASE_URL": url,
        "EHOME_REDIS_URL": redis.url,
        "EHOME_SECRET_KEY": SECRET,
        "EHOME_DATA_DIR": str(tmp),
        "EHOME_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start")


@pytest.fixture(scope="module")
def servers(
    database: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("sync")
    started = [start_server(database, redis_server, tmp) for _ in range(2)]
    try:
        # Both have joined the bus once they answer a signed-in request (startup subscribes).
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=10)


def gql(
    base: str, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=10,
    )
    body: dict[str, Any] = response.json()
    return body


def login(base: str, username: str) -> str:
    body = gql(
        base,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }",
        {"u": username, "p": PASSWORD},
    )
    assert "errors" not in body, body
    return str(body["data"]["login"]["accessToken"])


def wait_until(check: Any) -> float:
    """Seconds until `check()` holds, polling; fails past the deadline."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > DEADLINE:
            raise AssertionError(f"not applied within {DEADLINE} s")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_grant_in_one_process_is_enforced_by_the_other(servers: tuple[str, str]) -> None:
    first, second = servers
    demo = generate("small", seed=7, as_of=date.today())
    towns = [t for t in demo.tenants if t["level"] == "TOWN"]
    other_town = towns[1]
    village = next(t for t in demo.tenants if t["parent_id"] == other_town["id"])
    # A junior admin of the first town, given a village of the other town.
    grantee = next(f"admin.{t['code']}" for t in demo.tenants if t["parent_id"] == towns[0]["id"])
    count = "query($u: ID) { members(under: $u) { totalCount } }"
    seen = {"u": global_id("Tenant", village["id"])}

    grantee_token = login(second, grantee)
    before = gql(second, count, seen, grantee_token)
    assert before["data"]["members"]["totalCount"] == 0  # another town's village: invisible

    admin = login(first, "admin")
    granted = gql(
        first,
        "mutation($u: String!, $t: ID!) { grantRole(username: $u, "
        "role: JUNIOR_ADMIN, tenantId: $t) { role tenant { code } } }",
        {"u": grantee, "t": global_id("Tenant", village["id"])},
        admin,
    )
    assert granted["data"]["grantRole"] == {
        "role": "JUNIOR_ADMIN",
        "tenant": {"code": village["code"]},
    }
    expected = sum(
        1
        for m in demo.members
        for b in demo.branches
        if b["id"] == m["branch_id"] and b["tenant_id"] == village["id"]
    )
    took = wait_until(
        lambda: gql(second, count, seen, grantee_token)["data"]["members"]["totalCount"] == expected
    )
    assert expected > 0 and took < DEADLINE

    revoked = gql(
        first,
        "mutation($u: String!, $t: ID!) { revokeRole(username: $u, "
        "role: JUNIOR_ADMIN, tenantId: $t) }",
        {"u": grantee, "t": global_id("Tenant", village["id"])},
        admin,
    )
    assert revoked["data"]["revokeRole"] is True
    wait_until(
        lambda: gql(second, count, seen, grantee_token)["data"]["members"]["totalCount"] == 0
    )


def test_a_logout_in_one_process_ends_the_session_in_the_other(
    servers: tuple[str, str],
) -> None:
    first, second = servers
    token = login(first, "admin")
    me = "{ me { username } }"
    assert gql(second, me, token=token)["data"]["me"]["username"] == "admin"
    assert gql(first, "mutation { logout }", token=token)["data"]["logout"] is True

    def refused() -> bool:
        errors = gql(second, me, token=token).get("errors") or [{}]
        return errors[0].get("extensions", {}).get("reason") == "revoked"

    wait_until(refused)
