"""Three GraphQL queries over HTTP against the same SQL served bare, in the same run.

Q1: one branch with 50 members and their nested branch and tenant (node(id:)).
Q2: a 50-member page under one town, with totalCount.
Q3: the district overview (counts).

The reference district is seeded into a throwaway PostgreSQL. Each server runs as one uvicorn
process pinned to core 0; the load generator runs on core 1 with N keep-alive clients.
Target (issue 2): GraphQL p50 within 3x of the bare endpoint on each query.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.harness import (
    LoadResult,
    create_database,
    load,
    pinned,
    post,
    postgres,
    serve,
    uvicorn_cmd,
)
from schema.ids import global_id
from server.db import make_engine
from server.migrate import upgrade
from server.seed import seed
from tests.services import free_port

TARGET_RATIO = 3.0
BENCH_PASSWORD = "bench-only-password"
Q1 = """query Q1($id: ID!) { node(id: $id) { ... on Branch {
  name tenant { name }
  members(first: 50) { edges { node {
    id name joinedOn branch { name tenant { name } } } } } } } }"""
Q2 = """query Q2($town: ID!) { members(under: $town, first: 50) { totalCount
  edges { node { id name joinedOn branch { name } } } } }"""
Q3 = "query Q3 { overview { branches members activitiesToday tenant { name } } }"


async def prepare(url: str) -> tuple[int, int]:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    report = await seed(
        engine, scale="district", seed=1, as_of=date.today(), demo_password=BENCH_PASSWORD
    )
    await engine.dispose()
    print(f"seeded district in {report.seconds:.1f} s: {report.counts}", flush=True)
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        branch = await conn.fetchval(
            "SELECT branch_id FROM members GROUP BY branch_id HAVING count(*) >= 50 "
            "ORDER BY branch_id LIMIT 1"
        )
        town = await conn.fetchval(
            "SELECT id FROM tenants WHERE level = 'TOWN' ORDER BY id LIMIT 1"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return int(branch), int(town)


def graphql_body(query: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": query, "variables": variables}).encode()


async def measure(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    clients: int,
    seconds: float,
    token: str | None = None,
) -> LoadResult:
    return await load(port, method, path, body, clients=clients, seconds=seconds, token=token)


def sign_in(port: int) -> str:
    """The district super admin's access token: the GraphQL queries run signed in."""
    body = json.dumps(
        {
            "query": 'mutation($p: String!) { login(username: "admin", password: $p)'
            " { accessToken } }",
            "variables": {"p": BENCH_PASSWORD},
        }
    ).encode()
    answer = json.loads(asyncio.run(post(port, "/graphql", body)))
    return str(answer["data"]["login"]["accessToken"])


def row(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<9} {result.rps:>8.0f} req/s   p50 {result.p50:>6.2f} ms   "
        f"p95 {result.pct(0.95):>6.2f} ms   errors {result.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator stays off the servers' core

    with postgres() as pg:
        url = asyncio.run(create_database(pg))
        branch, town = asyncio.run(prepare(url))
        queries = [
            (
                "Q1 branch + 50 members, nested",
                graphql_body(Q1, {"id": global_id("Branch", branch)}),
                f"/q1?branch={branch}",
            ),
            (
                "Q2 50-member page under a town",
                graphql_body(Q2, {"town": global_id("Tenant", town)}),
                f"/q2?town={town}",
            ),
            ("Q3 district overview", graphql_body(Q3, {}), "/q3"),
        ]
        ehome_port, bare_port = free_port(), free_port()
        env = {
            "EHOME_DATABASE_URL": url,
            "EHOME_LOG_LEVEL": "WARNING",
            "EHOME_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijkl",
            # One client at full speed: the limiter runs, budgets so large it never refuses.
            "EHOME_RATE_LIMIT": "1000000000",
            "EHOME_RATE_LIMIT_ADDRESS": "1000000000",
            "BARE_DSN": url.replace("postgresql+asyncpg", "postgresql"),
        }
        results: list[tuple[str, LoadResult, LoadResult]] = []
        with serve(
            pinned(uvicorn_cmd("server.asgi:create", ehome_port, factory=True), 0), ehome_port, env
        ) as _ehome:
            token = sign_in(ehome_port)
            graphql = [
                asyncio.run(
                    measure(ehome_port, "POST", "/graphql", body, args.clients, args.seconds, token)
                )
                for _, body, _ in queries
            ]
        with serve(
            pinned(uvicorn_cmd("bench.bare_app:create", bare_port, factory=True), 0), bare_port, env
        ) as _bare:
            bare = [
                asyncio.run(measure(bare_port, "GET", path, None, args.clients, args.seconds))
                for _, _, path in queries
            ]
        results = [(q[0], g, b) for q, g, b in zip(queries, graphql, bare, strict=True)]

    print(
        f"\n{args.clients} concurrent clients, {args.seconds:.0f} s each, one server process "
        f"on one core, PostgreSQL {pg.port}"
    )
    worst = 0.0
    for name, g, b in results:
        ratio = g.p50 / b.p50
        worst = max(worst, ratio)
        print(f"{name}")
        print(row("GraphQL", g))
        print(row("bare", b))
        print(f"  p50 ratio GraphQL/bare: {ratio:.2f}x   throughput ratio: {b.rps / g.rps:.2f}x")
    verdict = "met" if worst <= TARGET_RATIO else "NOT met"
    print(f"\nworst p50 ratio {worst:.2f}x (target <= {TARGET_RATIO:.0f}x): {verdict}")


if __name__ == "__main__":
    main()
