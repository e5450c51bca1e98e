"""Operation limits and the execution timeout (schema/limits.py), on SQLite and PostgreSQL.

Each limit is met exactly by a query that passes and exceeded by one more that is refused with
one OPERATION_TOO_COMPLEX error naming the limit, its maximum and the value, before any resolver
runs; then the attacks they exist for: alias and directive overloading, circular fragments, a
fragment "bomb", deep nesting, huge pages, a padded document. The project's own queries (the
screen's, GraphiQL's introspection) stay within the defaults. An operation running longer than
the timeout is stopped with TIMEOUT, and a mutation stopped half-way leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse
from sqlalchemy import func, select
from starlette.testclient import TestClient

from schema.build import build_schema
from schema.ids import global_id
from schema.limits import DEFAULTS, check, measure_operation
from server.activities.models import Activity
from server.app import create_app
from server.assessments import ratings
from server.audit.models import AuditEntry
from server.feed.models import FeedEventRow
from server.overview import service as overview_service
from tests.conftest import DEMO_PASSWORD, Databases, GraphQLClient, settings_for

SCREEN = Path(__file__).resolve().parent.parent / "frontend_stub" / "screen.js"
SCHEMA = build_schema()._schema
# The documented defaults, whatever the suite's own apps are given.
LIMITS_NAMES = ("query_timeout", "max_depth", "max_aliases", "max_tokens", "max_directives")
LIMITS = {name: getattr(DEFAULTS, name) for name in (*LIMITS_NAMES, "max_root_fields", "max_cost")}


async def serve(
    url: str, workdir: Path, **overrides: Any
) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    """An app of its own (rate limits off unless asked: these tests count operations, not
    minutes), with a client signed in as the district's super admin."""
    overrides = {**LIMITS, "rate_limit": 0, "rate_limit_address": 0, **overrides}
    app = create_app(settings_for(url, workdir, **overrides))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield await GraphQLClient(http).as_user("admin"), app
    await app.state.runtime.close()


@pytest.fixture(scope="module")
async def limited(databases: Databases, workdir: Path) -> AsyncIterator[GraphQLClient]:
    """The default limits, on the shared read-only database."""
    async for client, _app in serve(databases.shared(), workdir):
        yield client


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls of the overview's service: a refused operation must not make one."""
    calls: list[int] = []
    original = overview_service.counts

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(overview_service, "counts", counting)
    return calls


SETTINGS = {
    "depth": "max_depth",
    "aliases": "max_aliases",
    "tokens": "max_tokens",
    "directives": "max_directives",
    "rootFields": "max_root_fields",
    "cost": "max_cost",
}


async def refused(
    client: GraphQLClient,
    query: str,
    limit: str,
    value: int,
    variables: dict[str, Any] | None = None,
) -> None:
    """The one error a refused operation gets, over plain HTTP (status 200, JSON)."""
    response = await client.http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {client.token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    maximum = getattr(DEFAULTS, SETTINGS[limit])
    assert error["extensions"] == {
        "code": "OPERATION_TOO_COMPLEX",
        "limit": limit,
        "max": maximum,
        "value": value,
    }, error
    if limit == "tokens":
        assert error["message"] == f"the document has more than {maximum} tokens, the limit"
    else:
        assert error["message"].endswith(f" {value} exceeds the limit of {maximum}"), error


def overviews(count: int, *, alias: str = "o", selection: str = "{ members }") -> str:
    return "{ " + " ".join(f"{alias}{i}: overview {selection}" for i in range(1, count + 1)) + " }"


# -- aliases, root fields, directives -----------------------------------------------------------


async def test_thirty_aliases_pass_and_the_thirty_first_is_refused(
    limited: GraphQLClient, counted: list[int]
) -> None:
    fields = " ".join(f"m{i}: members" for i in range(1, 31))
    data = await limited.data(f"{{ overview {{ {fields} }} }}")
    assert len(data["overview"]) == 30
    counted.clear()
    await refused(limited, f"{{ overview {{ {fields} m31: members }} }}", "aliases", 31)
    assert counted == []


async def test_alias_overloading_is_refused_before_it_runs(
    limited: GraphQLClient, counted: list[int]
) -> None:
    """The classic batch: one expensive root field asked 31 times under aliases."""
    query = "{ " + " ".join(f"a{i}: tenants {{ totalCount }}" for i in range(1, 32)) + " }"
    await refused(limited, query, "aliases", 31)
    await refused(limited, overviews(31), "aliases", 31)
    assert counted == []


async def test_twenty_root_fields_pass_and_the_twenty_first_is_refused(
    limited: GraphQLClient, counted: list[int]
) -> None:
    data = await limited.data(overviews(20))
    assert len(data) == 20
    assert len(counted) == 20
    counted.clear()
    await refused(limited, overviews(21), "rootFields", 21)
    # Without aliases too: fields of one name merge into one answer, but each is counted.
    await refused(limited, "{ " + "overview { members } " * 21 + "}", "rootFields", 21)
    assert counted == []


async def test_fifty_directives_pass_and_the_fifty_first_is_refused(
    limited: GraphQLClient,
) -> None:
    fields = " ".join(["members @include(if: true)"] * 50)
    assert await limited.data(f"{{ overview {{ {fields} }} }}") == {"overview": {"members": 240}}
    await refused(
        limited, f"{{ overview {{ {fields} branches @skip(if: false) }} }}", "directives", 51
    )


async def test_directive_overloading_is_refused_before_validation(limited: GraphQLClient) -> None:
    """Sixty directives on one field: refused as too complex, before validation (which would
    only say @include may appear once) spends any time on them."""
    query = "{ overview { members " + "@include(if: true) " * 60 + "} }"
    await refused(limited, query, "directives", 60)
    # Directives of the operation and of its fragments count as well; a fragment used twice
    # counts once (it adds no response key of its own the second time).
    query = (
        "query Q @skip(if: false) { overview { ...F ...F } } "
        "fragment F on Overview { " + "members @include(if: true) " * 50 + "}"
    )
    await refused(limited, query, "directives", 51)


# -- depth and fragments -------------------------------------------------------------------------


def parents(levels: int) -> str:
    return "parent { " * levels + "id" + " }" * levels


async def test_deep_nesting_is_refused_past_ten_levels(
    limited: GraphQLClient, counted: list[int]
) -> None:
    village = global_id("Tenant", 9)
    # node(id:) is depth 0, each parent one more, the id below the ninth parent depth 10.
    ten = f'{{ node(id: "{village}") {{ ... on Tenant {{ {parents(9)} }} }} }}'
    data = await limited.data(ten)
    # A village, its town, the district: above it nothing.
    assert data["node"]["parent"]["parent"] == {"parent": None}
    # tenant.parent.parent... 11 deep.
    eleven = f'{{ node(id: "{village}") {{ ... on Tenant {{ {parents(10)} }} }} }}'
    await refused(limited, eleven, "depth", 11)
    # Through fragments just as well.
    split = (
        f'{{ node(id: "{village}") {{ ...A }} }} '
        "fragment A on Tenant { " + "parent { " * 5 + "...B" + " }" * 5 + " } "
        f"fragment B on Tenant {{ {parents(5)} }}"
    )
    assert measure_operation(SCHEMA, parse(split), None, None).depth == 11  # type: ignore[union-attr]
    await refused(limited, split, "depth", 11)


async def test_a_connection_counts_as_one_level(limited: GraphQLClient) -> None:
    """`edges { node { ... } }` is how a list is spelled: tenants, then nine parents and an id
    below them, are ten levels."""
    data = await limited.data(f"{{ tenants(first: 2) {{ edges {{ node {{ {parents(9)} }} }} }} }}")
    assert len(data["tenants"]["edges"]) == 2
    await refused(
        limited, f"{{ tenants(first: 2) {{ edges {{ node {{ {parents(10)} }} }} }} }}", "depth", 11
    )


@pytest.mark.parametrize(
    "fragments",
    [
        "fragment A on Tenant { parent { ...B } } fragment B on Tenant { parent { ...A } }",
        "fragment A on Tenant { id ...A }",
        "fragment A on Tenant { children { edges { node { ...B } } } } "
        "fragment B on Tenant { ...C } fragment C on Tenant { parent { ...A } }",
    ],
    ids=["two", "self", "three"],
)
async def test_circular_fragments_are_a_validation_error(
    limited: GraphQLClient, counted: list[int], fragments: str
) -> None:
    query = "{ overview { members } tenants { edges { node { ...A } } } } " + fragments
    # The measure cuts the cycle (it does not loop) ...
    assert measure_operation(SCHEMA, parse(query), None, None) is not None
    # ... and validation answers: a clean GRAPHQL_VALIDATION_FAILED, not a crash, not a hang.
    body = await asyncio.wait_for(limited.post(query), timeout=5)
    assert body.get("data") is None
    assert body["errors"], body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert any("Cannot spread fragment 'A' within itself" in e["message"] for e in body["errors"])
    assert counted == []


async def test_a_fragment_bomb_is_arithmetic_not_a_walk(limited: GraphQLClient) -> None:
    """Thirty fragments each spreading the next twice stand for 2**30 fields: measured in
    one pass over the document (each fragment once), and refused by its cost."""
    chain = " ".join(f"fragment F{i} on Tenant {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    query = (
        "{ tenants(first: 1) { edges { node { ...F0 } } } } "
        + chain
        + " fragment F30 on Tenant { id }"
    )
    started = time.perf_counter()
    measure = measure_operation(SCHEMA, parse(query), None, None)
    assert time.perf_counter() - started < 0.5
    # tenants + edges + one page of 1: a node and 2**30 ids.
    assert measure is not None and measure.cost == 1 + 1 + 1 * (1 + 2**30)
    await refused(limited, query, "cost", 2 + 1 + 2**30)


# -- cost ---------------------------------------------------------------------------------------

NESTED = """query($a: Int, $b: Int) { branches(first: $a) { edges { node {
  members(first: $b) { edges { node { id name } } } } } } }"""


def nested_cost(a: int, b: int) -> int:
    """branches, edges, and per branch: its node, members, edges and per member node, id, name."""
    return 1 + 1 + a * (1 + 1 + 1 + b * 3)


async def test_cost_multiplies_nested_pages(limited: GraphQLClient) -> None:
    # 100 branches with 65 members each: 19,802, within 20,000.
    assert nested_cost(100, 65) == 19_802
    data = await limited.data(NESTED, {"a": 100, "b": 65})
    assert data["branches"]["edges"]
    # One more member a page: 20,102.
    await refused(limited, NESTED, "cost", nested_cost(100, 66), {"a": 100, "b": 66})
    # The page sizes come from the variables of each request, not from the first one seen.
    assert await limited.data(NESTED, {"a": 10, "b": 10})
    # Without `first` a connection counts its default page of 20.
    assert measured(NESTED, {"a": 100}) == nested_cost(100, 20)
    assert measured(NESTED, {}) == nested_cost(20, 20)


def measured(query: str, variables: dict[str, Any]) -> int:
    measure = measure_operation(SCHEMA, parse(query), None, variables)
    assert measure is not None
    return measure.cost


async def test_a_huge_first_is_bad_input_and_counts_as_the_largest_page(
    limited: GraphQLClient,
) -> None:
    # Beyond 100 the field refuses it, naming the argument, as ever ...
    error = await limited.error("{ members(first: 1000000) { totalCount } }")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    # ... so the cost counts it as a page of 100, and nested huge pages are refused by cost.
    assert measured("{ members(first: 1000000) { edges { node { id } } } }", {}) == 2 + 100 * 2
    huge = (
        "{ branches(first: 99999999999999999999) { edges { node {"
        " members(first: 99999999999999999999) { edges { node { id name } } } } } } }"
    )
    await refused(limited, huge, "cost", nested_cost(100, 100))


def test_lists_without_first_count_once_and_scalars_in_a_page_once_per_item() -> None:
    # A template's indicators and their children: as many as the data holds, counted once.
    templates = (
        "{ assessmentTemplates(first: 100) { edges { node { code indicators { code"
        " children { code } } } } } }"
    )
    assert measured(templates, {}) == 2 + 100 * (1 + 1 + (1 + 1 + (1 + 1)))
    assert measured("{ me { scopes } }", {}) == 1 + (1 + 1)
    # A page of 50 cursors: each a scalar, each counted.
    assert measured("{ tenants(first: 50) { edges { cursor } } }", {}) == 2 + 50 * 1
    # Introspection is bounded by the schema (and graphql-core's own depth rule): one field.
    assert measured(get_introspection_query(), {}) == 1


# -- tokens -------------------------------------------------------------------------------------


def alerts_query(lights: int) -> str:
    """`{ alerts(lights: [RED, ...]) { totalCount } }`: 12 tokens and one per light."""
    return "{ alerts(lights: [" + ", ".join(["RED"] * lights) + "]) { totalCount } }"


async def test_five_thousand_tokens_pass_and_one_more_is_refused(limited: GraphQLClient) -> None:
    assert parse(alerts_query(4988)).token_count == 5000
    data = await limited.data(alerts_query(4988))
    assert isinstance(data["alerts"]["totalCount"], int)
    # The parser stops at the first token over the limit: the value is that token's number.
    await refused(limited, alerts_query(4989), "tokens", 5001)


async def test_a_document_padded_with_comments_is_refused(limited: GraphQLClient) -> None:
    """Comments are tokens the parser reads and keeps: they count."""
    padded = "{ overview { members } }" + "\n# padding" * 6000
    await refused(limited, padded, "tokens", 5001)
    # A big document (under the 1 MiB a request body may have) is cut short at the limit.
    await refused(limited, "{ overview { " + "members " * 100_000 + "} }", "tokens", 5001)


# -- what the project sends ----------------------------------------------------------------------


def screen_queries() -> Iterator[str]:
    """The GraphQL the command-center screen sends (frontend_stub/screen.js), its templates
    filled in."""
    source = SCREEN.read_text()
    constants = dict(re.findall(r'const (\w+) = "([^"]*)";', source))
    for template in re.findall(r"`((?:query|mutation|subscription)[^`]*)`", source):
        yield re.sub(r"\$\{(\w+)\}", lambda m: constants[m.group(1)], template)
    yield from re.findall(r'"((?:query|mutation|subscription)\b[^"{]*\{[^"]*)"', source)


def test_the_screens_queries_stay_within_the_defaults() -> None:
    queries = list(screen_queries())
    assert len(queries) >= 10, queries  # sign-in, tenants, feed, alerts, stats, radar, ...
    for query in queries:
        document = parse(query, max_tokens=DEFAULTS.max_tokens)
        measure = measure_operation(SCHEMA, document, None, {})
        assert measure is not None, query
        assert check(measure, DEFAULTS) is None, (query, measure)
        assert measure.cost <= DEFAULTS.max_cost // 10, (query, measure)  # far within


async def test_graphiqls_introspection_query_passes(limited: GraphQLClient) -> None:
    data = await limited.data(get_introspection_query(descriptions=True))
    assert data["__schema"]["queryType"]["name"] == "Query"


# -- over WebSocket ------------------------------------------------------------------------------


@pytest.fixture
def socket_app(databases: Databases, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(databases.shared(), tmp_path, **LIMITS))
    with TestClient(app) as client:
        yield client


def test_a_refused_operation_over_websocket_gets_an_error_message(socket_app: TestClient) -> None:
    """Subscriptions and queries over graphql-transport-ws are refused through the protocol's
    own `error` message, and the connection stays usable."""
    login = socket_app.post(
        "/graphql",
        json={
            "query": 'mutation($p: String!) { login(username: "admin", password: $p)'
            " { accessToken } }",
            "variables": {"p": DEMO_PASSWORD},
        },
    ).json()
    bearer = "Bearer " + login["data"]["login"]["accessToken"]
    deep = "subscription { feed { " + "tenant { " + parents(10) + " } } }"
    with socket_app.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": bearer}})
        assert ws.receive_json()["type"] == "connection_ack"
        for number, query in enumerate([deep, overviews(21)], start=1):
            ws.send_json({"type": "subscribe", "id": str(number), "payload": {"query": query}})
            answer = ws.receive_json()
            assert answer["type"] == "error", answer
            [error] = answer["payload"]
            assert error["extensions"]["code"] == "OPERATION_TOO_COMPLEX"
        ws.send_json({"type": "subscribe", "id": "3", "payload": {"query": overviews(2)}})
        answer = ws.receive_json()
        assert answer["type"] == "next" and len(answer["payload"]["data"]) == 2, answer


# -- timeout -------------------------------------------------------------------------------------


@pytest.fixture
async def slow_app(databases: Databases, workdir: Path) -> AsyncIterator[tuple[GraphQLClient, Any]]:
    """A private database, and a timeout of one second."""
    async for pair in serve(databases.copy(), workdir, query_timeout=1):
        yield pair


async def test_a_query_running_past_the_timeout_is_stopped(
    slow_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _app = slow_app

    async def stuck(*_args: Any, **_kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(overview_service, "counts", stuck)
    started = time.perf_counter()
    body = await client.post("{ overview { members } }")
    assert time.perf_counter() - started < 5
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "TIMEOUT", "seconds": 1}
    assert error["message"] == "the operation ran longer than 1 s and was stopped"
    # The request is over; the server is not: the next one answers.
    monkeypatch.undo()
    assert (await client.data("{ overview { members } }"))["overview"]["members"] == 240


async def test_a_mutation_stopped_half_way_writes_nothing(
    slow_app: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """recordActivity has inserted its activity, audit entry and feed event when it stalls in
    its last step: the timeout cancels it, and its transaction rolls back whole."""
    client, app = slow_app
    engine = app.state.runtime.engine

    async def counts() -> tuple[int, int, int]:
        async with engine.connect() as conn:
            return (
                await conn.scalar(select(func.count()).select_from(Activity)),
                await conn.scalar(select(func.count()).select_from(AuditEntry)),
                await conn.scalar(select(func.count()).select_from(FeedEventRow)),
            )

    reached: list[int] = []

    async def stalled(*_args: Any, **_kwargs: Any) -> Any:
        reached.append(1)
        await asyncio.sleep(30)

    monkeypatch.setattr(ratings, "after_activity", stalled)
    before = await counts()
    record = (
        'mutation($b: ID!) { recordActivity(input: {branchId: $b, title: "超时",'
        ' kind: "THEME_DAY"}) { id } }'
    )
    body = await client.post(record, {"b": global_id("Branch", 1)})
    assert reached == [1]  # it did stall after writing its rows
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert await counts() == before
    # The same mutation, unhindered, writes (SQLite's write lock was let go too).
    monkeypatch.undo()
    assert (await client.data(record, {"b": global_id("Branch", 1)}))["recordActivity"]["id"]
    after = await counts()
    assert after[0] == before[0] + 1
