"""Cadre scores, traffic lights and remediation plans, on SQLite and PostgreSQL: the scoring
formula with its edges (pure), scores stored from verified records only, the light rules
(serious negative RED, dimension below YELLOW, worst wins, subtree, inactive), light changes
told once (WARNING event and alert; GREEN again without an alert) and kept, remediation plans
only for YELLOW and RED with a closing note, rule changes for the super admin only, the radar
with district averages and no leak outside scope, and the daily scheduler job.

Cadres and records are inserted here directly (with test indicators of our own), so the tests
do not depend on what the demo seed holds; the seed's default rules are used as seeded."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from schema.ids import global_id
from server.archives import lights, schedule, scoring
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    Cadre,
    CadreLight,
    CadreScore,
    Dimension,
    LightChange,
    LightRule,
    Polarity,
)
from server.archives.scoring import Facts, dimension_scores
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.feed.models import Alert, FeedEventRow
from server.members.models import Member
from tenants.models import Tenant
from tests.conftest import GraphQLClient

Json = dict[str, Any]
TODAY = date(2026, 6, 30)
L, D, S, A, SD = (
    Dimension.LOYALTY,
    Dimension.DETERMINATION,
    Dimension.RESPONSIBILITY,
    Dimension.ABILITY,
    Dimension.SELF_DISCIPLINE,
)


def rec(
    dim: Dimension, polarity: str, points: float, days_ago: int, serious: bool = False
) -> Facts:
    return Facts(dim, Polarity(polarity), points, serious, TODAY - timedelta(days=days_ago))


# -- the formula (pure) ---------------------------------------------------------------------------


def test_no_records_gives_the_base_everywhere() -> None:
    assert dimension_scores([], TODAY) == {d: 80.0 for d in Dimension}


def test_positive_adds_negative_doubles_serious_triples() -> None:
    values = dimension_scores(
        [
            rec(A, "POSITIVE", 5, 10),
            rec(SD, "NEGATIVE", 4, 10),
            rec(L, "NEGATIVE", 5, 10, serious=True),
            rec(D, "POSITIVE", 3, 0),
            rec(D, "NEGATIVE", 1.5, 1),
        ],
        TODAY,
    )
    assert values == {A: 85.0, SD: 72.0, L: 65.0, D: 80.0, S: 80.0}


def test_records_older_than_180_days_count_half_and_365_is_out() -> None:
    values = dimension_scores(
        [
            rec(A, "POSITIVE", 10, 180),  # 180 days old: still full
            rec(L, "POSITIVE", 10, 181),  # older: half
            rec(D, "NEGATIVE", 10, 364),  # last day of the window: half of -20
            rec(S, "NEGATIVE", 10, 365),  # outside the window
            rec(SD, "NEGATIVE", 10, 400),
        ],
        TODAY,
    )
    assert values == {A: 90.0, L: 85.0, D: 70.0, S: 80.0, SD: 80.0}


def test_only_old_records() -> None:
    values = dimension_scores(
        [rec(A, "POSITIVE", 4, 200), rec(A, "NEGATIVE", 1, 300, serious=True)], TODAY
    )
    assert values[A] == 80.5  # 80 + 4/2 - 3/2


def test_clamped_at_0_and_100_and_rounded_to_one_decimal() -> None:
    values = dimension_scores(
        [
            *[rec(A, "POSITIVE", 10, d) for d in range(5)],  # 80 + 50
            *[rec(L, "NEGATIVE", 10, d, serious=True) for d in range(5)],  # 80 - 150
            rec(D, "POSITIVE", 1.25, 200),  # 80.625
            rec(S, "POSITIVE", 19.99, 1),  # 99.99
        ],
        TODAY,
    )
    assert values[A] == 100.0 and values[L] == 0.0
    assert values[D] == 80.6 and values[S] == 100.0


def test_a_record_dated_after_today_counts_as_today() -> None:
    assert dimension_scores([rec(A, "POSITIVE", 2, -1)], TODAY)[A] == 82.0


def test_order_of_records_does_not_change_a_value() -> None:
    records = [rec(A, "POSITIVE", p, d) for p, d in [(0.1, 1), (0.2, 2), (0.3, 3), (0.7, 200)]]
    results = {dimension_scores(list(p), TODAY)[A] for p in itertools.permutations(records)}
    assert len(results) == 1


# -- the world the database tests build -----------------------------------------------------------


@dataclass
class World:
    app: Any
    pos: int  # ABILITY +5
    neg: int  # SELF_DISCIPLINE, 4 points (x2)
    big_neg: int  # ABILITY, 11 points (x2): one takes ABILITY to 58
    serious: int  # LOYALTY, 5 points, serious (x3)

    @property
    def engine(self) -> Any:
        return self.app.state.runtime.engine

    async def members_in(self, code: str, n: int) -> list[int]:
        """n members of the tenant's subtree that are no cadre yet, in id order."""
        async with self.engine.connect() as conn:
            path = await conn.scalar(select(Tenant.path).where(Tenant.code == code))
            rows = await conn.scalars(
                select(Member.id)
                .join(Branch, Branch.id == Member.branch_id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .where(
                    Tenant.path.startswith(path),
                    Member.id.not_in(select(Cadre.member_id)),
                    Member.id.not_in(select(User.member_id).where(User.member_id.is_not(None))),
                )
                .order_by(Member.id)
                .limit(n)
            )
            return list(rows)

    async def cadre(self, member_id: int) -> int:
        """The member's cadre file (made here unless it has one)."""
        async with self.engine.begin() as conn:
            found = await conn.scalar(select(Cadre.id).where(Cadre.member_id == member_id))
            if found is not None:
                return int(found)
            tenant_id = await conn.scalar(
                select(Branch.tenant_id)
                .join(Member, Member.branch_id == Branch.id)
                .where(Member.id == member_id)
            )
            return int(
                (
                    await conn.execute(
                        insert(Cadre)
                        .values(
                            member_id=member_id,
                            tenant_id=tenant_id,
                            position="副主任",
                            rank="科员",
                            unit="测试单位",
                            created_at=datetime.now(UTC),
                        )
                        .returning(Cadre.id)
                    )
                ).scalar_one()
            )

    async def cadres(self, code: str, n: int) -> list[int]:
        return [await self.cadre(m) for m in await self.members_in(code, n)]

    async def record(
        self, cadre: int, indicator: int, days_ago: int = 10, status: str = "VERIFIED"
    ) -> int:
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            return int(
                (
                    await conn.execute(
                        insert(ArchiveRecord)
                        .values(
                            cadre_id=cadre,
                            indicator_id=indicator,
                            source="DAILY_SUPERVISION",
                            occurred_on=now.date() - timedelta(days=days_ago),
                            evidence="测试记录",
                            attachments="[]",
                            status=status,
                            author="tester",
                            created_at=now,
                            reviewer=None if status == "PENDING" else "checker",
                            reviewed_at=None if status == "PENDING" else now,
                        )
                        .returning(ArchiveRecord.id)
                    )
                ).scalar_one()
            )

    async def review(self, cadre: int) -> list[Any]:
        """What the review mutation does after verifying a record: after_review, committed
        and published."""
        async with self.app.state.runtime.write() as (conn, outbox):
            events = await lights.after_review(conn, cadre, datetime.now(UTC))
            outbox.extend(events)
        return events

    async def light(self, cadre: int) -> str:
        async with self.engine.connect() as conn:
            found = await conn.scalar(select(CadreLight.light).where(CadreLight.cadre_id == cadre))
        return found or "GREEN"

    async def scalar(self, stmt: Any) -> Any:
        async with self.engine.connect() as conn:
            return await conn.scalar(stmt)

    async def rows(self, stmt: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(stmt))


async def build(app: Any) -> World:
    engine = app.state.runtime.engine
    async with engine.begin() as conn:
        category = (
            await conn.execute(
                insert(ArchiveTagCategory)
                .values(code="test.category", name="测试类别", system="STRICT_MANAGEMENT")
                .returning(ArchiveTagCategory.id)
            )
        ).scalar_one()

        async def indicator(
            code: str, polarity: str, dim: Dimension, points: float, serious: bool
        ) -> int:
            return int(
                (
                    await conn.execute(
                        insert(ArchiveIndicator)
                        .values(
                            code=code,
                            name=code,
                            context="AT_WORK",
                            polarity=polarity,
                            dimension=dim,
                            tag_category_id=category,
                            points=points,
                            serious=serious,
                        )
                        .returning(ArchiveIndicator.id)
                    )
                ).scalar_one()
            )

        return World(
            app,
            pos=await indicator("test.pos", "POSITIVE", A, 5, False),
            neg=await indicator("test.neg", "NEGATIVE", SD, 4, False),
            big_neg=await indicator("test.big_neg", "NEGATIVE", A, 11, False),
            serious=await indicator("test.serious", "NEGATIVE", L, 5, True),
        )


@pytest.fixture
async def world(fresh: tuple[GraphQLClient, Any]) -> World:
    return await build(fresh[1])


def cid(cadre: int) -> str:
    return str(global_id("Cadre", cadre))


async def tenant_id(world: World, code: str) -> str:
    pk = await world.scalar(select(Tenant.id).where(Tenant.code == code))
    return str(global_id("Tenant", pk))


# -- scores stored --------------------------------------------------------------------------------


async def test_scores_count_only_verified_records_in_the_window(world: World) -> None:
    bare, busy = await world.cadres("d01t01", 2)
    await world.record(busy, world.pos, 10)  # +5 ABILITY
    await world.record(busy, world.pos, 200)  # +2.5 ABILITY (half)
    await world.record(busy, world.neg, 30)  # -8 SELF_DISCIPLINE
    await world.record(busy, world.serious, 400)  # outside the window
    await world.record(busy, world.serious, 5, status="PENDING")
    await world.record(busy, world.big_neg, 5, status="REJECTED")
    now = datetime.now(UTC)
    async with world.engine.begin() as conn:
        scored = await scoring.score_all(conn, now)
    cadres = await world.scalar(select(func.count()).select_from(Cadre))
    assert scored == cadres == await world.scalar(select(func.count()).select_from(CadreScore))
    [row] = await world.rows(select(CadreScore.__table__).where(CadreScore.cadre_id == busy))
    assert (row.ability, row.self_discipline, row.loyalty, row.records) == (87.5, 72.0, 80.0, 3)
    [base] = await world.rows(select(CadreScore.__table__).where(CadreScore.cadre_id == bare))
    assert scoring.values_of(base) == {d: 80.0 for d in Dimension} and base.records == 0
    # One cadre rescored alone agrees with the batch.
    async with world.engine.begin() as conn:
        one = await scoring.score_one(conn, busy, now)
    assert one == scoring.values_of(row)
    assert await world.scalar(select(func.count()).select_from(CadreScore)) == cadres


# -- rules ----------------------------------------------------------------------------------------


async def test_a_serious_negative_record_gives_red_with_a_warning_and_an_alert(
    world: World,
) -> None:
    [cadre] = await world.cadres("d01t01", 1)
    name = await world.scalar(select(Member.name).join(Cadre).where(Cadre.id == cadre))
    await world.record(cadre, world.serious, 3)
    [event] = await world.review(cadre)
    assert (event.kind, event.light) == ("WARNING", "RED")
    assert event.data["cadre"] == cadre and event.data["cause"] == "cadre_light"
    assert f"{name[0]}某 转为红灯" in event.title and name not in event.title
    assert await world.light(cadre) == "RED"
    [alert] = await world.rows(select(Alert.__table__).where(Alert.event_id == event.id))
    assert (alert.kind, alert.light, alert.status) == ("warning.cadre_light", "RED", "OPEN")
    [change] = await world.rows(select(LightChange.__table__).where(LightChange.cadre_id == cadre))
    assert (change.from_light, change.to_light, change.alert_id) == (None, "RED", alert.id)
    assert "严重负面记录1条" in change.reasons


async def test_a_dimension_below_the_threshold_gives_yellow(world: World) -> None:
    low, fine = await world.cadres("d01t01", 2)
    await world.record(low, world.big_neg, 3)  # ABILITY 80 - 22 = 58 < 60
    await world.record(fine, world.neg, 3)  # SELF_DISCIPLINE 72: above 60
    [event] = await world.review(low)
    assert event.light == "YELLOW" and "政治能力58分，低于60分" in event.title
    assert await world.review(fine) == []
    assert (await world.light(low), await world.light(fine)) == ("YELLOW", "GREEN")


async def test_three_negatives_in_180_days_give_yellow_older_ones_do_not(world: World) -> None:
    recent, old = await world.cadres("d01t01", 2)
    for days in (1, 50, 170):
        await world.record(recent, world.neg, days)
    for days in (1, 50, 190):  # the third is outside the rule's 180 days
        await world.record(old, world.neg, days)
    assert [e.light for e in await world.review(recent)] == ["YELLOW"]
    assert await world.review(old) == []


async def test_the_worst_light_wins(world: World) -> None:
    [cadre] = await world.cadres("d01t01", 1)
    await world.record(cadre, world.big_neg, 3)  # YELLOW by the dimension
    await world.record(cadre, world.serious, 3)  # RED
    [event] = await world.review(cadre)
    assert event.light == "RED"
    [reasons] = await world.rows(select(CadreLight.reasons).where(CadreLight.cadre_id == cadre))
    assert reasons[0].index('"RED"') < reasons[0].index('"YELLOW"')  # worst first


CREATE_RULE = """mutation($i: CreateLightRuleInput!) { createLightRule(input: $i) {
  id tenantPath kind light dimension threshold count windowDays active createdBy } }"""
SET_ACTIVE = (
    "mutation($id: ID!, $a: Boolean!) { setLightRuleActive(id: $id, active: $a) { id active } }"
)


async def test_a_rule_on_another_subtree_does_not_apply(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    [here] = await world.cadres("d01t01", 1)
    [there] = await world.cadres("d01t02", 1)
    for cadre in (here, there):
        await world.record(cadre, world.neg, 3)
        assert await world.review(cadre) == []
    rule = {
        "under": await tenant_id(world, "d01t02"),
        "kind": "NEGATIVE_COUNT",
        "light": "RED",
        "count": 1,
        "windowDays": 30,
    }
    made = (await client.data(CREATE_RULE, {"i": rule}))["createLightRule"]
    assert (
        made["tenantPath"] == "/d01/t02/" and made["active"] and made["createdBy"] == "user:admin"
    )
    # The rule's subtree is re-evaluated at once: the cadre there turns RED, the other not.
    assert (await world.light(there), await world.light(here)) == ("RED", "GREEN")
    await world.review(here)
    assert await world.light(here) == "GREEN"


async def test_an_inactive_rule_is_ignored(fresh: tuple[GraphQLClient, Any], world: World) -> None:
    client = fresh[0]
    [cadre] = await world.cadres("d01t01", 1)
    await world.record(cadre, world.serious, 3)
    await world.review(cadre)
    serious_rule = await world.scalar(
        select(LightRule.id).where(LightRule.kind == "SERIOUS_NEGATIVE")
    )
    rule_id = global_id("LightRule", serious_rule)
    off = (await client.data(SET_ACTIVE, {"id": rule_id, "a": False}))["setLightRuleActive"]
    assert off["active"] is False
    assert await world.light(cadre) == "GREEN"  # loyalty 65: no other rule fires
    await world.review(cadre)
    assert await world.light(cadre) == "GREEN"
    await client.data(SET_ACTIVE, {"id": rule_id, "a": True})
    assert await world.light(cadre) == "RED"
    actions = await world.rows(
        select(AuditEntry.action, AuditEntry.detail).where(
            AuditEntry.action == "archive.rule.set_active"
        )
    )
    assert len(actions) == 2


# -- changes told once, kept ----------------------------------------------------------------------


async def test_a_change_is_told_once_and_green_again_is_told_without_an_alert(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    [cadre] = await world.cadres("d01t01", 1)
    record = await world.record(cadre, world.serious, 3)
    alerts_before = await world.scalar(select(func.count()).select_from(Alert))
    assert [e.light for e in await world.review(cadre)] == ["RED"]
    # Unchanged: nothing new.
    events_before = await world.scalar(select(func.count()).select_from(FeedEventRow))
    assert await world.review(cadre) == []
    assert await world.scalar(select(func.count()).select_from(FeedEventRow)) == events_before
    # The record turns out wrong: back to GREEN, a GREEN WARNING event and no new alert.
    async with world.engine.begin() as conn:
        await conn.execute(
            update(ArchiveRecord).where(ArchiveRecord.id == record).values(status="REJECTED")
        )
    [green] = await world.review(cadre)
    assert (green.kind, green.light) == ("WARNING", "GREEN") and "转为绿灯" in green.title
    assert await world.scalar(select(func.count()).select_from(Alert)) == alerts_before + 1
    history = (
        await client.data(
            "query($c: ID!) { lightHistory(cadreId: $c) {"
            " fromLight toLight alertId reasons { kind why } } }",
            {"c": cid(cadre)},
        )
    )["lightHistory"]
    assert [(h["fromLight"], h["toLight"]) for h in history] == [(None, "RED"), ("RED", "GREEN")]
    assert history[0]["alertId"] is not None and history[1]["alertId"] is None
    assert history[0]["reasons"][0]["kind"] == "SERIOUS_NEGATIVE" and history[1]["reasons"] == []


async def test_a_batch_evaluation_tells_only_the_changes(world: World) -> None:
    red, yellow, green = await world.cadres("d01t01", 3)
    await world.record(red, world.serious, 3)
    await world.record(yellow, world.big_neg, 3)
    now = datetime.now(UTC)
    async with world.engine.begin() as conn:
        await scoring.score_all(conn, now)
        first = await lights.evaluate(conn, [red, yellow, green], now)
        again = await lights.evaluate(conn, [red, yellow, green], now)
    assert sorted((e.data["cadre"], e.light) for e in first) == [(red, "RED"), (yellow, "YELLOW")]
    assert again == []
    assert (
        await world.scalar(
            select(func.count()).select_from(CadreLight).where(CadreLight.cadre_id == green)
        )
        == 0
    )


# -- remediation plans ----------------------------------------------------------------------------

CREATE_PLAN = """mutation($i: CreateRemediationPlanInput!) { createRemediationPlan(input: $i) {
  id cadreId cadreName light alertId owner dueOn actions status closingNote } }"""
CLOSE_PLAN = """mutation($id: ID!, $note: String!) {
  closeRemediationPlan(id: $id, closingNote: $note) { id status closingNote closedAt } }"""
LIGHTS = """query($under: ID, $lights: [Light!], $first: Int, $after: String) {
  cadreLights(under: $under, lights: $lights, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { cadreId name position light needsPlan since tenant { code }
      reasons { kind light } } } } }"""


def plan_input(cadre: int, **changes: Any) -> Json:
    return {
        "cadreId": cid(cadre),
        "owner": "admin.d01t01",
        "dueOn": (date.today() + timedelta(days=30)).isoformat(),
        "actions": "谈心谈话，限期整改",
    } | changes


async def test_plans_only_for_yellow_and_red_one_open_at_a_time_closed_with_a_note(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    red, green = await world.cadres("d01t01", 2)
    await world.record(red, world.serious, 3)
    await world.review(red)
    refused = await client.error(CREATE_PLAN, {"i": plan_input(green)})
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "argument": "cadreId"}
    for bad, argument in [
        ({"owner": "nobody.here"}, "owner"),
        ({"dueOn": (date.today() - timedelta(days=2)).isoformat()}, "dueOn"),
        ({"actions": "   "}, "actions"),
    ]:
        error = await client.error(CREATE_PLAN, {"i": plan_input(red, **bad)})
        assert error["extensions"]["argument"] == argument, (bad, error)

    async def needs_plan() -> bool:
        body = await client.data(LIGHTS, {"lights": ["RED"], "first": 100})
        [node] = [
            e["node"] for e in body["cadreLights"]["edges"] if e["node"]["cadreId"] == cid(red)
        ]
        return bool(node["needsPlan"])

    assert await needs_plan()
    made = (await client.data(CREATE_PLAN, {"i": plan_input(red)}))["createRemediationPlan"]
    alert = await world.scalar(select(LightChange.alert_id).where(LightChange.cadre_id == red))
    assert (made["status"], made["light"], made["owner"]) == ("OPEN", "RED", "admin.d01t01")
    assert made["alertId"] == global_id("Alert", alert)
    assert not await needs_plan()
    again = await client.error(CREATE_PLAN, {"i": plan_input(red)})
    assert again["extensions"] == {"code": "BAD_USER_INPUT", "argument": "cadreId"}
    no_note = await client.error(CLOSE_PLAN, {"id": made["id"], "note": "  "})
    assert no_note["extensions"] == {"code": "BAD_USER_INPUT", "argument": "closingNote"}
    closed = (await client.data(CLOSE_PLAN, {"id": made["id"], "note": "已整改到位"}))[
        "closeRemediationPlan"
    ]
    assert (closed["status"], closed["closingNote"]) == ("CLOSED", "已整改到位")
    assert closed["closedAt"] is not None
    twice = await client.error(CLOSE_PLAN, {"id": made["id"], "note": "再次"})
    assert twice["extensions"]["code"] == "BAD_USER_INPUT"
    assert await needs_plan()  # still RED, and the plan is closed
    # A new plan may follow once the last one is closed.
    second = (await client.data(CREATE_PLAN, {"i": plan_input(red)}))["createRemediationPlan"]
    plans = (
        await client.data(
            "{ remediationPlans(status: OPEN) { totalCount edges { node { id status } } } }"
        )
    )["remediationPlans"]
    assert [e["node"]["id"] for e in plans["edges"]] == [second["id"]] and plans["totalCount"] == 1
    actions = [
        a
        for (a,) in await world.rows(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("archive.plan.%"))
            .order_by(AuditEntry.id)
        )
    ]
    assert actions == ["archive.plan.create", "archive.plan.close", "archive.plan.create"]


async def test_plans_outside_the_writers_scope_are_refused(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    [elsewhere] = await world.cadres("d01t02", 1)
    await world.record(elsewhere, world.serious, 3)
    await world.review(elsewhere)
    senior = await client.as_user("admin.d01t01")
    refused = await senior.error(CREATE_PLAN, {"i": plan_input(elsewhere)})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    plan = (await client.data(CREATE_PLAN, {"i": plan_input(elsewhere)}))["createRemediationPlan"]
    closing = await senior.error(CLOSE_PLAN, {"id": plan["id"], "note": "不是我的"})
    assert closing["extensions"]["code"] == "FORBIDDEN"
    listed = await senior.data("{ remediationPlans { totalCount edges { node { id } } } }")
    assert plan["id"] not in [e["node"]["id"] for e in listed["remediationPlans"]["edges"]]


# -- rules: who may change them -------------------------------------------------------------------


async def test_only_the_super_admin_changes_rules_and_input_is_checked(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    district = await tenant_id(world, "d01")
    base: Json = {
        "under": district,
        "kind": "DIMENSION_BELOW",
        "light": "YELLOW",
        "threshold": 50.0,
        "dimension": "ABILITY",
    }
    for username in ("admin.d01t01", "admin.d01t01v001"):
        other = await client.as_user(username)
        assert (await other.error(CREATE_RULE, {"i": base}))["extensions"]["code"] == "FORBIDDEN"
        rule_id = global_id("LightRule", 1)
        refused = await other.error(SET_ACTIVE, {"id": rule_id, "a": False})
        assert refused["extensions"]["code"] == "FORBIDDEN"
    cases: list[tuple[Json, str]] = [
        ({"light": "GREEN"}, "light"),
        ({"threshold": None}, "threshold"),
        ({"threshold": 120.0}, "threshold"),
        ({"windowDays": 0}, "windowDays"),
        ({"windowDays": 3651}, "windowDays"),
        ({"kind": "NEGATIVE_COUNT", "threshold": None, "dimension": None}, "count"),
        ({"kind": "SERIOUS_NEGATIVE"}, "threshold"),
        ({"under": str(global_id("Branch", 1))}, "under"),
    ]
    for bad, argument in cases:
        error = await client.error(CREATE_RULE, {"i": base | bad})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, bad
    absent = await client.error(
        CREATE_RULE, {"i": base | {"under": str(global_id("Tenant", 10**6))}}
    )
    assert absent["extensions"]["code"] == "FORBIDDEN"
    made = (await client.data(CREATE_RULE, {"i": base}))["createLightRule"]
    assert (made["kind"], made["dimension"], made["threshold"], made["windowDays"]) == (
        "DIMENSION_BELOW",
        "ABILITY",
        50.0,
        365,
    )
    [entry] = await world.rows(
        select(AuditEntry.principal, AuditEntry.tenant_path).where(
            AuditEntry.action == "archive.rule.create"
        )
    )
    assert tuple(entry) == ("user:admin", "/d01/")
    # Everyone with ARCHIVE read sees the rules that bear on its subtree: the district's too.
    senior = await client.as_user("admin.d01t01")
    seen = (await senior.data("{ lightRules { id kind tenantPath active } }"))["lightRules"]
    assert {r["kind"] for r in seen} >= {"SERIOUS_NEGATIVE", "DIMENSION_BELOW", "NEGATIVE_COUNT"}
    assert made["id"] in {r["id"] for r in seen}
    town_rule = (
        await client.data(
            CREATE_RULE,
            {
                "i": {
                    "under": await tenant_id(world, "d01t02"),
                    "kind": "SERIOUS_NEGATIVE",
                    "light": "YELLOW",
                }
            },
        )
    )["createLightRule"]
    seen = (await senior.data("{ lightRules { id } }"))["lightRules"]
    assert town_rule["id"] not in {r["id"] for r in seen}  # another town's rule


# -- radar ----------------------------------------------------------------------------------------


RADAR = """query($c: ID!) { radar(cadreId: $c) { cadreId records computedAt
  dimensions { dimension value districtAverage } } }"""


async def member_account(world: World) -> tuple[str, int]:
    """A demo member account and its member id."""
    [(username, member)] = await world.rows(
        select(User.username, User.member_id)
        .where(User.member_id.is_not(None))
        .order_by(User.id)
        .limit(1)
    )
    return username, member


async def test_radar_gives_the_five_values_and_district_averages_and_nothing_outside(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    [cadre] = await world.cadres("d01t01", 1)
    [other] = await world.cadres("d01t02", 1)
    await world.record(cadre, world.pos, 3)
    await world.record(cadre, world.serious, 3)
    await world.record(other, world.big_neg, 3)
    username, member = await member_account(world)
    own = await world.cadre(member)
    async with world.engine.begin() as conn:
        await scoring.score_all(conn, datetime.now(UTC))
    radar = (await client.data(RADAR, {"c": cid(cadre)}))["radar"]
    values = {d["dimension"]: d["value"] for d in radar["dimensions"]}
    assert [d["dimension"] for d in radar["dimensions"]] == [d.value for d in Dimension]
    assert (
        values["ABILITY"] == 85.0 and values["LOYALTY"] == 65.0 and values["DETERMINATION"] == 80.0
    )
    assert radar["records"] == 2 and radar["computedAt"] is not None
    stored = await world.rows(select(CadreScore.__table__))
    for d in radar["dimensions"]:
        column = d["dimension"].lower()
        expected = round(statistics.fmean(getattr(r, column) for r in stored), 1)
        assert d["districtAverage"] == pytest.approx(expected, abs=0.11)
    # Out of scope reads as absent: a town admin of the other town, a member not its own file.
    senior = await client.as_user("admin.d01t02")
    assert (await senior.data(RADAR, {"c": cid(cadre)}))["radar"] is None
    assert (await senior.data(RADAR, {"c": cid(other)}))["radar"]["cadreId"] == cid(other)
    assert (await senior.data(RADAR, {"c": cid(10**6)}))["radar"] is None
    mine = await client.as_user(username)
    assert (await mine.data(RADAR, {"c": cid(cadre)}))["radar"] is None
    assert (await mine.data(RADAR, {"c": cid(own)}))["radar"]["cadreId"] == cid(own)
    wrong = await client.error(RADAR, {"c": str(global_id("Member", cadre))})
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "argument": "cadreId"}
    reads = await world.rows(
        select(AuditEntry.principal, AuditEntry.subject).where(
            AuditEntry.action == "archive.read_radar"
        )
    )
    assert ("user:admin", str(cadre)) in [tuple(r) for r in reads]
    assert ("user:admin.d01t02", str(cadre)) not in [tuple(r) for r in reads]


async def test_radar_of_a_cadre_not_scored_yet_is_computed_for_the_read(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    [cadre] = await world.cadres("d01t01", 1)
    await world.record(cadre, world.neg, 3)
    async with world.engine.begin() as conn:
        await conn.execute(delete(CadreScore))
    radar = (await fresh[0].data(RADAR, {"c": cid(cadre)}))["radar"]
    values = {d["dimension"]: d["value"] for d in radar["dimensions"]}
    assert values["SELF_DISCIPLINE"] == 72.0 and radar["computedAt"] is None
    assert all(d["districtAverage"] is None for d in radar["dimensions"])
    assert await world.scalar(select(func.count()).select_from(CadreScore)) == 0  # a read


# -- listing lights -------------------------------------------------------------------------------


async def test_cadre_lights_are_scoped_filtered_and_masked_for_village_admins(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    client = fresh[0]
    village = await world.cadres("d01t01v001", 2)
    [outside] = await world.cadres("d01t02", 1)
    await world.record(village[0], world.serious, 3)
    await world.record(outside, world.serious, 3)
    for cadre in (*village, outside):
        await world.review(cadre)
    junior = await client.as_user("admin.d01t01v001")
    body = (await junior.data(LIGHTS, {"first": 100}))["cadreLights"]
    seen = {e["node"]["cadreId"]: e["node"] for e in body["edges"]}
    assert cid(outside) not in seen and {cid(c) for c in village} <= set(seen)
    assert body["totalCount"] == len(seen)
    assert all(n["tenant"]["code"].startswith("d01t01v001") for n in seen.values())
    red = seen[cid(village[0])]
    assert (red["light"], red["needsPlan"], red["reasons"][0]["kind"]) == (
        "RED",
        True,
        "SERIOUS_NEGATIVE",
    )
    assert seen[cid(village[1])]["light"] == "GREEN" and seen[cid(village[1])]["since"] is None
    name = await world.scalar(select(Member.name).join(Cadre).where(Cadre.id == village[0]))
    assert red["name"] == f"{name[0]}某"  # village admins see files masked
    full = (await client.data(LIGHTS, {"lights": ["RED"], "first": 100}))["cadreLights"]
    by_id = {e["node"]["cadreId"]: e["node"] for e in full["edges"]}
    assert by_id[cid(village[0])]["name"] == name and cid(outside) in by_id
    assert all(n["light"] == "RED" for n in by_id.values())
    # `under` narrows; pages follow each other.
    under = await tenant_id(world, "d01t02")
    narrowed = (await client.data(LIGHTS, {"under": under, "lights": ["RED"]}))["cadreLights"]
    assert cid(village[0]) not in {e["node"]["cadreId"] for e in narrowed["edges"]}
    first = (await client.data(LIGHTS, {"first": 1}))["cadreLights"]
    assert first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    second = (await client.data(LIGHTS, {"first": 1, "after": after}))["cadreLights"]
    assert second["edges"][0]["node"]["cadreId"] != first["edges"][0]["node"]["cadreId"]


# -- the scheduler job ----------------------------------------------------------------------------


async def test_the_scheduler_rescores_and_evaluates_once_a_day(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    runtime = fresh[1].state.runtime
    red, yellow = await world.cadres("d01t01", 2)
    await world.record(red, world.serious, 3)
    await world.record(yellow, world.big_neg, 3)
    # Noon in the district's time zone: five minutes later is the same day there.
    now = datetime.now(runtime.timezone).replace(hour=12, minute=0).astimezone(UTC)
    done = await schedule.run(runtime, now)
    cadres = await world.scalar(select(func.count()).select_from(Cadre))
    assert done is not None and done.scored == cadres and done.events >= 2
    assert (await world.light(red), await world.light(yellow)) == ("RED", "YELLOW")
    events = await world.scalar(select(func.count()).select_from(FeedEventRow))
    # The same day again: nothing at all.
    assert await schedule.run(runtime, now + timedelta(minutes=5)) is None
    assert await world.scalar(select(func.count()).select_from(FeedEventRow)) == events
    # The window moves: a day later everyone is rescored, and only changes are told.
    kept = (
        select(func.count()).select_from(LightChange).where(LightChange.cadre_id.in_([red, yellow]))
    )
    assert await world.scalar(kept) == 2
    tomorrow = now + timedelta(days=1)
    again = await schedule.run(runtime, tomorrow)
    assert again is not None and again.scored == cadres
    assert await world.scalar(kept) == 2
    oldest = await world.scalar(select(func.min(CadreScore.computed_at)))
    assert oldest == tomorrow
    # A review rescoring one cadre the day after does not count as the day's pass.
    async with runtime.write() as (conn, _):
        await lights.after_review(conn, red, tomorrow + timedelta(days=1))
    assert await schedule.run(runtime, tomorrow + timedelta(days=1)) is not None


async def test_two_passes_at_once_do_the_day_once(
    fresh: tuple[GraphQLClient, Any], world: World
) -> None:
    runtime = fresh[1].state.runtime
    [cadre] = await world.cadres("d01t01", 1)
    await world.record(cadre, world.serious, 3)
    now = datetime.now(runtime.timezone).replace(hour=12, minute=0).astimezone(UTC)
    passes = await asyncio.gather(schedule.run(runtime, now), schedule.run(runtime, now))
    assert sum(p is not None for p in passes) == 1
    told = select(func.count()).select_from(LightChange).where(LightChange.cadre_id == cadre)
    assert await world.scalar(told) == 1
