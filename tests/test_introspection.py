"""Introspection, field suggestions and GraphiQL, in dev and in production.

Proves: in dev anyone may introspect and errors suggest names ("Did you mean ...?"), and
GraphiQL is served (under a CSP that lets its CDN scripts run); in production `__schema` and
`__type` fail validation for anonymous callers and members (GRAPHQL_VALIDATION_FAILED, however
they are hidden: aliases, fragments), while admins of every tier and partner keys introspect;
suggestions are cut from every message (unknown fields, arguments, enum values in literals and
variables) exactly where introspection is off, over HTTP and WebSocket; `__typename` stays
open; GraphiQL is not served; unexpected errors stay masked and validation errors helpful.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from server.admin import create_partner
from server.app import create_app
from tests.conftest import DEMO_PASSWORD, Databases, GraphQLClient, settings_for

SCHEMA = "{ __schema { queryType { name } } }"
HIDDEN = [
    SCHEMA,
    '{ t: __type(name: "Member") { fields { name } } }',
    "query { ...Q } fragment Q on Query { s: __schema { types { name } } }",
    "{ __typename ... on Query { __schema { directives { name } } } }",
]
# Each is refused with a suggestion in dev: a field, an argument, enum values.
SUGGESTED = [
    ("{ tenantz { totalCount } }", "Did you mean 'tenants'?"),
    ("{ tenants(levell: TOWN) { totalCount } }", "Did you mean 'level'?"),
    ("{ tenants(level: TOWNN) { totalCount } }", "Did you mean the enum value 'TOWN'?"),
]
ENUM_VARIABLE = "query($l: TenantLevel) { tenants(level: $l) { totalCount } }"


async def introspects(gql: GraphQLClient) -> bool:
    verdicts = []
    for query in HIDDEN:
        body = await gql.post(query)
        if "errors" in body:
            [error] = body["errors"]
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", error
            assert "introspection is disabled for this caller" in error["message"]
            assert body["data"] is None
        verdicts.append("errors" not in body)
    assert len(set(verdicts)) == 1, verdicts  # all or nothing
    return verdicts[0]


async def suggests(gql: GraphQLClient) -> bool:
    found = []
    for query, suggestion in SUGGESTED:
        error = await gql.error(query)
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        found.append(suggestion in error["message"])
        assert error["message"].split(" Did you mean")[0].endswith(".")
    variable = await gql.error(ENUM_VARIABLE, {"l": "TOWNN"})
    assert variable["extensions"]["code"] == "BAD_USER_INPUT"
    found.append("Did you mean the enum value 'TOWN'?" in variable["message"])
    assert len(set(found)) == 1, found  # all or nothing
    return found[0]


@pytest.fixture
async def production(databases: Databases, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    app = create_app(settings_for(databases.copy(), tmp_path, env="production"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http), app
    await app.state.runtime.close()


async def test_dev_introspects_and_suggests_for_everyone(client: GraphQLClient) -> None:
    anonymous = client.anonymous()
    assert await introspects(anonymous)
    assert (await anonymous.post(SCHEMA))["data"]["__schema"]["queryType"]["name"] == "Query"
    assert await suggests(anonymous)
    assert await suggests(await client.as_user("m.10"))


async def test_dev_serves_graphiql(client: GraphQLClient) -> None:
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    csp = page.headers["content-security-policy"]
    assert "https://unpkg.com" in csp and "frame-ancestors 'none'" in csp


async def test_production_introspection_for_admins_and_partners_only(
    production: tuple[GraphQLClient, Any],
) -> None:
    anonymous, app = production
    member = await anonymous.as_user("m.10")
    for closed in (anonymous, member):
        assert not await introspects(closed)
        assert not await suggests(closed)
        # __typename tells nothing and clients need it.
        assert (await closed.post("{ __typename }")) == {"data": {"__typename": "Query"}}

    for username in ("admin", "admin.d01t01", "admin.d01t01v001"):
        admin = await anonymous.as_user(username)
        assert await introspects(admin), username
        assert await suggests(admin), username

    engine = app.state.runtime.engine
    new = await create_partner(engine, name="portal", tenant_code="d01t01", scopes=["read:members"])
    await app.state.runtime.control.partners_changed()
    await app.state.runtime.control.policy_changed()
    partner = GraphQLClient(anonymous.http, new.key)
    assert await introspects(partner)
    assert await suggests(partner)

    # The refusals are cached per rule set: an admin asking after them still gets the schema.
    admin = await anonymous.as_user("admin")
    assert (await admin.post(SCHEMA))["data"]["__schema"]["queryType"]["name"] == "Query"
    # And suggestions cut for one caller are not cut from the shared validation cache.
    assert "Did you mean" not in (await member.error(SUGGESTED[0][0]))["message"]
    assert "Did you mean" in (await admin.error(SUGGESTED[0][0]))["message"]


async def test_production_serves_no_graphiql(production: tuple[GraphQLClient, Any]) -> None:
    anonymous, _app = production
    page = await anonymous.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "graphiql" not in page.text.lower().replace("graphiql is served", "")


async def test_production_errors_stay_helpful_without_names(
    production: tuple[GraphQLClient, Any],
) -> None:
    anonymous, _app = production
    member = await anonymous.as_user("m.10")
    error = await member.error("{ tenantz { totalCount } }")
    assert error["message"] == "Cannot query field 'tenantz' on type 'Query'."
    error = await member.error("{ tenants(first: 1) { totalCount } ")
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert error["message"].startswith("Syntax Error")


@pytest.fixture
def production_socket(databases: Databases, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(databases.shared(), tmp_path, env="production"))
    with TestClient(app) as client:
        yield client


def test_production_websocket_members_cannot_introspect(production_socket: TestClient) -> None:
    login = production_socket.post(
        "/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
            " { accessToken } }",
            "variables": {"u": "m.10", "p": DEMO_PASSWORD},
        },
    ).json()
    bearer = f"Bearer {login['data']['login']['accessToken']}"
    with production_socket.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": bearer}})
        assert ws.receive_json()["type"] == "connection_ack"
        for number, query in enumerate((SCHEMA, SUGGESTED[0][0])):
            ws.send_json({"type": "subscribe", "id": str(number), "payload": {"query": query}})
            answer = ws.receive_json()
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors, answer
            assert all("Did you mean" not in e["message"] for e in errors)
            if query == SCHEMA:
                assert "introspection is disabled for this caller" in errors[0]["message"]
