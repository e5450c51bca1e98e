"""Persisted queries: Automatic Persisted Queries for every client, allow-lists for partner keys.

Proves: a hash the server does not know answers `PersistedQueryNotFound` (code
PERSISTED_QUERY_NOT_FOUND, status 200, not cacheable), the text sent with its hash runs and is
kept, and the hash alone then runs it, over POST and GET (never a mutation over GET); a hash
that is not the text's is BAD_USER_INPUT and nothing is kept, nor is a text that fails
validation; texts are shared through Redis between processes. A partner key with registered
operations (`ehome partner allow`) runs them by text (however formatted) or by registered
hash, over HTTP and WebSocket, and anything else is FORBIDDEN with a message naming nothing of
the schema, audited as a refusal; a key without registered operations runs whatever its scopes
allow; the command registers, lists and replaces operations and refuses files that do not
validate.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from server.admin import AdminError, allow_operations, create_partner, partner_operations
from server.app import create_app
from server.persisted import operations_in
from tests.conftest import DEMO_PASSWORD, Databases, GraphQLClient, settings_for
from tests.services import Redis

SPEC = "application/graphql-response+json"
TOWNS = "query Towns($n: Int) { tenants(level: TOWN, first: $n) { edges { node { ...T } } } }"
OPERATIONS = f"""
# What the portal runs.
{TOWNS}
query Count {{ tenants {{ totalCount }} }}
fragment T on Tenant {{ name code }}
"""
NOT_REGISTERED = "{ tenants { edges { node { name path } } } }"
REFUSAL = "this partner key may run only the operations registered for it"


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def post(http: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await http.post("/graphql", json=body, headers=headers)


async def audit_rows(app: Any, action: str) -> list[dict[str, Any]]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT principal, tenant_path, detail FROM audit_log WHERE action = :a"),
            {"a": action},
        )
        return [dict(r._mapping) for r in rows]


# -- automatic persisted queries ------------------------------------------------------------


async def test_apq_registers_then_runs_by_hash(client: GraphQLClient) -> None:
    http = client.http
    auth = {"authorization": f"Bearer {client.token}"}
    query = "query Apq1 { tenants(level: TOWN) { totalCount } }"
    digest = sha(query)
    for accept in ("application/json", SPEC):
        missing = await post(http, {"extensions": apq(digest)}, accept=accept, **auth)
        assert missing.status_code == 200  # what Apollo clients expect before sending the text
        assert missing.headers["cache-control"] == "private, no-cache, must-revalidate"
        [error] = missing.json()["errors"]
        assert error == {
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
        }
    sent = await post(http, {"query": query, "extensions": apq(digest)}, **auth)
    expected = sent.json()
    assert expected["data"]["tenants"]["totalCount"] > 1
    by_hash = await post(http, {"extensions": apq(digest)}, accept=SPEC, **auth)
    assert (by_hash.status_code, by_hash.json()) == (200, expected)
    # Upper-case hex is the same hash.
    upper = await post(http, {"extensions": apq(digest.upper())}, **auth)
    assert upper.json() == expected
    # GET with the hash alone, as Apollo's `useGETForHashedQueries` sends it.
    got = await http.get("/graphql", params={"extensions": json.dumps(apq(digest))}, headers=auth)
    assert got.json() == expected


async def test_apq_over_get_registers_and_never_runs_mutations(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    auth = {"authorization": f"Bearer {gql.token}"}
    query = "{ tenants(level: TOWN) { totalCount } }"
    params = {"query": query, "extensions": json.dumps(apq(sha(query)))}
    assert (await gql.http.get("/graphql", params=params, headers=auth)).status_code == 200
    only_hash = {"extensions": json.dumps(apq(sha(query)))}
    got = await gql.http.get("/graphql", params=only_hash, headers=auth)
    assert got.json()["data"]["tenants"]["totalCount"] > 1
    # A mutation registered over POST still never runs over GET.
    login = 'mutation { login(username: "admin.d01t01", password: "' + DEMO_PASSWORD + '") {'
    login += " accessToken } }"
    registered = await post(gql.http, {"query": login, "extensions": apq(sha(login))})
    assert registered.json()["data"]["login"]["accessToken"]
    async with app.state.runtime.engine.connect() as conn:
        before = await conn.scalar(text("SELECT count(*) FROM auth_sessions"))
    refused = await gql.http.get("/graphql", params={"extensions": json.dumps(apq(sha(login)))})
    assert refused.status_code == 405
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM auth_sessions")) == before


async def test_a_hash_that_is_not_the_texts_is_refused_and_not_kept(
    client: GraphQLClient,
) -> None:
    http = client.http
    query = "query Apq2 { __typename }"
    wrong = sha(query + " ")
    mismatch = await post(http, {"query": query, "extensions": apq(wrong)}, accept=SPEC)
    assert mismatch.status_code == 400
    [error] = mismatch.json()["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "argument": "extensions.persistedQuery.sha256Hash",
    }
    for digest in (wrong, sha(query)):
        missing = await post(http, {"extensions": apq(digest)})
        assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"

    for bad in (
        {"persistedQuery": {"version": 2, "sha256Hash": sha(query)}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": "yes"},
    ):
        refused = await post(http, {"query": query, "extensions": bad})
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_text_that_fails_validation_is_not_kept(client: GraphQLClient) -> None:
    http = client.http
    for query in ("query Apq3 { tenantz }", "query Apq4 { "):
        sent = await post(http, {"query": query, "extensions": apq(sha(query))})
        assert sent.json()["errors"][0]["extensions"]["code"] in (
            "GRAPHQL_VALIDATION_FAILED",
            "GRAPHQL_PARSE_FAILED",
        )
        again = await post(http, {"extensions": apq(sha(query))})
        assert again.json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_apq_texts_are_shared_through_redis(
    databases: Databases, tmp_path: Path, redis_server: Redis
) -> None:
    url = databases.shared()
    prefix = f"apq{uuid.uuid4().hex[:8]}"  # the Redis outlives this test
    settings = settings_for(url, tmp_path, redis_url=redis_server.url, redis_prefix=prefix)
    one, two = create_app(settings), create_app(settings)
    query = "query Apq5 { __typename }"
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url="http://b") as b,
        ):
            missing = await post(b, {"extensions": apq(sha(query))})
            assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
            await post(a, {"query": query, "extensions": apq(sha(query))})
            found = await post(b, {"extensions": apq(sha(query))})
            assert found.json() == {"data": {"__typename": "Query"}}
    finally:
        for app in (one, two):
            await app.state.persisted.close()
            await app.state.runtime.close()


# -- allow-lists -----------------------------------------------------------------------------


def test_operations_are_compared_in_canonical_form() -> None:
    towns, count = operations_in(OPERATIONS)
    assert (towns.name, count.name) == ("Towns", "Count")
    # The operation, then the fragments it uses; nothing of the other operations.
    assert towns.document.startswith("query Towns($n: Int)")
    assert "fragment T on Tenant" in towns.document and "Count" not in towns.document
    assert "fragment" not in count.document
    assert towns.sha256 == sha(towns.document)
    reformatted = "fragment T on Tenant { code name }\n" + TOWNS.replace(" ", "\n  ")
    # Same selections in another order are another operation; layout and comments are not.
    assert operations_in(reformatted)[0].sha256 != towns.sha256
    same = "# a comment\nfragment T on Tenant {\n name\n code\n}\n" + TOWNS.replace(" {", "{")
    assert operations_in(same)[0].sha256 == towns.sha256
    for bad, why in (
        ("", "Syntax Error"),
        ("fragment T on Tenant { name }", "no operation"),
        ("{ a } { b }", "name every operation"),
        ("query A { a } query A { b }", "same name"),
        ("query A { ...Missing }", "fragment Missing"),
    ):
        with pytest.raises(ValueError, match=why):
            operations_in(bad)


async def allow_listed(app: Any, gql: GraphQLClient, name: str = "portal") -> GraphQLClient:
    engine = app.state.runtime.engine
    new = await create_partner(engine, name=name, tenant_code="d01t01", scopes=["read:tenants"])
    await allow_operations(engine, name=name, source=OPERATIONS)
    await app.state.runtime.control.partners_changed()
    await app.state.runtime.control.policy_changed()
    await app.state.persisted.load()
    return GraphQLClient(gql.http, new.key)


async def test_an_allow_listed_partner_runs_only_its_operations(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    partner = await allow_listed(app, gql)
    # By text, formatted its own way, with its variables.
    spaced = "# towns\n" + TOWNS.replace(" ", "   ") + "\nfragment T on Tenant { name, code }"
    towns = await partner.data(spaced, {"n": 1})
    [edge] = towns["tenants"]["edges"]
    assert set(edge["node"]) == {"name", "code"}
    assert (await partner.data("query Count { tenants { totalCount } }"))["tenants"]["totalCount"]
    # By the registered hash alone, as `ehome partner operations` lists it.
    [(_, count_hash), (_, towns_hash)] = await partner_operations(
        app.state.runtime.engine, name="portal"
    )
    headers = {"authorization": f"Bearer {partner.token}"}
    by_hash = await post(gql.http, {"extensions": apq(count_hash)}, **headers)
    assert by_hash.json()["data"]["tenants"]["totalCount"] > 0
    chosen = await post(
        gql.http,
        {"query": OPERATIONS, "operationName": "Towns", "variables": {"n": 2}},
        **headers,
    )
    assert len(chosen.json()["data"]["tenants"]["edges"]) == 1  # its own town only
    assert towns_hash != count_hash

    # Anything else: refused before it runs, naming nothing of the schema, audited.
    for query, name in (
        (NOT_REGISTERED, None),
        ("query Count { tenants { totalCount edges { node { path } } } }", "Count"),
        ("query Count { __schema { types { name } } }", None),
        ("query Towns { tenants { totalCount } }", None),
        ("{ tenants { totalCount ", None),  # not even GraphQL: the same answer
        (OPERATIONS + " query Other { tenants { totalCount } }", "Other"),
    ):
        refused = await post(
            gql.http, {"query": query, "operationName": name}, accept=SPEC, **headers
        )
        assert refused.status_code == 403, query
        assert refused.json() == {
            "errors": [{"message": REFUSAL, "extensions": {"code": "FORBIDDEN"}}]
        }
    legacy = await partner.error(NOT_REGISTERED)
    assert legacy == {"message": REFUSAL, "extensions": {"code": "FORBIDDEN"}}
    denied = [r for r in await audit_rows(app, "denied") if r["principal"] == "partner:portal"]
    assert len(denied) == 7
    assert {r["tenant_path"] for r in denied} == {"/d01/t01/"}
    detail = json.loads(denied[-1]["detail"])
    assert detail["what"] == "run an unregistered operation"
    assert len(detail["sha256"]) == 64
    # An APQ hash it registered itself but that is not on its list: not found, then refused.
    missing = await post(gql.http, {"extensions": apq(sha(NOT_REGISTERED))}, **headers)
    assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_partner_without_a_list_runs_anything_it_may(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    await allow_listed(app, gql, name="portal")
    other = await create_partner(
        app.state.runtime.engine, name="open", tenant_code="d01t01", scopes=["read:tenants"]
    )
    await app.state.runtime.control.partners_changed()
    await app.state.runtime.control.policy_changed()
    free = GraphQLClient(gql.http, other.key)
    nodes = (await free.data(NOT_REGISTERED))["tenants"]["edges"]
    assert nodes and all(n["node"]["path"].startswith("/d01/t01/") for n in nodes)
    # Its scopes still bound it: FORBIDDEN for what they do not name, as before.
    assert (await free.error("{ members { totalCount } }"))["extensions"]["code"] == "FORBIDDEN"
    # Users are never held to a partner's list.
    assert (await gql.data(NOT_REGISTERED))["tenants"]["edges"]


@pytest.fixture
def socket_app(databases: Databases, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    app = create_app(settings_for(databases.copy(), tmp_path))
    with TestClient(app) as client:
        yield client, app


def test_the_allow_list_holds_over_websocket(socket_app: tuple[TestClient, Any]) -> None:
    client, app = socket_app
    key = client.portal.call(_make_listed, app)  # type: ignore[attr-defined]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"type": "subscribe", "id": "1", "payload": {"query": NOT_REGISTERED}})
        refused = ws.receive_json()
        assert refused == {
            "id": "1",
            "type": "error",
            "payload": [{"message": REFUSAL, "extensions": {"code": "FORBIDDEN"}}],
        }
        count = "query Count {\n  tenants { totalCount }\n}"
        ws.send_json({"type": "subscribe", "id": "2", "payload": {"query": count}})
        answer = ws.receive_json()
        assert answer["type"] == "next" and answer["payload"]["data"]["tenants"]["totalCount"]


async def _make_listed(app: Any) -> str:
    engine = app.state.runtime.engine
    new = await create_partner(
        engine, name="ws-portal", tenant_code="d01t01", scopes=["read:tenants"]
    )
    await allow_operations(engine, name="ws-portal", source=OPERATIONS)
    await app.state.runtime.control.partners_changed()
    await app.state.runtime.control.policy_changed()
    await app.state.persisted.load()
    return new.key


async def test_allow_operations_refuses_what_cannot_run(fresh: tuple[GraphQLClient, Any]) -> None:
    _gql, app = fresh
    engine = app.state.runtime.engine
    await create_partner(engine, name="portal", tenant_code="d01t01", scopes=["read:tenants"])
    for source, why in (
        ("query A { tenantz }", "Cannot query field 'tenantz'"),
        ("query A { tenants { ", "Syntax Error"),
    ):
        with pytest.raises(AdminError, match=why):
            await allow_operations(engine, name="portal", source=source)
    with pytest.raises(AdminError, match="no active partner"):
        await allow_operations(engine, name="nobody", source=OPERATIONS)
    assert await partner_operations(engine, name="portal") == []
    # Registering twice adds nothing; --replace drops what the file no longer holds.
    first = await allow_operations(engine, name="portal", source=OPERATIONS)
    again = await allow_operations(engine, name="portal", source=OPERATIONS)
    assert (first.added, again.added, again.removed) == (2, 0, 0)
    replaced = await allow_operations(
        engine, name="portal", source="query Count { tenants { totalCount } }", replace=True
    )
    assert (replaced.added, replaced.removed) == (0, 1)
    assert [n for n, _ in await partner_operations(engine, name="portal")] == ["Count"]
    entries = await audit_rows(app, "partner.allow")
    assert [r["principal"].startswith("cli:") for r in entries] == [True] * 3
    assert json.loads(entries[-1]["detail"])["removed"] == [
        sha(operations_in(OPERATIONS)[0].document)
    ]


# -- the command -----------------------------------------------------------------------------


def ehome(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    env.update(EHOME_DATABASE_URL=url, EHOME_DATA_DIR=str(cwd), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_partner_allow_command(databases: Databases, tmp_path: Path) -> None:
    url = databases.copy()
    made = ehome(url, tmp_path, "partner", "create", "--name", "portal", "--tenant", "d01t01",
                 "--scopes", "read:tenants")  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = re.search(r"ehk_[A-Za-z0-9_-]+", made.stdout)
    assert key is not None
    file = tmp_path / "portal.graphql"
    file.write_text(OPERATIONS, encoding="utf-8")

    allowed = ehome(url, tmp_path, "partner", "allow", "portal", str(file))
    assert allowed.returncode == 0, allowed.stderr
    towns, count = operations_in(OPERATIONS)
    assert f"{towns.sha256}  Towns" in allowed.stdout
    assert f"{count.sha256}  Count" in allowed.stdout
    assert "2 operation(s) registered" in allowed.stdout
    listed = ehome(url, tmp_path, "partner", "operations", "portal")
    assert listed.stdout.splitlines() == [f"{count.sha256}  Count", f"{towns.sha256}  Towns"]

    file.write_text("query Bad { tenantz }", encoding="utf-8")
    bad = ehome(url, tmp_path, "partner", "allow", "portal", str(file))
    assert bad.returncode == 1
    assert "Cannot query field 'tenantz'" in bad.stderr
    for args in (("allow", "nobody", str(file)), ("allow", "portal", str(tmp_path / "none"))):
        assert ehome(url, tmp_path, "partner", *args).returncode == 1

    # A server started afterwards holds the key to its list.
    app = create_app(settings_for(url, tmp_path))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            partner = GraphQLClient(http, key.group(0))
            assert (await partner.data(count.document))["tenants"]["totalCount"] > 0
            assert (await partner.error(NOT_REGISTERED))["message"] == REFUSAL
    finally:
        await app.state.runtime.close()
