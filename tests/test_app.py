"""The HTTP surface of `make run`: health, the placeholder page, GraphQL over GET and POST,
GraphiQL, request ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from server.app import create_app
from tests.conftest import GraphQLClient, settings_for
from tests.services import free_port


async def test_healthz_checks_the_database(client: GraphQLClient, tmp_path: Path) -> None:
    ok = await client.http.get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "database": "ok"}

    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
    app = create_app(settings_for(dead, tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as h:
        down = await h.get("/healthz")
    await app.state.engine.dispose()
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"


async def test_root_serves_the_command_center_page(client: GraphQLClient) -> None:
    page = await client.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "总指挥中心" in page.text


async def test_graphql_over_get_and_graphiql(seeded: tuple[GraphQLClient, Any]) -> None:
    client, _ = seeded
    signed_in = {"authorization": f"Bearer {client.token}"}
    query = {"query": "{ overview { members } }"}
    got = await client.http.get("/graphql", params=query, headers=signed_in)
    assert got.status_code == 200
    assert got.json()["data"]["overview"]["members"] > 0
    anonymous = await client.http.get("/graphql", params=query)
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    ide = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert ide.status_code == 200
    assert "graphiql" in ide.text.lower()


async def test_request_ids(client: GraphQLClient) -> None:
    generated = await client.http.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 16
    echoed = await client.http.get("/healthz", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    # Anything that could forge log lines or headers is replaced, not echoed.
    forged = await client.http.get("/healthz", headers={"x-request-id": "a b\tc" + "x" * 80})
    assert forged.headers["x-request-id"] != "a b\tc" + "x" * 80
    assert len(forged.headers["x-request-id"]) == 16
