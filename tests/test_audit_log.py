"""The hash-chained audit log, on SQLite and PostgreSQL.

Proves: sign-ins (both outcomes), grants, revocations, logouts, refusals and unmasked reads of
personal data each leave their entry; `auditLog` answers super admins and auditors, an
auditor only about its own subtree, newest first, page by page; `ehome audit verify` finds
an untouched chain intact and names the entry that was changed (even re-hashed), the gap where
one was deleted, an entry slipped in behind the head's back, or the removal of the last ones
(in-process and as the real command's exit code); and 20 concurrent appends still form one
unbroken chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.rbac import Role
from schema.ids import global_id, parse_global_id
from server.admin import bind_role, verify_audit
from server.audit import service as audit
from server.audit.models import AuditEntry
from server.db import make_engine
from server.migrate import upgrade
from server.seed import seed
from tests.conftest import GraphQLClient

Row = dict[str, Any]

AUDIT_LOG = (
    "query($u: ID, $n: Int, $a: String) { auditLog(under: $u, first: $n, after: $a) {"
    " totalCount pageInfo { hasNextPage endCursor }"
    " edges { node { seq action principal subject tenant { path } detail hash prevHash } } } }"
)

GRANT = (
    "mutation($u: String!, $t: ID!) { grantRole(username: $u, role: JUNIOR_ADMIN, tenantId: $t)"
    " { role } }"
)
REVOKE = (
    "mutation($u: String!, $t: ID!) { revokeRole(username: $u, role: JUNIOR_ADMIN, tenantId: $t) }"
)


# -- helpers ----------------------------------------------------------------------------------


async def fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[Row]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql), params)]


async def execute(engine: AsyncEngine, sql: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(sql), params)


async def last_id(engine: AsyncEngine) -> int:
    [row] = await fetch(engine, "SELECT COALESCE(MAX(id), 0) AS n FROM audit_log")
    return int(row["n"])


async def entries_after(engine: AsyncEngine, after: int) -> list[Row]:
    return await fetch(
        engine,
        "SELECT id, principal, action, tenant_path, subject, client_address, detail"
        " FROM audit_log WHERE id > :after ORDER BY id",
        after=after,
    )


async def append(engine: AsyncEngine, *entries: audit.Entry) -> list[int]:
    async with engine.begin() as conn:
        return await audit.append(conn, list(entries), now=datetime.now(UTC))


def sample(n: int) -> list[audit.Entry]:
    """Entries of several tenants, as the tests' own material for the chain."""
    paths = ["/d01/", "/d01/t01/", "/d01/t01/v001/", "/d01/t02/", "/d01/t02/v005/"]
    return [
        audit.Entry(
            principal="test:audit",
            action="test.entry",
            tenant_path=paths[i % len(paths)],
            subject=f"s{i}",
            detail={"i": i, "note": "样本"},
        )
        for i in range(n)
    ]


async def whole_log(gql: GraphQLClient, under: str | None = None) -> list[Row]:
    """Every entry `gql` may read, walking the pages."""
    nodes: list[Row] = []
    after = None
    while True:
        page = (await gql.data(AUDIT_LOG, {"u": under, "n": 100, "a": after}))["auditLog"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


# -- what is audited ----------------------------------------------------------------------------


async def test_every_kind_of_event_leaves_an_entry(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    start = await last_id(engine)
    anonymous = gql.anonymous()
    village = global_id("Tenant", 4)  # d01t01v001

    failed = await anonymous.post(
        'mutation { login(username: "admin.d01t01", password: "nope") { accessToken } }'
    )
    assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    member = await gql.as_user("m.10")  # login.success
    denied = await member.error("{ overview { members } }")
    assert denied["extensions"]["code"] == "FORBIDDEN"
    grant_args = {"u": "m.10", "t": village}
    overreach = await member.error(
        GRANT,
        grant_args,
    )
    assert overreach["extensions"]["code"] == "FORBIDDEN"
    await gql.data(
        GRANT,
        grant_args,
    )
    assert await gql.data(
        REVOKE,
        grant_args,
    ) == {"revokeRole": True}
    people = await gql.data(
        "query($u: ID) { members(under: $u, first: 100) { edges { node { id phone } } } }",
        {"u": village},
    )
    assert await member.data("mutation { logout }") == {"logout": True}

    entries = await entries_after(engine, start)
    assert [(e["action"], e["principal"], e["subject"]) for e in entries] == [
        ("login.failure", "anonymous", "admin.d01t01"),
        ("login.success", "user:m.10", "m.10"),
        ("denied", "user:m.10", None),
        ("denied", "user:m.10", None),
        ("role.grant", "user:admin", "m.10"),
        ("role.revoke", "user:admin", "m.10"),
        ("member.read_sensitive", "user:admin", None),
        ("logout", "user:m.10", "m.10"),
    ]
    by_action = {e["action"]: e for e in entries}
    denials = [(e["tenant_path"], json.loads(e["detail"])) for e in entries[2:4]]
    assert denials == [
        (None, {"what": "read overview"}),
        ("/d01/t01/v001/", {"what": "grant JUNIOR_ADMIN"}),
    ]
    for action in ("role.grant", "role.revoke"):
        assert by_action[action]["tenant_path"] == "/d01/t01/v001/"
        assert json.loads(by_action[action]["detail"]) == {"role": "JUNIOR_ADMIN", "changed": True}
    read = by_action["member.read_sensitive"]
    assert read["tenant_path"] == "/d01/t01/v001/"
    shown = sorted(parse_global_id(e["node"]["id"])[1] for e in people["members"]["edges"])
    assert json.loads(read["detail"]) == {"members": shown}
    # Every entry made over HTTP says where the request came from.
    assert all(e["client_address"] for e in entries)
    assert (await verify_audit(engine)).intact


# -- reading it ------------------------------------------------------------------------------


async def test_audit_log_for_super_admins_and_auditors(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    engine = runtime.engine
    # Material all over the district: unmasked reads of every member (one entry per tenant)
    # and entries of our own.
    await whole_members(gql)
    await append(engine, *sample(12))

    auditor_name = "admin.d01t02v005"  # a junior admin elsewhere: no audit right of its own
    auditor = await gql.as_user(auditor_name)
    refused = await auditor.error("{ auditLog { totalCount } }")
    assert refused["extensions"]["code"] == "FORBIDDEN"

    assert await bind_role(
        engine, username=auditor_name, role=Role.AUDITOR, tenant_code="d01t01", grant=True
    )
    await runtime.control.policy_changed()

    rows = await fetch(
        engine, "SELECT id, tenant_path FROM audit_log WHERE tenant_path IS NOT NULL"
    )
    everything = sorted((r["id"] for r in rows), reverse=True)
    town = sorted((r["id"] for r in rows if r["tenant_path"].startswith("/d01/t01/")), reverse=True)
    assert 0 < len(town) < len(everything)

    # The super admin reads every entry that concerns a tenant, newest first.
    seen = await whole_log(gql)
    assert [n["seq"] for n in seen] == everything
    # The auditor reads those of its town only, including its own appointment.
    mine = await whole_log(auditor)
    assert [n["seq"] for n in mine] == town
    assert all(n["tenant"]["path"].startswith("/d01/t01/") for n in mine)
    assert any(n["action"] == "role.grant" and n["subject"] == auditor_name for n in mine)
    # `under` narrows, never widens.
    assert await whole_log(gql, global_id("Tenant", 2)) == mine
    assert await whole_log(auditor, global_id("Tenant", 3)) == []
    # A tenant the auditor cannot see (its district) narrows to nothing, as documented: the
    # answer tells nothing about what lies outside.
    assert await whole_log(auditor, global_id("Tenant", 1)) == []

    # node(id:) follows the same scope.
    outside = next(r["id"] for r in rows if not r["tenant_path"].startswith("/d01/t01/"))
    node_query = "query($id: ID!) { node(id: $id) { ... on AuditEntry { seq } } }"
    for seq, expected in ((town[0], {"seq": town[0]}), (outside, None)):
        found = await auditor.data(node_query, {"id": global_id("AuditEntry", seq)})
        assert found == {"node": expected}

    # Entries chain: each one's prevHash is the hash of the entry before it.
    by_seq = {n["seq"]: n for n in seen}
    for n in seen:
        if n["seq"] - 1 in by_seq:
            assert n["prevHash"] == by_seq[n["seq"] - 1]["hash"]

    assert await bind_role(
        engine, username=auditor_name, role=Role.AUDITOR, tenant_code="d01t01", grant=False
    )
    await runtime.control.policy_changed()
    again = await auditor.error("{ auditLog { totalCount } }")
    assert again["extensions"]["code"] == "FORBIDDEN"


async def whole_members(gql: GraphQLClient) -> int:
    """Read every member's phone number (one unmasked read of each); how many there are."""
    after, count = None, 0
    while True:
        page = (
            await gql.data(
                "query($a: String) { members(first: 100, after: $a) {"
                " pageInfo { hasNextPage endCursor } edges { node { phone } } } }",
                {"a": after},
            )
        )["members"]
        count += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return count
        after = page["pageInfo"]["endCursor"]


async def test_audit_log_pages_newest_first(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(7))
    everything = await whole_log(gql)
    total = len(everything)
    assert [n["seq"] for n in everything[:7]] == ids[::-1]

    walked: list[int] = []
    after = None
    for _ in range(total):
        page = (await gql.data(AUDIT_LOG, {"n": 3, "a": after}))["auditLog"]
        assert page["totalCount"] == total
        assert len(page["edges"]) <= 3
        walked += [e["node"]["seq"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert walked == [n["seq"] for n in everything]
    assert walked == sorted(walked, reverse=True)
    node = everything[0]
    assert node["detail"] == {"i": 6, "note": "样本"}
    assert node["principal"] == "test:audit"


# -- verifying the chain -----------------------------------------------------------------------


async def test_verify_finds_an_untouched_log_intact(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    await append(engine, *sample(5))
    await append(engine, *sample(3))
    verdict = await verify_audit(engine)
    assert verdict.intact and verdict.broken_at is None
    assert verdict.entries == await last_id(engine)
    # The same verdict through the service on a plain connection.
    async with engine.connect() as conn:
        assert (await audit.verify(conn)).intact


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("subject", "mallory", "its content does not match its hash"),
        ("detail", '{"i": 999, "note": "样本"}', "its content does not match its hash"),
        ("detail", "{not json", "its detail is not valid JSON"),
        ("principal", "user:someone-else", "its content does not match its hash"),
        # Moving an entry out of an auditor's subtree is tampering too.
        ("tenant_path", "/d01/t02/", "its content does not match its hash"),
    ],
)
async def test_verify_names_a_changed_entry(
    fresh: tuple[GraphQLClient, Any], column: str, value: str, reason: str
) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(6))
    target = ids[2]
    [original] = await fetch(
        engine, f"SELECT {column} AS v FROM audit_log WHERE id = :id", id=target
    )

    await execute(engine, f"UPDATE audit_log SET {column} = :v WHERE id = :id", v=value, id=target)
    verdict = await verify_audit(engine)
    assert not verdict.intact
    assert verdict.broken_at == target
    assert verdict.reason == reason
    assert verdict.entries == target - 1

    # Put back, the chain is whole again: the verdict was about that change only.
    await execute(
        engine, f"UPDATE audit_log SET {column} = :v WHERE id = :id", v=original["v"], id=target
    )
    assert (await verify_audit(engine)).intact


async def test_verify_catches_a_rehashed_entry(fresh: tuple[GraphQLClient, Any]) -> None:
    """Recomputing the changed entry's own hash only moves the break to the next entry."""
    _gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(4))
    target = ids[1]
    # A Core select, so that occurred_at comes back typed (UTCDateTime) on SQLite too.
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(AuditEntry.__table__).where(AuditEntry.id == target)))
            .one()
            ._asdict()
        )
    forged = audit.Entry(
        principal=row["principal"],
        action=row["action"],
        tenant_path=row["tenant_path"],
        subject="mallory",
        client_address=row["client_address"],
        detail=json.loads(row["detail"]),
    )
    new_hash = audit.chain(row["prev_hash"], audit.canonical(target, row["occurred_at"], forged))
    await execute(
        engine,
        "UPDATE audit_log SET subject = 'mallory', hash = :h WHERE id = :id",
        h=new_hash,
        id=target,
    )
    verdict = await verify_audit(engine)
    assert verdict.broken_at == target + 1
    assert verdict.reason == "its prev_hash is not the previous entry's hash"


async def test_verify_names_an_entry_slipped_in_past_the_head(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """A row inserted straight into the table, well chained but behind the head's back, is the
    first entry that does not fit: the verdict names it (not an entry that does not exist) and
    does not claim that anything was removed."""
    _gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(3))
    [head] = await fetch(engine, "SELECT last_hash FROM audit_head WHERE id = 1")
    forged_id = ids[-1] + 1
    async with engine.begin() as conn:
        occurred = datetime.now(UTC)
        entry = audit.Entry(principal="user:admin", action="role.grant", subject="mallory")
        content = audit.canonical(forged_id, occurred, entry)
        await conn.execute(
            insert(AuditEntry).values(
                id=forged_id,
                occurred_at=occurred,
                principal=entry.principal,
                action=entry.action,
                tenant_path=None,
                subject=entry.subject,
                client_address=None,
                detail="{}",
                prev_hash=head["last_hash"],
                hash=audit.chain(head["last_hash"], content),
            )
        )
    verdict = await verify_audit(engine)
    assert not verdict.intact
    assert verdict.broken_at == forged_id, verdict
    assert "removed" not in verdict.reason, verdict


async def test_verify_names_the_gap_of_a_deleted_entry(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(5))
    await execute(engine, "DELETE FROM audit_log WHERE id = :id", id=ids[2])
    verdict = await verify_audit(engine)
    assert verdict.broken_at == ids[2]
    assert verdict.reason == f"entry {ids[2]} is missing"
    assert verdict.entries == ids[2] - 1


async def test_verify_notices_removed_last_entries(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    ids = await append(engine, *sample(5))
    await execute(engine, "DELETE FROM audit_log WHERE id = :id", id=ids[-1])
    verdict = await verify_audit(engine)
    assert not verdict.intact
    assert verdict.broken_at == ids[-1]
    assert verdict.reason == "entries after the last one were removed"
    assert verdict.entries == ids[-1] - 1

    # Removing more of the tail is caught the same way, at the first one missing.
    await execute(engine, "DELETE FROM audit_log WHERE id >= :id", id=ids[2])
    verdict = await verify_audit(engine)
    assert verdict.broken_at == ids[2]
    assert verdict.reason == "entries after the last one were removed"


# -- concurrency ------------------------------------------------------------------------------


async def test_concurrent_appends_keep_one_chain(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    before = await last_id(engine)

    async def one(i: int) -> list[int]:
        # Each append in its own transaction, as concurrent requests do.
        async with engine.begin() as conn:
            entry = audit.Entry(principal="test:race", action="test.race", detail={"i": i})
            return await audit.append(conn, [entry], now=datetime.now(UTC))

    results = await asyncio.gather(*(one(i) for i in range(20)))
    ids = sorted(i for ids in results for i in ids)
    assert ids == list(range(before + 1, before + 21))
    verdict = await verify_audit(engine)
    assert verdict.intact, verdict
    assert verdict.entries == before + 20
    raced = await fetch(engine, "SELECT detail FROM audit_log WHERE action = 'test.race'")
    assert sorted(json.loads(r["detail"])["i"] for r in raced) == list(range(20))


# -- the real command ----------------------------------------------------------------------------


def _ehome_env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    env.update(EHOME_DATA_DIR=str(data_dir), EHOME_DATABASE_URL=url, PYTHONUNBUFFERED="1")
    return env


def _ehome(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_ehome_audit_verify_exit_codes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ehome.db'}"
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    engine = make_engine(url)
    try:
        await seed(engine, scale="small", seed=7, as_of=date.today())
        ids = await append(engine, *sample(4))
    finally:
        await engine.dispose()
    env = _ehome_env(tmp_path / "data", url)

    intact = await asyncio.to_thread(_ehome, env, tmp_path, "audit", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"audit chain intact: {len(ids)} entries" in intact.stdout

    engine = make_engine(url)
    try:
        await execute(engine, "UPDATE audit_log SET subject = 'x' WHERE id = :id", id=ids[1])
    finally:
        await engine.dispose()
    broken = await asyncio.to_thread(_ehome, env, tmp_path, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"audit chain broken at entry {ids[1]}" in broken.stdout
    assert "its content does not match its hash" in broken.stdout
