"""WebSocket sign-in (graphql-transport-ws): the token travels in `connection_init`; without a
valid one the socket closes with 4403 before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from tests.conftest import DEMO_PASSWORD, Databases, settings_for

PROTOCOL = "graphql-transport-ws"


@pytest.fixture
def app_client(databases: Databases, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(databases.copy(), tmp_path))
    with TestClient(app) as client:
        yield client


def token(client: TestClient, username: str = "admin.d01t01") -> str:
    body = client.post(
        "/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
            " { accessToken } }",
            "variables": {"u": username, "p": DEMO_PASSWORD},
        },
    ).json()
    return str(body["data"]["login"]["accessToken"])


def closed_with(client: TestClient, payload: dict[str, Any] | None) -> int:
    with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        ws.send_json(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    return closed.value.code


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic abc"}],
    ids=["no-payload", "no-token", "bad-token", "wrong-scheme"],
)
def test_connection_without_a_valid_token_is_closed_4403(
    app_client: TestClient, payload: dict[str, Any] | None
) -> None:
    assert closed_with(app_client, payload) == 4403


def test_a_signed_in_socket_runs_operations_as_its_principal(app_client: TestClient) -> None:
    bearer = f"Bearer {token(app_client)}"
    with app_client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": bearer}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "type": "subscribe",
                "id": "1",
                "payload": {"query": "{ me { username grants { role } } tenants { totalCount } }"},
            }
        )
        answer = ws.receive_json()
        assert answer["type"] == "next", answer
        data = answer["payload"]["data"]
        assert data["me"] == {"username": "admin.d01t01", "grants": [{"role": "SENIOR_ADMIN"}]}
        # The town and its villages only: the socket carries the senior admin's scope.
        assert 1 < data["tenants"]["totalCount"] < 9
        assert ws.receive_json() == {"type": "complete", "id": "1"}


def test_a_logged_out_token_cannot_open_a_socket(app_client: TestClient) -> None:
    access = token(app_client, "admin.d01t02")
    logout = app_client.post(
        "/graphql",
        json={"query": "mutation { logout }"},
        headers={"authorization": f"Bearer {access}"},
    ).json()
    assert logout["data"]["logout"] is True
    assert closed_with(app_client, {"authorization": f"Bearer {access}"}) == 4403
