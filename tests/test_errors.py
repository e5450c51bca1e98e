"""Errors leave with a code and without internals: expected errors keep their message,
unexpected ones are masked, carry the request id, and leave their traceback in the log only."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from server import logs
from server.overview import service as overview_service
from tests.conftest import GraphQLClient


async def test_unexpected_error_is_masked_and_logged(
    seeded: tuple[GraphQLClient, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, _app = seeded

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(overview_service, "counts", broken)
    with caplog.at_level(logging.ERROR, logger="ehome.graphql"):
        response = await client.http.post(
            "/graphql",
            json={"query": "{ overview { members } }"},
            headers={"x-request-id": "req-42", "authorization": f"Bearer {client.token}"},
        )
    body = response.json()
    assert "secret" not in response.text
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert error["path"] == ["overview"]
    assert response.headers["x-request-id"] == "req-42"
    logged = [r for r in caplog.records if r.exc_info]
    assert logged, "the traceback must reach the log"
    assert "postgres://secret@db" in str(logged[0].exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ members { ", "GRAPHQL_PARSE_FAILED"),
        ("{ members { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ members(first: "ten") { totalCount } }', "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_graphql_errors_keep_their_message(
    client: GraphQLClient, query: str, code: str
) -> None:
    error = await client.error(query)
    assert error["extensions"]["code"] == code
    assert error["message"] != "Internal server error"


async def test_bad_variable_is_bad_input(client: GraphQLClient) -> None:
    error = await client.error("query($n: Int) { members(first: $n) { totalCount } }", {"n": "ten"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "ten" in error["message"]


def test_json_log_lines_carry_the_request_id() -> None:
    token = logs.request_id_var.set("abc123")
    try:
        record = logging.LogRecord(
            "ehome.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None
        )
        logs._RequestIdFilter().filter(record)
        line = logs.JsonFormatter().format(record)
    finally:
        logs.request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"
    assert entry["request_id"] == "abc123"
    assert "\n" not in line
