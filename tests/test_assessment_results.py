"""A campaign from launch to published results, on SQLite and PostgreSQL: one district-wide
Fortress Star campaign over the demo district (every branch a target), submissions by three
methods while the fourth has no evaluators, the close, the ranking as each tier sees it, the
stars and warnings it leads to, a trend over two campaigns, and a member's own results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select

from schema.ids import global_id
from server.activities.models import Activity
from server.assessments.models import MemberIndex, RuleKind
from server.assessments.ratings import blend, stars_of
from server.assessments.standard import STANDARD_TEMPLATES
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.feed.models import Alert, FeedEventRow
from server.learning.models import LearningEnrolment, LearningItem
from server.members.models import Member
from tenants.models import Tenant
from tests.conftest import GraphQLClient
from tests.test_assessment_campaigns import LAUNCH, SUBMIT

CLOSE = "mutation($c: ID!) { closeAssessmentCampaign(campaignId: $c) { status closedAt } }"
RESULTS = (
    "query($c: ID!, $u: ID, $n: Int, $a: String) { assessmentResults(campaignId: $c, under: $u,"
    " first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { node {"
    " targetId score rank rankInScope submissions methodScores { method score }"
    " breakdown { code score } branch { id } member { id } } } } }"
)
TREND = (
    "query($t: ID!) { assessmentTrend(targetId: $t, templateCode: $code) {"
    " campaignName score rank } }"
).replace("templateCode: $code", 'templateCode: "fortress_star"')
STARS = (
    "query($s: [Int!]) { fortressStars(stars: $s, first: 100) { totalCount edges { node {"
    " branch { id } stars score assessmentScore activityScore } } } }"
)
INDICES = "{ vanguardIndices { totalCount edges { node { member { id } value } } } }"
INDICES_FULL = (
    "{ vanguardIndices { edges { node { member { id } value assessmentScore activityScore"
    " learningScore } } } }"
)
RECORD = (
    'mutation($b: ID!, $n: Int) { recordActivity(input: {branchId: $b, title: "主题党日",'
    ' kind: "THEME_DAY", attendance: $n}) { id } }'
)
TEMPLATE = {t.code: t for t in STANDARD_TEMPLATES}


def scores(code: str, top: bool) -> dict[str, Any]:
    """Every leaf at its top (the target scores 100) or at its bottom (0)."""
    out: dict[str, Any] = {}
    for spec in TEMPLATE[code].indicators:
        if spec.rule is RuleKind.SCORE_RANGE:
            out[spec.code] = spec.max if top else spec.min
        elif spec.rule is RuleKind.YES_NO:
            out[spec.code] = top
        elif spec.rule is RuleKind.COUNT:
            assert spec.cap is not None and spec.per_unit is not None
            out[spec.code] = int(spec.cap / spec.per_unit) + 1 if top else 0
    return out


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "opensAt": (now - timedelta(days=1)).isoformat(),
        "closesAt": (now + timedelta(days=7)).isoformat(),
    }


async def branches_of(app: Any, town_code: str, count: int) -> list[int]:
    async with app.state.runtime.engine.connect() as conn:
        path = await conn.scalar(select(Tenant.path).where(Tenant.code == town_code))
        return list(
            await conn.scalars(
                select(Branch.id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .where(Tenant.path.startswith(path))
                .order_by(Branch.id)
                .limit(count)
            )
        )


async def count(app: Any, stmt: Any) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(stmt))


def node_of(edges: list[dict[str, Any]], target: str) -> dict[str, Any]:
    return next(e["node"] for e in edges if e["node"]["targetId"] == target)


async def test_a_district_campaign_from_launch_to_stars(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    admin = gql
    senior = await gql.as_user("admin.d01t01")
    other = await gql.as_user("admin.d01t02")
    b1, b2, b3 = await branches_of(app, "d01t01", 3)
    [b4] = await branches_of(app, "d01t02", 1)
    district = await count(app, select(Tenant.id).where(Tenant.code == "d01"))
    launched = await admin.data(
        LAUNCH,
        {
            "input": {
                "templateCode": "fortress_star",
                "name": "2026 年度星级评定",
                "under": global_id("Tenant", district),
                **window(),
                "methods": [
                    {"method": "SELF", "weight": 0.1},
                    {"method": "PEER", "weight": 0.2},
                    {"method": "DEMOCRATIC", "weight": 0.3},
                    {"method": "ORGANIZATIONAL", "weight": 0.4},
                ],
                # SELF and PEER get no evaluators: their weight goes to the methods that scored.
                "evaluators": [
                    {"method": "ORGANIZATIONAL", "username": "admin"},
                    {"method": "DEMOCRATIC", "username": "admin.d01t01"},
                    {"method": "DEMOCRATIC", "username": "admin.d01t02"},
                ],
            }
        },
    )
    campaign = launched["launchAssessmentCampaign"]["id"]
    ids = {b: global_id("Branch", b) for b in (b1, b2, b3, b4)}

    async def submit(client: GraphQLClient, branch: int, method: str, top: bool) -> None:
        variables = {"c": campaign, "t": ids[branch], "m": method}
        await client.data(SUBMIT, variables | {"s": scores("fortress_star", top)})

    for branch, top in ((b1, True), (b2, False), (b3, True), (b4, True)):
        await submit(admin, branch, "ORGANIZATIONAL", top)
    for branch, top in ((b1, True), (b2, False), (b3, True)):
        await submit(senior, branch, "DEMOCRATIC", top)
    await submit(other, b4, "DEMOCRATIC", False)
    # One democratic vote per evaluator and target, although the vote names nobody.
    twice = await senior.error(
        SUBMIT, {"c": campaign, "t": ids[b1], "m": "DEMOCRATIC", "s": scores("fortress_star", True)}
    )
    assert twice["extensions"]["code"] == "BAD_USER_INPUT"

    # Only an admin whose subtree holds the whole campaign closes it.
    refused = await senior.error(CLOSE, {"c": campaign})
    assert refused["extensions"]["code"] == "FORBIDDEN"
    closed = (await admin.data(CLOSE, {"c": campaign}))["closeAssessmentCampaign"]
    assert closed["status"] == "CLOSED" and closed["closedAt"]
    late = await other.error(
        SUBMIT, {"c": campaign, "t": ids[b1], "m": "DEMOCRATIC", "s": scores("fortress_star", True)}
    )
    assert late["extensions"]["code"] == "BAD_USER_INPUT"

    # The ranking: ties share rank 1; b4's methods disagree (ORGANIZATIONAL 100 at 0.4,
    # DEMOCRATIC 0 at 0.3: 100 x 0.4 / 0.7); every other branch is listed unscored.
    all_branches = await count(app, select(func.count()).select_from(Branch))
    first = (await admin.data(RESULTS, {"c": campaign, "n": 2}))["assessmentResults"]
    assert first["totalCount"] == all_branches
    assert first["pageInfo"]["hasNextPage"]
    rest = (
        await admin.data(RESULTS, {"c": campaign, "n": 3, "a": first["pageInfo"]["endCursor"]})
    )["assessmentResults"]
    ranked = first["edges"] + rest["edges"]
    assert [e["node"]["targetId"] for e in ranked[:4]] == [ids[b1], ids[b3], ids[b4], ids[b2]]
    assert [(e["node"]["score"], e["node"]["rank"]) for e in ranked] == [
        (100.0, 1),
        (100.0, 1),
        (round(100 * 0.4 / 0.7, 2), 3),
        (0.0, 4),
        (None, None),
    ]
    top = ranked[0]["node"]
    assert {m["method"]: m["score"] for m in top["methodScores"]} == {
        "ORGANIZATIONAL": 100.0,
        "DEMOCRATIC": 100.0,
    }
    assert top["submissions"] == 2 and top["branch"]["id"] == ids[b1] and top["member"] is None
    codes = {spec.code for spec in TEMPLATE["fortress_star"].indicators}
    assert {b["code"] for b in top["breakdown"]} == codes
    mixed = node_of(ranked, ids[b4])["breakdown"]
    assert {b["score"] for b in mixed} == {round(100 * 0.4 / 0.7, 2)}

    # A town's admin sees its town's results, ranked among them, beside the district's rank.
    town = (await senior.data(RESULTS, {"c": campaign, "n": 100}))["assessmentResults"]
    town_branches = await count(
        app,
        select(func.count())
        .select_from(Branch)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(Tenant.path.startswith("/d01/t01/")),
    )
    assert town["totalCount"] == town_branches
    seen = {e["node"]["targetId"] for e in town["edges"]}
    assert ids[b4] not in seen
    low = node_of(town["edges"], ids[b2])
    assert (low["rank"], low["rankInScope"]) == (4, 3)

    # Stars: composite 0.8 x result + 0.2 x activity; a 0 result is at most 20: 1 star, RED.
    stars = (await admin.data(STARS, {"s": None}))["fortressStars"]
    assert stars["totalCount"] == 4
    by_branch = {e["node"]["branch"]["id"]: e["node"] for e in stars["edges"]}
    for branch in (b1, b2, b3, b4):
        got = by_branch[ids[branch]]
        composite = blend(got["assessmentScore"], got["activityScore"], 0.8)
        assert (got["score"], got["stars"]) == (composite, stars_of(composite))
    assert by_branch[ids[b2]]["stars"] == 1
    warned = (await admin.data(STARS, {"s": [1, 2]}))["fortressStars"]
    assert ids[b2] in {e["node"]["branch"]["id"] for e in warned["edges"]}
    red = await count(
        app,
        select(func.count()).where(Alert.kind == "warning.fortress_stars", Alert.light == "RED"),
    )
    assert red >= 1
    stages = await count(app, select(func.count()).where(FeedEventRow.kind == "ASSESSMENT"))
    assert stages == 3  # launched, closed, results published
    reads = await count(
        app, select(func.count()).where(AuditEntry.action == "assessment.read_results")
    )
    assert reads >= 3

    # A second campaign on b1 alone: the trend shows both, oldest first.
    second = await senior.data(
        LAUNCH,
        {
            "input": {
                "templateCode": "fortress_star",
                "name": "2027 年度星级评定",
                "under": global_id(
                    "Tenant", await count(app, select(Tenant.id).where(Tenant.code == "d01t01"))
                ),
                **window(),
                "methods": [{"method": "ORGANIZATIONAL", "weight": 1}],
                "targetIds": [ids[b1]],
                "evaluators": [{"method": "ORGANIZATIONAL", "username": "admin.d01t01"}],
            }
        },
    )
    again = second["launchAssessmentCampaign"]["id"]
    await senior.data(
        SUBMIT,
        {"c": again, "t": ids[b1], "m": "ORGANIZATIONAL", "s": scores("fortress_star", False)},
    )
    await senior.data(CLOSE, {"c": again})
    trend = (await senior.data(TREND, {"t": ids[b1]}))["assessmentTrend"]
    assert [(p["campaignName"], p["score"], p["rank"]) for p in trend] == [
        ("2026 年度星级评定", 100.0, 1),
        ("2027 年度星级评定", 0.0, 1),
    ]
    # Outside the viewer's scope a trend is empty, as if there were none.
    assert (await other.data(TREND, {"t": ids[b1]}))["assessmentTrend"] == []


async def test_a_member_sees_its_own_results_only(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    async with app.state.runtime.engine.connect() as conn:
        username, member_id = (
            await conn.execute(
                select(User.username, User.member_id)
                .where(User.member_id.is_not(None))
                .order_by(User.id)
                .limit(1)
            )
        ).one()
        branch_id = await conn.scalar(select(Member.branch_id).where(Member.id == member_id))
        tenant_id = await conn.scalar(select(Branch.tenant_id).where(Branch.id == branch_id))
        neighbour = await conn.scalar(
            select(Member.id)
            .where(Member.branch_id == branch_id, Member.id != member_id)
            .order_by(Member.id)
            .limit(1)
        )
    me, them = global_id("Member", member_id), global_id("Member", neighbour)
    launched = await gql.data(
        LAUNCH,
        {
            "input": {
                "templateCode": "vanguard_index",
                "name": "2026 先锋指数",
                "under": global_id("Tenant", tenant_id),
                **window(),
                "methods": [{"method": "ORGANIZATIONAL", "weight": 1}],
                "targetIds": [me, them],
                "evaluators": [{"method": "ORGANIZATIONAL", "username": "admin"}],
            }
        },
    )
    campaign = launched["launchAssessmentCampaign"]["id"]
    for target, top in ((me, False), (them, True)):
        await gql.data(
            SUBMIT,
            {"c": campaign, "t": target, "m": "ORGANIZATIONAL", "s": scores("vanguard_index", top)},
        )
    # Learning counts too: the member completed 8 credit hours yesterday.
    await complete_learning(app, member_id, hours=8.0)
    await gql.data(CLOSE, {"c": campaign})

    member = await gql.as_user(username)
    mine = (await member.data(RESULTS, {"c": campaign}))["assessmentResults"]
    assert [e["node"]["targetId"] for e in mine["edges"]] == [me]
    assert mine["totalCount"] == 1
    # Its rank in the campaign, and alone in what it may see.
    assert (mine["edges"][0]["node"]["rank"], mine["edges"][0]["node"]["rankInScope"]) == (2, 1)
    indices = (await member.data(INDICES))["vanguardIndices"]
    assert [e["node"]["member"]["id"] for e in indices["edges"]] == [me]
    assert (await member.data(TREND.replace("fortress_star", "vanguard_index"), {"t": them}))[
        "assessmentTrend"
    ] == []
    # An admin sees both, and both members now have an index.
    everyone = (await gql.data(RESULTS, {"c": campaign}))["assessmentResults"]
    assert everyone["totalCount"] == 2
    assert (await gql.data(INDICES))["vanguardIndices"]["totalCount"] == 2

    # Their branch's activities count: with its last year's activities gone, one activity
    # attended by everyone makes T = 100 x size / (size x 12).
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(Activity).where(Activity.branch_id == branch_id))
        size = await conn.scalar(select(func.count()).where(Member.branch_id == branch_id))
    await gql.data(
        RECORD,
        {"b": global_id("Branch", branch_id), "n": size},
    )
    after = {
        e["node"]["member"]["id"]: e["node"]
        for e in (await gql.data(INDICES_FULL))["vanguardIndices"]["edges"]
    }
    participation = round(100 / 12, 2)
    # L, the learning share, is the member's own, stored with its index (server/learning).
    async with app.state.runtime.engine.connect() as conn:
        learning = dict(
            (await conn.execute(select(MemberIndex.member_id, MemberIndex.learning_score))).all()
        )
    assert learning[member_id] >= round(100 * 8 / 32, 2)
    for target, pk in ((me, member_id), (them, neighbour)):
        got = after[target]
        assert got["activityScore"] == participation
        # The learning share is exposed as stored, and follows the member's hours.
        assert got["learningScore"] == learning[pk]
        assert got["learningScore"] == round(min(100.0, 100 * await hours_of(app, pk) / 32), 2)
        assert got["value"] == pytest.approx(
            0.6 * got["assessmentScore"] + 0.2 * participation + 0.2 * got["learningScore"],
            abs=0.01,
        )
    assert after[me]["learningScore"] > 0
    assert after[me]["assessmentScore"] == 0.0 and after[them]["assessmentScore"] == 100.0


async def hours_of(app: Any, member_id: int) -> float:
    """The member's credit hours completed in the last 365 days, straight from the table."""
    since = datetime.now(UTC) - timedelta(days=365)
    async with app.state.runtime.engine.connect() as conn:
        value = await conn.scalar(
            select(func.sum(LearningEnrolment.credit_hours)).where(
                LearningEnrolment.member_id == member_id,
                LearningEnrolment.completed_at > since,
            )
        )
    return float(value or 0.0)


async def complete_learning(app: Any, member_id: int, *, hours: float) -> None:
    """A learning item of `hours` credit hours the member completed yesterday."""
    now = datetime.now(UTC)
    async with app.state.runtime.engine.begin() as conn:
        item = (
            await conn.execute(
                insert(LearningItem)
                .values(
                    section="COURSE",
                    title="先锋指数学习",
                    summary="",
                    credit_hours=hours,
                    categories="[]",
                    tags="[]",
                    tenant_path="/d01/",
                    state="PUBLISHED",
                    enrolled=0,
                    created_by="admin",
                    created_at=now,
                    published_at=now,
                    updated_at=now,
                )
                .returning(LearningItem.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(LearningEnrolment).values(
                item_id=item,
                member_id=member_id,
                progress=100,
                enrolled_at=now - timedelta(days=2),
                updated_at=now - timedelta(days=1),
                completed_at=now - timedelta(days=1),
                credit_hours=hours,
            )
        )
