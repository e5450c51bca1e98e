"""What authorization costs.

1. The 50-member page under one town, executed in-process through the schema, with and
   without scoping, interleaved in the same run: scoped, a town's senior admin signs each
   request with its JWT (principal resolved, Casbin-derived scope, SQL predicate); unscoped,
   the authorization layer is bypassed and the same page is read through `under`.
   Target (issue 3): scoping adds at most 10% to the p50.
2. Casbin check latency (`Authz.allows`) over the demo district's role bindings, and the
   cost of deriving a request's Scope. Target: a check is at most 200 µs at p99.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import create_database, postgres
from policies.rbac import Action, Resource
from schema.build import build_schema
from schema.context import Context
from schema.ids import global_id
from server.auth import service
from server.auth.principal import Principal
from server.db import Db, make_engine
from server.migrate import upgrade
from server.runtime import Runtime
from server.seed import seed
from server.settings import Settings
from tenants.demo import demo_bindings, generate
from tenants.scope import Scope

PASSWORD = "bench-only-password"
PAGE = """query($u: ID) { members(under: $u, first: 50) { totalCount
  edges { node { id name joinedOn branch { name } } } } }"""
CHECK_TARGET_US = 200.0
OVERHEAD_TARGET = 0.10


class Unscoped(Context):
    """The authorization layer bypassed, as before authorization existed: no principal to
    resolve, no permission to check, everything visible; `under` picks the town."""

    def scope(self, resource: Resource, action: Action = Action.READ) -> Scope:
        return Scope.everything()

    def require_principal(self) -> Principal:
        return Principal(kind="user", name="bench")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, iterations: int, checks: int) -> None:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    await seed(engine, scale="district", seed=1, as_of=date.today(), demo_password=PASSWORD)
    await engine.dispose()
    runtime = Runtime.create(Settings(database_url=url, secret_key="b" * 48))
    await runtime.ready()
    schema = build_schema()
    data = generate("district", seed=1, as_of=date.today())
    town = next(t for t in data.tenants if t["code"] == "d01t03")
    tokens = await service.login(
        runtime.engine,
        username="admin.d01t03",
        password=PASSWORD,
        client=None,
        policy=runtime.tokens,
        now=datetime.now(UTC),
    )
    header = f"Bearer {tokens.access_token}"

    variables = {"u": global_id("Tenant", town["id"])}

    async def scoped() -> dict[str, object]:
        principal = runtime.identity.resolve(header)
        ctx = Context(db=Db(runtime.reads), runtime=runtime, principal=principal, request_id="b")
        result = await schema.execute(PAGE, variable_values=variables, context_value=ctx)
        await ctx.close()
        assert not result.errors, result.errors
        return result.data or {}

    async def unscoped() -> dict[str, object]:
        ctx = Unscoped(db=Db(runtime.reads), runtime=runtime, principal=None, request_id="b")
        result = await schema.execute(PAGE, variable_values=variables, context_value=ctx)
        await ctx.close()
        assert not result.errors, result.errors
        return result.data or {}

    # The same page either way: the difference is what authorization costs.
    assert await scoped() == await unscoped()
    timings: dict[str, list[float]] = {"scoped": [], "unscoped": []}
    for _ in range(50):
        await scoped()
        await unscoped()
    for i in range(iterations * 2):
        name, fn = ("scoped", scoped) if i % 2 == 0 else ("unscoped", unscoped)
        started = time.perf_counter()
        await fn()
        timings[name].append((time.perf_counter() - started) * 1000)

    # Casbin checks over the demo district's bindings: random subjects, tenants, rights.
    rng = random.Random(7)
    bindings = list(demo_bindings(data, seed=1))
    paths = [t["path"] for t in data.tenants]
    rights = [
        (Resource.MEMBER, Action.READ),
        (Resource.MEMBER, Action.READ_SENSITIVE),
        (Resource.BRANCH, Action.WRITE),
        (Resource.GRANT, "JUNIOR_ADMIN"),
    ]
    authz = runtime.authz
    cases = [
        (
            Principal(kind="user", name=rng.choice(bindings)[0]),
            rng.choice(paths),
            *rng.choice(rights),
        )
        for _ in range(checks)
    ]
    check_us: list[float] = []
    allowed = 0
    for principal, path, resource, action in cases:
        started = time.perf_counter()
        allowed += authz.allows(principal, path, resource, action)
        check_us.append((time.perf_counter() - started) * 1e6)
    scope_us: list[float] = []
    for principal, *_ in cases[:5000]:
        started = time.perf_counter()
        authz.scope(principal, Resource.MEMBER, Action.READ)
        scope_us.append((time.perf_counter() - started) * 1e6)
    await runtime.close()

    s50, u50 = statistics.median(timings["scoped"]), statistics.median(timings["unscoped"])
    overhead = s50 / u50 - 1
    print(
        f"\n50-member page under town d01t03, {iterations} requests each, interleaved, "
        "in-process (no HTTP)\n  scoped: signed in as the town's senior admin (JWT, Casbin-derived "
        "scope, SQL predicate); unscoped: authorization bypassed"
    )
    for name in ("unscoped", "scoped"):
        values = timings[name]
        print(
            f"  {name:<9} p50 {statistics.median(values):6.3f} ms   "
            f"p95 {pct(values, 0.95):6.3f} ms   p99 {pct(values, 0.99):6.3f} ms"
        )
    verdict = "met" if overhead <= OVERHEAD_TARGET else "NOT met"
    print(
        f"  scoping adds {overhead * 100:+.1f}% to the p50 "
        f"(target <= {OVERHEAD_TARGET * 100:.0f}%): {verdict}"
    )
    print(f"\nCasbin checks: {checks:,} over {len(bindings)} bindings ({allowed:,} allowed)")
    verdict = "met" if pct(check_us, 0.99) <= CHECK_TARGET_US else "NOT met"
    print(
        f"  check  p50 {statistics.median(check_us):6.1f} µs   p99 {pct(check_us, 0.99):6.1f} µs"
        f"   (target p99 <= {CHECK_TARGET_US:.0f} µs): {verdict}"
    )
    print(
        f"  scope  p50 {statistics.median(scope_us):6.1f} µs   p99 {pct(scope_us, 0.99):6.1f} µs"
        "   (a request derives each scope it uses once)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--checks", type=int, default=20000)
    args = parser.parse_args()
    with postgres() as server:
        url = asyncio.run(create_database(server))
        asyncio.run(run(url, args.iterations, args.checks))


if __name__ == "__main__":
    main()
