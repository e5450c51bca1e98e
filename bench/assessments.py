"""Closing a district-wide Fortress Star campaign.

The reference district (`ehome seed --scale district --demo`: 1,600 branches) on a throwaway
PostgreSQL; one `fortress_star` campaign over the whole district with four methods (SELF 0.1,
PEER 0.2, DEMOCRATIC 0.3, ORGANIZATIONAL 0.4) and ten submissions a branch: 1 SELF, 3 PEER,
4 DEMOCRATIC (anonymous), 2 ORGANIZATIONAL. Launching and the submissions are setup (launch
through `campaigns.launch`, submissions bulk-inserted); what is measured is
`results.close` in its own transaction, from BEGIN to COMMIT: the results, the branch ratings,
the YELLOW/RED warnings, the audit entry and the feed events.
Target (issue): the close takes at most 10 s on PostgreSQL. `--sqlite` adds the same on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.harness import create_database, postgres
from server.assessments import campaigns, ratings, results
from server.assessments.campaigns import EvaluatorSpec
from server.assessments.models import (
    AssessmentEvaluator,
    AssessmentIndicator,
    AssessmentSubmission,
    Method,
    RuleKind,
)
from server.auth.models import User
from server.branches.models import Branch
from server.db import make_engine
from server.migrate import upgrade
from server.seed import seed
from server.sql import AnyRow
from tenants.models import Tenant

TARGET_SECONDS = 10.0
WEIGHTS = {
    Method.SELF: 0.1,
    Method.PEER: 0.2,
    Method.DEMOCRATIC: 0.3,
    Method.ORGANIZATIONAL: 0.4,
}
# Submissions a branch receives, by method (ten in all).
PER_BRANCH = {
    Method.SELF: 1,
    Method.PEER: 3,
    Method.DEMOCRATIC: 4,
    Method.ORGANIZATIONAL: 2,
}
# Evaluator accounts per method: 40 in all.
POOL = 10
# A branch rates itself a little higher than others rate it.
BIAS = {
    Method.SELF: 0.08,
    Method.PEER: 0.03,
    Method.DEMOCRATIC: 0.0,
    Method.ORGANIZATIONAL: -0.03,
}
CHUNK = 2000


def usernames(method: Method) -> list[str]:
    return [f"bench.{method.value.lower()}.{i:02d}" for i in range(1, POOL + 1)]


# -- the breakdown: timers around what `results.close` calls ----------------------------------


@dataclass
class Breakdown:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@contextmanager
def timed_calls(breakdown: Breakdown) -> Iterator[None]:
    """Time, inside `results.close`, the calls it makes through module attributes: compute
    (and within it the pure scoring), the ratings, and within those the warnings. Restored
    afterwards; the server code is not changed."""
    patches: list[tuple[ModuleType, str, str]] = [
        (results, "compute", "compute"),
        (results, "score_target", "score"),
        (results, "rank_all", "score"),
        (ratings, "after_close", "ratings"),
        (ratings, "open_warning", "warnings"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name, _ in patches]

    def sync_timer(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                breakdown.seconds[key] += time.perf_counter() - started

        return wrapper

    def async_timer(fn: Callable[..., Awaitable[Any]], key: str) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                breakdown.seconds[key] += time.perf_counter() - started

        return wrapper

    for module, name, key in patches:
        fn = getattr(module, name)
        timer = async_timer if asyncio.iscoroutinefunction(fn) else sync_timer
        setattr(module, name, timer(fn, key))
    try:
        yield
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


# -- setup ------------------------------------------------------------------------------------


async def district_root(conn: AsyncConnection) -> dict[str, Any]:
    """The district's tenant as schema/assessment_campaigns.py passes it to launch."""
    row = (
        await conn.execute(
            select(
                Tenant.id, Tenant.code, Tenant.name, Tenant.level, Tenant.path, Tenant.parent_id
            ).where(Tenant.parent_id.is_(None))
        )
    ).one()
    return dict(row._mapping) | {"level": str(row.level)}


async def add_evaluators(conn: AsyncConnection, now: datetime) -> None:
    await conn.execute(
        insert(User),
        [
            {
                "username": name,
                "password_hash": "bench-never-checked",
                "member_id": None,
                "is_active": True,
                "created_at": now,
                "last_login_at": None,
            }
            for method in Method
            for name in usernames(method)
        ],
    )


def evaluator_specs(branches: list[int]) -> list[EvaluatorSpec]:
    """SELF and PEER evaluators are named per branch (the branch itself, its peers);
    DEMOCRATIC and ORGANIZATIONAL evaluators cover every branch (all-targets rows)."""
    specs: list[EvaluatorSpec] = []
    for i, branch in enumerate(branches):
        for method in (Method.SELF, Method.PEER):
            names = usernames(method)
            specs += [
                EvaluatorSpec(method, names[(i + j) % POOL], branch)
                for j in range(PER_BRANCH[method])
            ]
    for method in (Method.DEMOCRATIC, Method.ORGANIZATIONAL):
        specs += [EvaluatorSpec(method, name) for name in usernames(method)]
    return specs


def leaf_value(leaf: AnyRow, p: float) -> float:
    """A valid value for one leaf indicator at quality p (0-1)."""
    match leaf.rule:
        case RuleKind.SCORE_RANGE:
            return round(leaf.min_score + (leaf.max_score - leaf.min_score) * p, 1)
        case RuleKind.YES_NO:
            return 1.0 if p >= 0.5 else 0.0
        case _:  # COUNT: up to a little past the cap
            return float(round(1.1 * p * leaf.cap / leaf.per_unit))


def submissions(
    leaves: list[AnyRow], branches: list[int], rng: random.Random, now: datetime
) -> list[dict[str, Any]]:
    """Ten submissions a branch, in a shuffled (arrival) order, without the campaign id. Each
    branch has a quality; each value scatters around it."""
    rows: list[dict[str, Any]] = []
    for i, branch in enumerate(branches):
        quality = rng.gauss(0.72, 0.15)
        for method, count in PER_BRANCH.items():
            names = usernames(method)
            for j in range(count):
                scores = {
                    leaf.code: leaf_value(
                        leaf, min(1.0, max(0.0, quality + BIAS[method] + rng.gauss(0, 0.12)))
                    )
                    for leaf in leaves
                }
                rows.append(
                    {
                        "target_id": branch,
                        "method": method,
                        "evaluator": None if method is Method.DEMOCRATIC else names[(i + j) % POOL],
                        "scores": json.dumps(scores),
                        "submitted_at": now - timedelta(minutes=rng.randrange(1, 60 * 24 * 13)),
                    }
                )
    rng.shuffle(rows)
    return rows


async def bulk(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[start : start + CHUNK])


async def mark_submitted(
    conn: AsyncConnection, campaign_id: int, rows: list[dict[str, Any]]
) -> None:
    """The evaluator rows as `campaigns.submit` leaves them: per-branch rows flipped, and for
    the all-targets evaluators a per-branch row each, already submitted."""
    await conn.execute(
        update(AssessmentEvaluator)
        .where(
            AssessmentEvaluator.campaign_id == campaign_id,
            AssessmentEvaluator.target_id.is_not(None),
        )
        .values(submitted=True)
    )
    names = {m: usernames(m) for m in (Method.DEMOCRATIC, Method.ORGANIZATIONAL)}
    seen: Counter[tuple[int, Method]] = Counter()
    added: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: r["target_id"]):
        method = row["method"]
        if method in names:
            n = seen[(row["target_id"], method)]
            seen[(row["target_id"], method)] += 1
            added.append(
                {
                    "campaign_id": campaign_id,
                    "method": method,
                    "username": names[method][(row["target_id"] + n) % POOL],
                    "target_id": row["target_id"],
                    "submitted": True,
                }
            )
    await bulk(conn, AssessmentEvaluator.__table__, added)


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    scored: int
    unscored: int
    events: int
    lights: Counter[str]
    breakdown: Breakdown


@dataclass
class Report:
    backend: str
    seed_seconds: float
    branches: int
    launch_seconds: list[float]
    specs: int
    setup_seconds: float
    submissions: int
    evaluator_rows: int
    runs: list[Run]


async def close_one(engine: AsyncEngine, campaign_id: int, tenant: dict[str, Any]) -> Run:
    breakdown = Breakdown()
    with timed_calls(breakdown):
        started = time.perf_counter()
        async with engine.begin() as conn:
            facts = await campaigns.campaign(conn, campaign_id)
            assert facts is not None
            closed = await results.close(
                conn, facts, tenant=tenant, actor="bench", client=None, now=datetime.now(UTC)
            )
        seconds = time.perf_counter() - started
    lights = Counter(e.light for e in closed.events if e.kind == "WARNING" and e.light)
    return Run(seconds, closed.scored, closed.unscored, len(closed.events), lights, breakdown)


async def run(url: str, backend: str, *, count: int, rng_seed: int) -> Report:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        seeded = await seed(
            engine, scale="district", seed=1, as_of=date.today(), demo_password="bench-only"
        )
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await add_evaluators(conn, now)
            tenant = await district_root(conn)
        launched: list[int] = []
        launch_seconds: list[float] = []
        branches: list[int] = []
        rows: list[dict[str, Any]] = []
        evaluator_rows = 0
        setup_started = time.perf_counter()
        for k in range(count):
            started = time.perf_counter()
            async with engine.begin() as conn:
                if not branches:
                    # Every branch is in the district: what launch (target_ids=None) targets.
                    branches = list(
                        (await conn.scalars(select(Branch.id).order_by(Branch.id))).all()
                    )
                campaign_id, _event = await campaigns.launch(
                    conn,
                    template_code=ratings.FORTRESS_STAR,
                    name=f"{now.year}年度堡垒指数星级评定（第{k + 1}轮）",
                    tenant=tenant,
                    opens_at=now - timedelta(days=14),
                    closes_at=now + timedelta(days=1),
                    methods=WEIGHTS,
                    target_ids=None,
                    evaluators=evaluator_specs(branches),
                    actor="bench",
                    client=None,
                    now=now - timedelta(days=14),
                )
            launch_seconds.append(time.perf_counter() - started)
            launched.append(campaign_id)
            async with engine.begin() as conn:
                if not rows:
                    facts = await campaigns.campaign(conn, campaign_id)
                    assert facts is not None
                    leaves = list(
                        (
                            await conn.execute(
                                select(
                                    AssessmentIndicator.code,
                                    AssessmentIndicator.rule,
                                    AssessmentIndicator.min_score,
                                    AssessmentIndicator.max_score,
                                    AssessmentIndicator.per_unit,
                                    AssessmentIndicator.cap,
                                )
                                .where(
                                    AssessmentIndicator.template_id == facts.template_id,
                                    AssessmentIndicator.rule.is_not(None),
                                )
                                .order_by(AssessmentIndicator.position)
                            )
                        ).all()
                    )
                    # The same submissions for every campaign: the runs differ only in what
                    # the database already holds (earlier results and ratings).
                    rows = submissions(leaves, branches, random.Random(rng_seed), now)
                    # The values are what submit would accept (it raises otherwise).
                    for row in rows[:20]:
                        await campaigns.checked_scores(
                            conn, facts.template_id, json.loads(row["scores"])
                        )
                await bulk(
                    conn,
                    AssessmentSubmission.__table__,
                    [{"campaign_id": campaign_id, **r} for r in rows],
                )
                await mark_submitted(conn, campaign_id, rows)
                evaluator_rows = int(
                    await conn.scalar(
                        text("SELECT count(*) FROM assessment_evaluators WHERE campaign_id = :c"),
                        {"c": campaign_id},
                    )
                )
        setup_seconds = time.perf_counter() - setup_started
        if engine.dialect.name == "postgresql":
            # Submissions arrive over weeks: autovacuum has analysed the tables by the close.
            async with engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
        runs = [await close_one(engine, c, tenant) for c in launched]
    finally:
        await engine.dispose()
    return Report(
        backend=backend,
        seed_seconds=seeded.seconds,
        branches=len(branches),
        launch_seconds=launch_seconds,
        specs=len(evaluator_specs(branches)),
        setup_seconds=setup_seconds,
        submissions=len(rows),
        evaluator_rows=evaluator_rows,
        runs=runs,
    )


# -- output -----------------------------------------------------------------------------------


def show(report: Report) -> None:
    runs = report.runs
    median = statistics.median(r.seconds for r in runs)
    first = runs[0]
    print(f"\n{report.backend}")
    print(
        f"  seed --scale district --demo: {report.seed_seconds:.1f} s; {report.branches:,} branches"
    )
    print(
        f"  per campaign: {report.submissions:,} submissions "
        f"({report.submissions / report.branches:.0f} a branch: "
        + ", ".join(f"{n} {m.value}" for m, n in PER_BRANCH.items())
        + f"), {report.evaluator_rows:,} evaluator rows after the submissions"
    )
    print(
        f"  launch (campaigns.launch, {report.specs:,} evaluator specs): "
        + ", ".join(f"{s:.2f}" for s in report.launch_seconds)
        + f" s; setup in all {report.setup_seconds:.1f} s"
    )
    print(
        "  close (results.close, BEGIN to COMMIT), per campaign: "
        + ", ".join(f"{r.seconds:.2f}" for r in runs)
        + f" s; median {median:.2f} s"
    )
    print(
        f"  {report.branches / median:,.0f} results/s, "
        f"{report.submissions / median:,.0f} submissions/s (median run)"
    )
    print(
        f"  outcome: {first.scored:,} scored, {first.unscored} unscored; "
        f"{first.lights.get('YELLOW', 0)} branches YELLOW, {first.lights.get('RED', 0)} RED; "
        f"{first.events} feed events (not published: no hub here)"
    )
    parts = {
        key: statistics.median(r.breakdown.seconds.get(key, 0.0) for r in runs)
        for key in ("compute", "score", "ratings", "warnings")
    }
    rest = median - parts["compute"] - parts["ratings"]
    print("  breakdown (medians):")
    print(
        f"    compute          {parts['compute']:6.2f} s  "
        f"(reading and parsing {parts['compute'] - parts['score']:.2f} s, "
        f"scoring and ranking {parts['score']:.2f} s)"
    )
    print(
        f"    ratings          {parts['ratings']:6.2f} s  "
        f"(of which the warnings {parts['warnings']:.2f} s)"
    )
    print(
        f"    everything else  {rest:6.2f} s  "
        "(status flip, target paths, results insert, audit, events, commit)"
    )
    verdict = "met" if median <= TARGET_SECONDS else "NOT met"
    print(f"  target <= {TARGET_SECONDS:.0f} s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="campaigns launched and closed one after another"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the pseudo-random scores")
    parser.add_argument("--sqlite", action="store_true", help="also on SQLite, for comparison")
    args = parser.parse_args()
    reports: list[Report] = []
    with postgres() as server:
        url = asyncio.run(create_database(server))
        print("PostgreSQL: seeding the district, launching, submitting ...", flush=True)
        reports.append(asyncio.run(run(url, "PostgreSQL", count=args.runs, rng_seed=args.seed)))
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            print("SQLite: seeding the district, launching, submitting ...", flush=True)
            reports.append(asyncio.run(run(url, "SQLite", count=args.runs, rng_seed=args.seed)))

    print(
        "\nClosing a district-wide fortress_star campaign; methods "
        + ", ".join(f"{m.value} {w}" for m, w in WEIGHTS.items())
        + f".\n{POOL * len(Method)} evaluator accounts ({POOL} a method). Evaluator rows: "
        "SELF and PEER per branch (the branch, three peers); DEMOCRATIC and ORGANIZATIONAL "
        "all-targets,\nplus the per-branch rows their submissions add. "
        f"{args.runs} campaigns with the same submissions, closed one after another (each "
        "rates every branch again,\nreplacing the previous ratings). The throwaway PostgreSQL "
        "runs with fsync=off: commit costs are understated."
    )
    for report in reports:
        show(report)


if __name__ == "__main__":
    main()
