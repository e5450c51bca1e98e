"""The baseline of bench/queries.py: the SQL that ehome runs for each query, sent with asyncpg
and returned as JSON by a bare Starlette endpoint. No GraphQL, no ORM: the floor of our stack.

Run by the benchmark as `uvicorn bench.bare_app:create --factory` with BARE_DSN set.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BRANCH = """SELECT branches.id, branches.tenant_id, branches.name, branches.category,
  branches.established_on, branches.secretary
FROM branches JOIN tenants ON tenants.id = branches.tenant_id WHERE branches.id = ANY($1::int[])"""
TENANT = """SELECT tenants.id, tenants.parent_id, tenants.level, tenants.code, tenants.name,
  tenants.path FROM tenants WHERE tenants.id = ANY($1::int[])"""
BRANCH_MEMBERS = """SELECT anon_1.id, anon_1.branch_id, anon_1.name, anon_1.joined_on
FROM (SELECT members.id, members.branch_id, members.name, members.gender, members.birth_date,
  members.joined_on, members.phone, members.id_number, members.status, members.education,
  row_number() OVER (PARTITION BY members.branch_id ORDER BY members.id) AS rank_in_parent
  FROM members JOIN branches ON branches.id = members.branch_id
  JOIN tenants ON tenants.id = branches.tenant_id
  WHERE members.branch_id = ANY($1::int[])) AS anon_1
WHERE anon_1.rank_in_parent <= $2 ORDER BY anon_1.id"""
TOWN_MEMBERS = """SELECT members.id, members.branch_id, members.name, members.gender,
  members.birth_date, members.joined_on, members.phone, members.id_number, members.status,
  members.education, branches.tenant_id AS b_tenant_id, branches.name AS b_name,
  branches.category AS b_category, branches.established_on AS b_established_on,
  branches.secretary AS b_secretary
FROM members JOIN branches ON branches.id = members.branch_id
JOIN tenants ON tenants.id = branches.tenant_id
WHERE tenants.path >= $1 AND tenants.path < $2 ORDER BY members.id LIMIT $3"""
TOWN_COUNT = """SELECT count(*) FROM members JOIN branches ON branches.id = members.branch_id
JOIN tenants ON tenants.id = branches.tenant_id WHERE tenants.path >= $1 AND tenants.path < $2"""
TOPS = """SELECT tenants.id, tenants.parent_id, tenants.level, tenants.code, tenants.name,
  tenants.path FROM tenants WHERE tenants.parent_id IS NULL ORDER BY tenants.path"""
COUNTS = """SELECT (SELECT count(*) FROM branches JOIN tenants ON tenants.id = branches.tenant_id),
  (SELECT count(*) FROM members JOIN branches ON branches.id = members.branch_id
    JOIN tenants ON tenants.id = branches.tenant_id),
  (SELECT count(*) FROM activities JOIN branches ON branches.id = activities.branch_id
    JOIN tenants ON tenants.id = branches.tenant_id
    WHERE activities.occurred_at >= $1 AND activities.occurred_at < $2)"""
CHINA = dt.timezone(dt.timedelta(hours=8))


def _json(data: Any) -> Response:
    return Response(orjson.dumps({"data": data}), media_type="application/json")


def create() -> Starlette:
    pool: asyncpg.Pool[Any] | None = None

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(os.environ["BARE_DSN"], min_size=4, max_size=10)
        yield
        await pool.close()

    async def q1(request: Request) -> Response:
        branch_id = int(request.query_params["branch"])
        assert pool is not None
        async with pool.acquire() as conn:
            branch = (await conn.fetch(BRANCH, [branch_id]))[0]
            tenant = (await conn.fetch(TENANT, [branch["tenant_id"]]))[0]
            members = await conn.fetch(BRANCH_MEMBERS, [branch_id], 51)
        nested = {"name": branch["name"], "tenant": {"name": tenant["name"]}}
        return _json(
            {
                "node": {
                    "name": branch["name"],
                    "tenant": {"name": tenant["name"]},
                    "members": {
                        "edges": [
                            {
                                "node": {
                                    "id": m["id"],
                                    "name": m["name"],
                                    "joinedOn": m["joined_on"].isoformat(),
                                    "branch": nested,
                                }
                            }
                            for m in members[:50]
                        ]
                    },
                }
            }
        )

    async def q2(request: Request) -> Response:
        tenant_id = int(request.query_params["town"])
        assert pool is not None
        async with pool.acquire() as conn:
            path = (await conn.fetch(TENANT, [tenant_id]))[0]["path"]
            rows = await conn.fetch(TOWN_MEMBERS, path, path[:-1] + "0", 51)
            total = await conn.fetchval(TOWN_COUNT, path, path[:-1] + "0")
        return _json(
            {
                "members": {
                    "totalCount": total,
                    "edges": [
                        {
                            "node": {
                                "id": r["id"],
                                "name": r["name"],
                                "joinedOn": r["joined_on"].isoformat(),
                                "branch": {"name": r["b_name"]},
                            }
                        }
                        for r in rows[:50]
                    ],
                }
            }
        )

    async def q3(_request: Request) -> Response:
        assert pool is not None
        now = dt.datetime.now(CHINA)
        start = dt.datetime.combine(now.date(), dt.time(0), tzinfo=CHINA)
        async with pool.acquire() as conn:
            top = (await conn.fetch(TOPS))[0]
            counts = await conn.fetchrow(COUNTS, start, start + dt.timedelta(days=1))
        assert counts is not None
        return _json(
            {
                "overview": {
                    "branches": counts[0],
                    "members": counts[1],
                    "activitiesToday": counts[2],
                    "tenant": {"name": top["name"]},
                }
            }
        )

    async def healthz(_request: Request) -> Response:
        return Response(b"ok")

    return Starlette(
        routes=[Route("/q1", q1), Route("/q2", q2), Route("/q3", q3), Route("/healthz", healthz)],
        lifespan=lifespan,
    )
