"""No N+1: the SQL statements a query runs do not grow with its page size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import GraphQLClient


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The statements the next request runs on its connection (a request reads through one
    connection, see server/db.py). Statements of other connections are left out: the shared
    app may be running something of its own meanwhile (a policy reload after another test's
    grant), which is not this query's cost."""
    seen: list[tuple[int, str]] = []
    mine: list[str] = []

    def record(conn: Any, _cursor: Any, statement: str, params: Any, *_args: Any) -> None:
        seen.append((id(conn.connection.dbapi_connection), f"{statement} -- {params!r}"))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield mine
    finally:
        event.remove(engine, "before_cursor_execute", record)
        # The request's connection is the one that ran most of the statements.
        if seen:
            ran = Counter(conn for conn, _ in seen)
            request = max(ran, key=lambda conn: ran[conn])
            others = [text for conn, text in seen if conn != request]
            if others:
                print("left out (other connections):", *others, sep="\n")
            mine.extend(text for conn, text in seen if conn == request)


async def run(seeded: tuple[GraphQLClient, Any], query: str, size: int) -> list[str]:
    client, app = seeded
    with statements(app) as seen:
        data = await client.data(query, {"n": size})
    assert data  # the query returned something to load
    return seen


QUERIES = {
    # The issue's own example: every level of the chain up to the district.
    "member chain": "query($n: Int) { members(first: $n) { edges { node { name"
    " branch { name tenant { name parent { name parent { name } } } } } } } }",
    "nested connections": "query($n: Int) { branches(first: $n) { totalCount edges { node {"
    " tenant { code } members(first: $n) { totalCount edges { node { name branch { name }"
    " } } } } } } }",
    "tenant tree": "query($n: Int) { tenants(first: $n) { edges { node { parent { code }"
    " children(first: $n) { totalCount edges { node { code } } } } } } }",
}


# Statements each query needs whatever its page size: one per list or nested level.
BOUNDS = {"member chain": 3, "nested connections": 4, "tenant tree": 4}


@pytest.mark.parametrize("name", QUERIES)
async def test_statements_do_not_grow_with_page_size(
    seeded: tuple[GraphQLClient, Any], name: str
) -> None:
    # One query per row would run at least 100 statements at the largest size.
    for size in (1, 5, 25, 100):
        seen = await run(seeded, QUERIES[name], size)
        assert len(seen) <= BOUNDS[name], (size, seen)


async def test_member_chain_reaches_the_district(seeded: tuple[GraphQLClient, Any]) -> None:
    # Village members: the page JOINs branch and tenant; the town and the district above are
    # one batched query each.
    client, app = seeded
    query = QUERIES["member chain"].replace("members(first: $n)", "members(first: $n, under: $v)")
    query = query.replace("query($n: Int)", "query($n: Int, $v: ID)")
    village = await client.data("{ tenants(level: VILLAGE, first: 1) { edges { node { id } } } }")
    village_id = village["tenants"]["edges"][0]["node"]["id"]
    with statements(app) as seen:
        data = await client.data(query, {"n": 100, "v": village_id})
    members = data["members"]["edges"]
    assert members
    assert all(m["node"]["branch"]["tenant"]["parent"]["parent"]["name"] for m in members)
    # `under` itself costs one lookup: 1 + page + town + district.
    assert len(seen) == 4, "\n\n".join(seen)
