"""GraphQL over HTTP: media types and status codes, GET for queries only, no form or text POST,
the body limit, batching, CORS and the security headers.

Proves: a client accepting `application/graphql-response+json` gets it with the spec's status
codes (400 without `data` for parse, validation, variable and operation-choice failures; 200
once execution began), while an `application/json` client keeps 200 for every GraphQL result;
a mutation over GET is 405 and never runs (the database is unchanged); form-encoded,
multipart and text/plain POSTs are 415 and never run; a body over EHOME_MAX_BODY is 413 whether
it declares its length or streams in chunks, and is not read to its end; an array body is 400
while batching is off, and with EHOME_BATCH_MAX it answers up to that many operations in order;
only listed origins get CORS headers and preflights (HTTP and WebSocket); every response carries
nosniff, no-referrer, DENY and a CSP with frame-ancestors 'none', the screen a CSP that allows
its own scripts and sockets only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from tests.conftest import DEMO_PASSWORD, Databases, GraphQLClient, _unavailable, settings_for
from tests.test_screen import CHROMIUM, CHROMIUM_ARGS, Server

SPEC = "application/graphql-response+json"
LEGACY = "application/json"
LOGIN = (
    f'mutation {{ login(username: "admin.d01t01", password: "{DEMO_PASSWORD}") {{ accessToken }} }}'
)

PORTAL = "https://portal.example.org"


def bearer(gql: GraphQLClient) -> dict[str, str]:
    return {"authorization": f"Bearer {gql.token}"}


async def post(
    gql: GraphQLClient, body: Any, accept: str = LEGACY, **headers: str
) -> httpx.Response:
    return await gql.http.post(
        "/graphql", json=body, headers={"accept": accept, **bearer(gql), **headers}
    )


async def sessions(app: Any) -> int:
    """Sign-in sessions and sign-in audit entries: what a login leaves in the database."""
    async with app.state.runtime.engine.connect() as conn:
        made = await conn.scalar(text("SELECT count(*) FROM auth_sessions"))
        audited = await conn.scalar(
            text("SELECT count(*) FROM audit_log WHERE action LIKE 'login.%'")
        )
    return int(made) + int(audited)


@pytest.fixture
async def app_with(databases: Databases, tmp_path: Path) -> AsyncIterator[Any]:
    """Apps on a private copy of the demo district, with settings of the test's choosing."""
    apps: list[Any] = []

    async def make(**overrides: Any) -> tuple[httpx.AsyncClient, Any]:
        app = create_app(settings_for(databases.copy(), tmp_path, **overrides))
        apps.append(app)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        clients.append(http)
        return http, app

    clients: list[httpx.AsyncClient] = []
    yield make
    for http in clients:
        await http.aclose()
    for app in apps:
        await app.state.runtime.close()


# -- media types and status codes ---------------------------------------------------------


async def test_json_clients_get_200_for_every_graphql_result(client: GraphQLClient) -> None:
    cases = {
        "{ tenants { totalCount } ": "GRAPHQL_PARSE_FAILED",
        "{ tenantz { totalCount } }": "GRAPHQL_VALIDATION_FAILED",
        "query($n: Int!) { tenants(first: $n) { totalCount } }": "BAD_USER_INPUT",
    }
    for query, code in cases.items():
        got = await post(client, {"query": query})
        assert got.status_code == 200, (query, got.text)
        assert got.headers["content-type"] == LEGACY
        body = got.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == code
    fine = await post(client, {"query": "{ tenants { totalCount } }"})
    assert fine.status_code == 200
    assert fine.json()["data"]["tenants"]["totalCount"] > 0
    # No Accept at all (or */*): the legacy media type as well.
    plain = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": "*/*"}
    )
    assert plain.headers["content-type"] == LEGACY


async def test_graphql_response_json_uses_status_codes(client: GraphQLClient) -> None:
    # Apollo Client's Accept header: the spec's media type preferred.
    accept = f"{SPEC}, {LEGACY};q=0.9"
    refused = {
        "{ tenants { totalCount } ": "GRAPHQL_PARSE_FAILED",
        "{ tenantz { totalCount } }": "GRAPHQL_VALIDATION_FAILED",
        "query($n: Int!) { tenants(first: $n) { totalCount } }": "BAD_USER_INPUT",
    }
    for query, code in refused.items():
        got = await post(client, {"query": query}, accept)
        assert got.status_code == 400, (query, got.text)
        assert got.headers["content-type"] == SPEC
        body = got.json()
        assert "data" not in body  # a request error: execution never began
        assert body["errors"][0]["extensions"]["code"] == code

    ran = await post(client, {"query": "{ tenants { totalCount } }"}, accept)
    assert (ran.status_code, ran.headers["content-type"]) == (200, SPEC)
    assert ran.json()["data"]["tenants"]["totalCount"] > 0

    # Execution began and a field failed: 200, with `data`.
    anonymous = await client.http.post(
        "/graphql", json={"query": "{ me { username } }"}, headers={"accept": accept}
    )
    assert anonymous.status_code == 200
    body = anonymous.json()
    assert "data" in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # The operation to run cannot be chosen: a request error too. (Without a name the first
    # one runs, as strawberry always did.)
    two = "query A { __typename } query B { __typename }"
    for name, status in ((None, 200), ("C", 400), ("B", 200)):
        got = await post(client, {"query": two, "operationName": name}, accept)
        assert got.status_code == status, got.text
        legacy = await post(client, {"query": two, "operationName": name})
        assert legacy.status_code == 200
        if status == 400:
            assert got.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
            assert legacy.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_malformed_requests_are_400_whatever_is_accepted(client: GraphQLClient) -> None:
    for accept in (LEGACY, SPEC):
        headers = {"accept": accept, "content-type": LEGACY, **bearer(client)}
        bodies = [
            b"{not json",
            b'"a string"',
            b'{"variables": {}}',
            b'{"query": 42}',
            b'{"query": "{ __typename }", "variables": [1]}',
            b'{"query": "{ __typename }", "operationName": 7}',
            b'{"query": "{ __typename }", "extensions": "x"}',
            b'{"query": ""}',
        ]
        for raw in bodies:
            got = await client.http.post("/graphql", content=raw, headers=headers)
            assert got.status_code == 400, (raw, got.text)
            assert got.headers["content-type"] == accept
            assert got.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        no_query = await client.http.get("/graphql", headers={"accept": accept})
        assert no_query.status_code == 400
        bad_variables = await client.http.get(
            "/graphql", params={"query": "{ __typename }", "variables": "{oops"}
        )
        assert bad_variables.status_code == 400
    subscription = await post(client, {"query": "subscription { feed { cursor } }"})
    assert subscription.status_code == 400
    assert "WebSocket" in subscription.json()["errors"][0]["message"]


# -- GET for queries only; JSON POST only ---------------------------------------------------


async def test_a_mutation_over_get_is_405_and_never_runs(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    before = await sessions(app)
    for accept in (LEGACY, SPEC):
        got = await gql.http.get("/graphql", params={"query": LOGIN}, headers={"accept": accept})
        assert got.status_code == 405, got.text
        assert got.headers["allow"] == "POST"
        assert got.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    # Chosen by operationName from a document that also holds a query: still refused.
    both = "query Q { __typename } " + LOGIN.replace("mutation", "mutation M", 1)
    got = await gql.http.get("/graphql", params={"query": both, "operationName": "M"})
    assert got.status_code == 405
    assert await sessions(app) == before
    # The query of the same document runs over GET; the mutation itself runs over POST.
    query = await gql.http.get("/graphql", params={"query": both, "operationName": "Q"})
    assert query.json() == {"data": {"__typename": "Query"}}
    posted = await gql.anonymous().post(LOGIN)
    assert posted["data"]["login"]["accessToken"]
    assert await sessions(app) > before


async def test_form_and_text_posts_are_415_and_never_run(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    before = await sessions(app)
    body = json.dumps({"query": LOGIN})
    refused = [
        {"data": {"query": LOGIN}},  # application/x-www-form-urlencoded
        {"files": {"operations": (None, body)}},  # multipart/form-data
        {"content": body, "headers": {"content-type": "text/plain"}},
        {"content": body, "headers": {"content-type": "text/plain;charset=UTF-8"}},
        {"content": body, "headers": {"content-type": "application/graphql"}},
        {"content": body, "headers": {"content-type": ""}},
    ]
    for kwargs in refused:
        got = await gql.http.post("/graphql", **kwargs)
        assert got.status_code == 415, (kwargs, got.text)
        assert got.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert await sessions(app) == before
    # JSON with a charset is JSON.
    fine = await gql.http.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert fine.json()["data"]["login"]["accessToken"]


async def test_other_methods_are_405(client: GraphQLClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        got = await client.http.request(method, "/graphql", json={"query": "{ __typename }"})
        assert got.status_code == 405


# -- the body limit -------------------------------------------------------------------------


async def test_bodies_over_the_limit_are_413(app_with: Any) -> None:
    http, _app = await app_with(max_body=4096)
    small = {"query": "{ __typename }", "variables": {"pad": "x" * 3000}}
    assert (await http.post("/graphql", json=small)).json() == {"data": {"__typename": "Query"}}

    big = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 5000}}).encode()
    declared = await http.post("/graphql", content=big, headers={"content-type": LEGACY})
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    # Chunked, with no Content-Length: counted as it streams, and not read to its end.
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(1000):
            pulled += 1
            yield b"x" * 1024
        yield b'"}}'

    streamed = await http.post("/graphql", content=chunks(), headers={"content-type": LEGACY})
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert pulled <= 6  # 4 KiB, in 1 KiB chunks: the rest was never asked for

    # A Content-Length that lies low does not get past the count either.
    lying = await http.post(
        "/graphql",
        content=chunks(),
        headers={"content-type": LEGACY, "content-length": "10"},
    )
    assert lying.status_code == 413


async def test_the_default_limit_is_one_mebibyte(client: GraphQLClient) -> None:
    pad = "x" * (1024 * 1024)
    got = await post(client, {"query": "{ __typename }", "variables": {"pad": pad}})
    assert got.status_code == 413


# -- batching --------------------------------------------------------------------------------


async def test_batching_is_off_by_default(client: GraphQLClient) -> None:
    got = await post(client, [{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert got.status_code == 400
    assert "batching is off" in got.json()["errors"][0]["message"]


async def test_batching_answers_up_to_the_cap_in_order(app_with: Any) -> None:
    http, app = await app_with(batch_max=3)
    gql = await GraphQLClient(http).as_user("admin.d01t01")
    batch = [
        {"query": "{ me { username } }"},
        {"query": "query($n: Int!) { tenants(first: $n) { edges { node { name } } } }",
         "variables": {"n": 1}},
        {"query": "{ tenantz }"},
    ]  # fmt: skip
    got = await post(gql, batch)
    assert got.status_code == 200
    first, second, third = got.json()
    assert first == {"data": {"me": {"username": "admin.d01t01"}}}
    assert len(second["data"]["tenants"]["edges"]) == 1
    assert third["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    # The spec's media type: each failed request leaves `data` out.
    spec = await post(gql, batch, SPEC)
    assert spec.status_code == 200
    assert "data" not in spec.json()[2]
    # A mutation in a batch runs, in its turn.
    before = await sessions(app)
    logged = await http.post("/graphql", json=[{"query": LOGIN}, {"query": "{ __typename }"}])
    assert logged.json()[0]["data"]["login"]["accessToken"]
    assert logged.json()[1] == {"data": {"__typename": "Query"}}
    assert await sessions(app) > before

    for over in ([{"query": "{ __typename }"}] * 4, []):
        refused = await post(gql, over)
        assert refused.status_code == 400
        assert "1 to 3 operations" in refused.json()["errors"][0]["message"]
    refused = await post(gql, [{"query": "{ __typename }"}, "nope"])
    assert refused.status_code == 400


# -- rate limits leave a Retry-After ---------------------------------------------------------


async def test_rate_limited_answers_carry_retry_after(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, _app = fresh
    wrong = 'mutation { login(username: "admin.d01t02", password: "wrong-one") { accessToken } }'
    for _ in range(5):
        failed = await gql.http.post("/graphql", json={"query": wrong})
        assert "retry-after" not in failed.headers
    limited = await gql.http.post("/graphql", json={"query": wrong})
    error = limited.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert limited.headers["retry-after"] == str(error["extensions"]["retryAfter"])


# -- CORS ------------------------------------------------------------------------------------


async def test_cors_answers_listed_origins_only(app_with: Any) -> None:
    http, _app = await app_with(cors_origins=(PORTAL,))
    query = {"query": "{ __typename }"}
    listed = await http.post("/graphql", json=query, headers={"origin": PORTAL})
    assert listed.headers["access-control-allow-origin"] == PORTAL
    assert "Origin" in listed.headers.get_list("vary")
    assert "x-request-id" in listed.headers["access-control-expose-headers"]
    for other in ("https://evil.example", PORTAL + ":8443", "http://portal.example.org", "null"):
        got = await http.post("/graphql", json=query, headers={"origin": other})
        assert got.status_code == 200  # answered: the browser keeps it from the page
        assert "access-control-allow-origin" not in got.headers
        assert "Origin" in got.headers.get_list("vary")

    preflight = {
        "origin": PORTAL,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    ok = await http.options("/graphql", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == PORTAL
    assert set(ok.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    assert set(ok.headers["access-control-allow-headers"].split(", ")) == {
        "authorization",
        "content-type",
    }
    for refused in (
        {**preflight, "origin": "https://evil.example"},
        {**preflight, "access-control-request-method": "DELETE"},
    ):
        got = await http.options("/graphql", headers=refused)
        assert got.status_code == 403
        assert "access-control-allow-origin" not in got.headers


async def test_without_listed_origins_no_cors_headers_at_all(client: GraphQLClient) -> None:
    got = await client.http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": PORTAL}
    )
    assert not [h for h in got.headers if h.startswith("access-control-")]
    preflight = await client.http.options(
        "/graphql", headers={"origin": PORTAL, "access-control-request-method": "POST"}
    )
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    assert preflight.status_code >= 400


@pytest.fixture
def socket_app(databases: Databases, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(databases.shared(), tmp_path, cors_origins=(PORTAL,)))
    with TestClient(app) as client:
        yield client


def test_websockets_from_listed_origins_only(socket_app: TestClient) -> None:
    protocol = ["graphql-transport-ws"]
    for origin in (PORTAL, "http://testserver", None):
        headers = {"origin": origin} if origin else {}
        with socket_app.websocket_connect("/graphql", subprotocols=protocol, headers=headers) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403  # accepted, then refused for want of a token
    with (
        pytest.raises(WebSocketDisconnect),
        socket_app.websocket_connect(
            "/graphql", subprotocols=protocol, headers={"origin": "https://evil.example"}
        ) as ws,
    ):
        ws.receive_json()


# -- security headers ------------------------------------------------------------------------


def directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_every_response_carries_the_security_headers(client: GraphQLClient) -> None:
    answers = [
        await client.http.get("/"),
        await client.http.get("/screen.js"),
        await client.http.get("/healthz"),
        await client.http.get("/nothing-here"),
        await post(client, {"query": "{ __typename }"}),
        await client.http.post("/graphql", content=b"x", headers={"content-type": "text/plain"}),
    ]
    for got in answers:
        assert got.headers["x-content-type-options"] == "nosniff", got.url
        assert got.headers["referrer-policy"] == "no-referrer"
        assert got.headers["x-frame-options"] == "DENY"
        assert directives(got.headers["content-security-policy"])["frame-ancestors"] == ["'none'"]
    api = directives(answers[4].headers["content-security-policy"])
    assert api["default-src"] == ["'none'"]


async def test_the_screen_may_load_only_its_own_scripts_and_sockets(client: GraphQLClient) -> None:
    page = await client.http.get("/")
    assert page.headers["content-type"].startswith("text/html")
    csp = directives(page.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no CDN, no eval
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'", "ws://test", "wss://test"]
    assert csp["base-uri"] == ["'none'"]
    # The page itself keeps to it: no inline script, nothing from elsewhere.
    html = page.text
    assert "<script>" not in html and "http://" not in html and "https://" not in html
    for script in ("vendor/graphql-ws.min.js", "vendor/echarts.min.js", "screen.js"):
        assert f'<script src="{script}"></script>' in html


def test_the_screen_works_under_its_csp(tmp_path: Path) -> None:
    """In Chromium, signed in: the screen draws, its socket connects and its charts show their
    tooltips with no CSP violation, while an injected inline script is refused."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable("Playwright", str(exc))
        raise AssertionError("unreachable") from exc
    if not os.path.exists(CHROMIUM):
        _unavailable("Chromium", f"{CHROMIUM} not found")
    server = Server(Databases("sqlite", tmp_path, None).copy(), tmp_path)
    server.start()
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chromium.new_page(viewport={"width": 1600, "height": 900})
            reports: list[str] = []
            page.on("console", lambda m: reports.append(m.text) if "Policy" in m.text else None)
            page.goto(f"{server.base}/")
            page.fill("#username", "admin")
            page.fill("#password", DEMO_PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_selector("#screen:not([hidden])")
            deadline = time.monotonic() + 10
            while page.inner_text("[data-tile=members]") == "–" or (
                page.inner_text("#conn-status") != "实时连接"
            ):
                assert time.monotonic() < deadline, "the tiles or the socket never came"
                page.wait_for_timeout(100)
            for chart in ("#chart-days", "#chart-categories", "#chart-radar"):
                page.hover(chart)
                page.wait_for_timeout(300)
            assert reports == []
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.injected = 1'; document.body.appendChild(s); }"
            )
            page.wait_for_timeout(200)
            assert page.evaluate("() => window.injected") is None
            assert any("inline script" in r for r in reports), reports
            chromium.close()
    finally:
        server.stop()
