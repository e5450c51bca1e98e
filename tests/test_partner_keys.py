"""Partner API keys, on SQLite and PostgreSQL, and through the real `ehome partner` command.

Proves: `create_partner` shows a key once and stores only its SHA-256; once the running
process is told (`partners_changed`, `policy_changed`) the key signs requests in as the partner,
which reads only its own subtree and only what its scopes name (the PARTNER role's rights
intersected with the key's scopes: everything else is FORBIDDEN and audited), never personal
data unmasked; bad scopes, tenants and names are refused; a revoked key is UNAUTHENTICATED;
and `ehome partner create | list | revoke` print the key once, list it active, then revoked,
with a restarted server honouring both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.ids import global_id
from server.admin import AdminError, create_partner, list_partners, revoke_partner
from server.app import create_app
from server.db import make_engine
from server.members.privacy import mask_id_number, mask_phone
from server.migrate import upgrade
from server.seed import seed
from tenants.demo import DemoData
from tests.conftest import GraphQLClient, settings_for

Row = dict[str, Any]
TOWN = "/d01/t01/"
KEY = re.compile(r"ehk_[A-Za-z0-9_-]{20,}")

MEMBERS = (
    "query($a: String) { members(first: 100, after: $a) {"
    " totalCount pageInfo { hasNextPage endCursor } edges { node { id phone idNumber } } } }"
)


# -- helpers ----------------------------------------------------------------------------------


async def fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[Row]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql), params)]


def members_under(demo: DemoData, path: str) -> list[Row]:
    paths = {t["id"]: t["path"] for t in demo.tenants}
    branches = {b["id"] for b in demo.branches if paths[b["tenant_id"]].startswith(path)}
    return [m for m in demo.members if m["branch_id"] in branches]


async def all_members(gql: GraphQLClient) -> list[Row]:
    nodes: list[Row] = []
    after = None
    while True:
        page = (await gql.data(MEMBERS, {"a": after}))["members"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(nodes)
            return nodes
        after = page["pageInfo"]["endCursor"]


async def partner_client(app: Any, gql: GraphQLClient, **kwargs: Any) -> tuple[GraphQLClient, str]:
    """Create a partner, tell the running process, and return a client using its key."""
    runtime = app.state.runtime
    new = await create_partner(runtime.engine, **kwargs)
    await runtime.control.partners_changed()
    await runtime.control.policy_changed()
    return GraphQLClient(gql.http, new.key), new.key


def code_of(error: Row) -> str:
    code: str = error["extensions"]["code"]
    return code


# -- keys -------------------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_stored_as_its_digest(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    new = await create_partner(
        engine, name="gov-portal", tenant_code="d01t01", scopes=["read:members", "read:members"]
    )
    assert KEY.fullmatch(new.key)
    assert (new.name, new.tenant_path, new.scopes) == ("gov-portal", TOWN, ("read:members",))

    [row] = await fetch(engine, "SELECT * FROM partner_keys")
    assert row["key_hash"] == hashlib.sha256(new.key.encode()).hexdigest()
    assert row["scopes"] == "read:members"
    assert row["revoked_at"] is None
    # The key itself is nowhere in the database: not in the row, not in the audit entry.
    assert all(new.key not in str(value) for value in row.values())
    entries = await fetch(
        engine,
        "SELECT * FROM audit_log WHERE action = 'partner.create' AND subject = :n",
        n="gov-portal",
    )
    assert len(entries) == 1
    assert entries[0]["tenant_path"] == TOWN
    assert json.loads(entries[0]["detail"]) == {"scopes": ["read:members"]}
    assert all(new.key not in str(value) for value in entries[0].values())
    # Two keys are never alike.
    other = await create_partner(engine, name="other", tenant_code="d01t01", scopes=["read:feed"])
    assert other.key != new.key


async def test_a_members_key_reads_its_subtree_only(
    fresh: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    partner, _key = await partner_client(
        app, gql, name="gov-portal", tenant_code="d01t01", scopes=["read:members"]
    )
    me = await partner.data("{ me { username kind scopes grants { role } roles { role } } }")
    assert me["me"] == {
        "username": "gov-portal",
        "kind": "partner",
        "scopes": ["read:members"],
        "grants": [],
        "roles": [{"role": "PARTNER"}],
    }

    start = (await fetch(engine, "SELECT MAX(id) AS n FROM audit_log"))[0]["n"]
    got = await all_members(partner)
    expected = members_under(demo, TOWN)
    assert 0 < len(expected) < len(demo.members)
    assert [m["id"] for m in got] == [global_id("Member", m["id"]) for m in expected]
    # A partner never sees personal data unmasked, and so leaves no sensitive-read entry.
    for node, member in zip(got, expected, strict=True):
        assert node["phone"] == mask_phone(member["phone"]) != member["phone"]
        assert node["idNumber"] == mask_id_number(member["id_number"]) != member["id_number"]
    reads = await fetch(
        engine,
        "SELECT id FROM audit_log WHERE id > :n AND action = 'member.read_sensitive'",
        n=start,
    )
    assert reads == []

    # A member of the other town does not exist for it.
    outside = next(m for m in demo.members if m not in expected)
    found = await partner.data(
        "query($id: ID!) { node(id: $id) { id } }", {"id": global_id("Member", outside["id"])}
    )
    assert found == {"node": None}
    # A key is no sign-in session: there is nothing to log out of, and the key keeps working.
    assert await partner.data("mutation { logout }") == {"logout": False}
    assert (await partner.data("{ members { totalCount } }"))["members"]["totalCount"] == len(
        expected
    )


async def test_scopes_intersect_with_the_partner_role(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    members_only, _ = await partner_client(
        app, gql, name="members-only", tenant_code="d01t01", scopes=["read:members"]
    )
    start = (await fetch(engine, "SELECT MAX(id) AS n FROM audit_log"))[0]["n"]
    # The PARTNER role may read tenants, branches and overviews; this key's scopes may not.
    for query in (
        "{ tenants { totalCount } }",
        "{ branches { totalCount } }",
        "{ overview { members } }",
        "{ auditLog { totalCount } }",
    ):
        error = await members_only.error(query)
        assert code_of(error) == "FORBIDDEN", (query, error)
    denials = await fetch(
        engine,
        "SELECT principal, action, detail FROM audit_log WHERE id > :n ORDER BY id",
        n=start,
    )
    assert [(d["principal"], d["action"]) for d in denials] == [
        ("partner:members-only", "denied")
    ] * 4
    assert [json.loads(d["detail"])["what"] for d in denials] == [
        "read tenant",
        "read branch",
        "read overview",
        "read audit",
    ]

    both, _ = await partner_client(
        app,
        gql,
        name="members-and-tenants",
        tenant_code="d01t01",
        scopes=["read:members", "read:tenants"],
    )
    tenants = await both.data("{ tenants(first: 100) { totalCount edges { node { path } } } }")
    paths = [e["node"]["path"] for e in tenants["tenants"]["edges"]]
    assert paths == [
        "/d01/t01/",
        "/d01/t01/v001/",
        "/d01/t01/v002/",
        "/d01/t01/v003/",
        "/d01/t01/v004/",
    ]
    assert tenants["tenants"]["totalCount"] == len(paths)
    assert (await both.data("{ members { totalCount } }"))["members"]["totalCount"] > 0
    assert code_of(await both.error("{ branches { totalCount } }")) == "FORBIDDEN"
    assert code_of(await both.error("{ overview { members } }")) == "FORBIDDEN"


async def test_bad_requests_for_keys_are_refused(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    with pytest.raises(AdminError, match="unknown scopes \\['read:everything', 'write:members'\\]"):
        await create_partner(
            engine,
            name="greedy",
            tenant_code="d01t01",
            scopes=["read:members", "write:members", "read:everything"],
        )
    with pytest.raises(AdminError, match="at least one scope"):
        await create_partner(engine, name="empty", tenant_code="d01t01", scopes=[])
    with pytest.raises(AdminError, match="no tenant with code 'd99'"):
        await create_partner(engine, name="nowhere", tenant_code="d99", scopes=["read:members"])
    assert await fetch(engine, "SELECT id FROM partner_keys") == []

    await create_partner(engine, name="taken", tenant_code="d01t01", scopes=["read:members"])
    with pytest.raises(AdminError, match="exists already"):
        await create_partner(engine, name="taken", tenant_code="d01t02", scopes=["read:members"])
    with pytest.raises(AdminError, match="no active partner named 'missing'"):
        await revoke_partner(engine, name="missing")
    assert len(await fetch(engine, "SELECT id FROM partner_keys")) == 1


async def test_a_revoked_key_is_refused(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    partner, _ = await partner_client(
        app, gql, name="leaving", tenant_code="d01t02", scopes=["read:members"]
    )
    assert (await partner.data("{ members { totalCount } }"))["members"]["totalCount"] > 0

    await revoke_partner(runtime.engine, name="leaving")
    await runtime.control.partners_changed()
    await runtime.control.policy_changed()
    error = await partner.error("{ members { totalCount } }")
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    # Its use raised a security alert about the partner, filed under its tenant.
    async with runtime.engine.connect() as conn:
        alerts = (await conn.execute(text("SELECT kind, subject, tenant_path FROM alerts"))).all()
    assert [tuple(a) for a in alerts] == [("token.revoked_use", "partner:leaving", "/d01/t02/")]

    assert await list_partners(runtime.engine) == [("leaving", "d01t02", "read:members", False)]
    with pytest.raises(AdminError):
        await revoke_partner(runtime.engine, name="leaving")
    # The partner's role binding went with it.
    rules = await fetch(runtime.engine, "SELECT v0 FROM casbin_rule WHERE v0 = 'partner:leaving'")
    assert rules == []
    entries = await fetch(
        runtime.engine,
        "SELECT action FROM audit_log WHERE subject = 'leaving' ORDER BY id",
    )
    assert [e["action"] for e in entries] == ["partner.create", "partner.revoke"]


# -- the real command ----------------------------------------------------------------------------


def _ehome_env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    env.update(EHOME_DATA_DIR=str(data_dir), EHOME_DATABASE_URL=url, PYTHONUNBUFFERED="1")
    return env


async def _ehome(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _written(folder: Path, secret: str) -> list[Path]:
    """The database files (main, WAL, journal) holding `secret`'s bytes."""
    return [p for p in folder.glob("ehome.db*") if secret.encode() in p.read_bytes()]


async def _members_with(url: str, workdir: Path, key: str) -> dict[str, Any]:
    """A server started now on that database (as after a restart) answers with the key."""
    app = create_app(settings_for(url, workdir))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await GraphQLClient(http, key).post("{ members { totalCount } }")
    finally:
        await app.state.runtime.close()


async def test_ehome_partner_commands(tmp_path: Path) -> None:
    database = tmp_path / "ehome.db"
    url = f"sqlite+aiosqlite:///{database}"
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    engine = make_engine(url)
    try:
        await seed(engine, scale="small", seed=7, as_of=date.today())
    finally:
        await engine.dispose()
    env = _ehome_env(tmp_path / "data", url)

    created = await _ehome(
        env,
        tmp_path,
        "partner",
        "create",
        "--name",
        "gov-portal",
        "--tenant",
        "d01t01",
        "--scopes",
        "read:members,read:tenants",
    )
    assert created.returncode == 0, created.stdout + created.stderr
    keys = KEY.findall(created.stdout + created.stderr)
    assert len(keys) == 1, created.stdout  # shown once
    key = keys[0]
    assert "shown once" in created.stdout
    assert "scopes: read:members read:tenants" in created.stdout

    engine = make_engine(url)
    try:
        [row] = await fetch(engine, "SELECT key_hash FROM partner_keys")
    finally:
        await engine.dispose()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    # Not a byte of the key was written anywhere in the database files.
    assert not await asyncio.to_thread(_written, tmp_path, key)

    listed = await _ehome(env, tmp_path, "partner", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.split() == ["gov-portal", "d01t01", "active", "read:members", "read:tenants"]
    assert key not in listed.stdout

    answer = await _members_with(url, tmp_path / "data", key)
    assert "errors" not in answer, answer
    assert answer["data"]["members"]["totalCount"] > 0

    bad = await _ehome(
        env,
        tmp_path,
        "partner",
        "create",
        "--name",
        "x",
        "--tenant",
        "d01t01",
        "--scopes",
        "read:secrets",
    )
    assert bad.returncode == 1
    assert "unknown scopes" in bad.stderr
    assert not KEY.search(bad.stdout + bad.stderr)

    revoked = await _ehome(env, tmp_path, "partner", "revoke", "gov-portal")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    listed = await _ehome(env, tmp_path, "partner", "list")
    [line] = listed.stdout.splitlines()
    assert line.split()[:3] == ["gov-portal", "d01t01", "revoked"]

    answer = await _members_with(url, tmp_path / "data", key)
    # A revoked key is told apart from a made-up one: its use raises an alert (issue 4).
    assert answer["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    again = await _ehome(env, tmp_path, "partner", "revoke", "gov-portal")
    assert again.returncode == 1
    assert "no active partner" in again.stderr


async def test_read_members_opens_no_personal_records(fresh: tuple[GraphQLClient, Any]) -> None:
    # Dues and travel declarations are about members, but they are not the member list a
    # partner's read:members opens.
    gql, app = fresh
    partner, _key = await partner_client(
        app, gql, name="portal", tenant_code="d01t01", scopes=["read:members"]
    )
    members = await partner.data("{ members(first: 1) { edges { node { id } } } }")
    member = members["members"]["edges"][0]["node"]["id"]
    for query in (
        "query($m: ID!) { duesLedger(memberId: $m) { totalCount } }",
        "{ travelDeclarations { totalCount } }",
    ):
        error = await partner.error(query, {"m": member})
        assert error["extensions"]["code"] == "FORBIDDEN", (query, error)
