"""Closing assessment campaigns, on SQLite and PostgreSQL: the scheduler's passes
(schedule.close_due at the closing time, schedule.remind_due a day before), the
closeAssessmentCampaign mutation and who may call it, and the Fortress Stars a fortress_star
campaign's results feed (with their warnings), refreshed when the branch records an
activity."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from schema.ids import global_id, parse_global_id
from server.activities.models import Activity
from server.assessments import schedule
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentResult,
    BranchRating,
    CampaignStatus,
    MemberIndex,
    Method,
    RuleKind,
)
from server.assessments.results import template_of
from server.assessments.scoring import score_target
from server.assessments.standard import VANGUARD_INDEX, StandardTemplate
from server.audit.models import AuditEntry
from server.branches.models import Branch
from server.feed.models import Alert, FeedEventRow
from server.learning.models import LearningEnrolment
from server.members.models import Member
from tenants.models import Tenant
from tests.conftest import GraphQLClient
from tests.test_assessment_campaigns import LAUNCH, STAR, SUBMIT, valid_scores
from tests.test_assessment_results import complete_learning

CLOSE = "mutation($c: ID!) { closeAssessmentCampaign(campaignId: $c) { id status closedAt } }"
RECORD = "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { id } }"
Json = dict[str, Any]


# -- helpers ------------------------------------------------------------------------------------


async def place(app: Any, code: str) -> tuple[str, list[int]]:
    """A tenant's global id and the ids of the branches in its subtree, in id order."""
    async with app.state.runtime.engine.connect() as conn:
        tenant = (
            await conn.execute(select(Tenant.id, Tenant.path).where(Tenant.code == code))
        ).one()
        branches = (
            await conn.scalars(
                select(Branch.id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .where(Tenant.path.startswith(tenant.path))
                .order_by(Branch.id)
            )
        ).all()
    return global_id("Tenant", tenant.id), list(branches)


def bid(branch: int, kind: str = "Branch") -> str:
    return str(global_id(kind, branch))


async def launch(
    client: GraphQLClient,
    under: str,
    targets: list[int],
    *,
    methods: dict[str, float],
    evaluators: list[tuple[str, str, int | None]],
    closes_in: timedelta = timedelta(days=2),
    template: str = "fortress_star",
    kind: str = "Branch",
) -> int:
    """Launch a campaign open since yesterday; its primary key."""
    now = datetime.now(UTC)
    body = {
        "templateCode": template,
        "name": f"测评 {template} {len(targets)}",
        "under": under,
        "opensAt": (now - timedelta(days=1)).isoformat(),
        "closesAt": (now + closes_in).isoformat(),
        "methods": [{"method": m, "weight": w} for m, w in methods.items()],
        "targetIds": [bid(t, kind) for t in targets],
        "evaluators": [
            {"method": m, "username": u, **({} if t is None else {"targetId": bid(t, kind)})}
            for m, u, t in evaluators
        ],
    }
    made = (await client.data(LAUNCH, {"input": body}))["launchAssessmentCampaign"]
    return parse_global_id(made["id"])[1]


async def submit(
    client: GraphQLClient,
    campaign: int,
    target: int,
    method: str,
    scores: Json,
    kind: str = "Branch",
) -> None:
    variables = {
        "c": global_id("AssessmentCampaign", campaign),
        "t": bid(target, kind),
        "m": method,
        "s": scores,
    }
    assert (await client.data(SUBMIT, variables))["submitAssessment"] is True


def top_scores(template: StandardTemplate = STAR) -> Json:
    """Every leaf at the top of its rule (a COUNT at its cap): a score of 100."""
    scores: Json = {}
    for spec in template.indicators:
        if spec.rule is RuleKind.SCORE_RANGE:
            scores[spec.code] = spec.max
        elif spec.rule is RuleKind.YES_NO:
            scores[spec.code] = True
        elif spec.rule is RuleKind.COUNT:
            assert spec.cap is not None and spec.per_unit is not None
            scores[spec.code] = math.ceil(spec.cap / spec.per_unit)
    return scores


def lowest_scores(template: StandardTemplate = STAR) -> Json:
    """Every leaf at the bottom of its rule: a score of 0."""
    scores: Json = {}
    for spec in template.indicators:
        if spec.rule is RuleKind.SCORE_RANGE:
            scores[spec.code] = spec.min
        elif spec.rule is RuleKind.YES_NO:
            scores[spec.code] = False
        elif spec.rule is RuleKind.COUNT:
            scores[spec.code] = 0
    return scores


def middling_scores() -> Json:
    """About 60% of every leaf, and two of the three YES_NO leaves met."""
    scores: Json = {}
    yes = 0
    for spec in STAR.indicators:
        if spec.rule is RuleKind.SCORE_RANGE:
            assert spec.min is not None and spec.max is not None
            scores[spec.code] = spec.min + 0.6 * (spec.max - spec.min)
        elif spec.rule is RuleKind.YES_NO:
            scores[spec.code] = yes % 2 == 0
            yes += 1
        elif spec.rule is RuleKind.COUNT:
            assert spec.cap is not None and spec.per_unit is not None
            scores[spec.code] = round(0.6 * spec.cap / spec.per_unit)
    return scores


async def closes_at(app: Any, campaign: int) -> datetime:
    async with app.state.runtime.engine.connect() as conn:
        value = await conn.scalar(
            select(AssessmentCampaign.closes_at).where(AssessmentCampaign.id == campaign)
        )
    assert isinstance(value, datetime)
    return value


async def campaign_row(app: Any, campaign: int) -> Any:
    async with app.state.runtime.engine.connect() as conn:
        return (
            await conn.execute(select(AssessmentCampaign).where(AssessmentCampaign.id == campaign))
        ).one()


async def events(app: Any, kind: str) -> list[Json]:
    """Stored feed events of one kind, oldest first: id, light, title and the payload."""
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    FeedEventRow.id, FeedEventRow.light, FeedEventRow.title, FeedEventRow.payload
                )
                .where(FeedEventRow.kind == kind)
                .order_by(FeedEventRow.id)
            )
        ).all()
    return [{"id": r.id, "light": r.light, "title": r.title, **json.loads(r.payload)} for r in rows]


async def results_of(app: Any, campaign: int) -> dict[int, Any]:
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AssessmentResult).where(AssessmentResult.campaign_id == campaign)
            )
        ).all()
    return {r.target_id: r for r in rows}


def expected_stars(composite: float) -> int:
    """The README's floors, written out again."""
    for floor, stars in ((85, 5), (70, 4), (55, 3), (40, 2)):
        if composite >= floor:
            return stars
    return 1


async def activities_in_window(app: Any, branch: int, now: datetime) -> int:
    async with app.state.runtime.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).where(
                Activity.branch_id == branch, Activity.occurred_at > now - timedelta(days=365)
            )
        )
    return int(count or 0)


async def rating(app: Any, branch: int) -> Any:
    async with app.state.runtime.engine.connect() as conn:
        return (
            await conn.execute(select(BranchRating).where(BranchRating.branch_id == branch))
        ).first()


async def forget_activities(app: Any, branch: int) -> None:
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(delete(Activity).where(Activity.branch_id == branch))


async def record_activity(client: GraphQLClient, branch: int, attendance: int = 0) -> None:
    body = {
        "branchId": bid(branch),
        "title": "支部党员大会",
        "kind": "BRANCH_MEETING",
        "attendance": attendance,
    }
    await client.data(RECORD, {"input": body})


# -- closing on time ----------------------------------------------------------------------------


async def test_close_due_closes_what_is_due_once(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    t1, t2, t3 = branches[:3]
    later = await launch(
        senior, under, [t1], methods={"SELF": 1}, evaluators=[], closes_in=timedelta(days=30)
    )
    due = await launch(
        senior,
        under,
        [t1, t2, t3],
        methods={"SELF": 1, "ORGANIZATIONAL": 3},
        evaluators=[("ORGANIZATIONAL", "admin.d01t01", None), ("SELF", "admin.d01t01", t1)],
    )
    await submit(senior, due, t1, "ORGANIZATIONAL", top_scores())  # 100
    await submit(senior, due, t1, "SELF", lowest_scores())  # 0
    await submit(senior, due, t2, "ORGANIZATIONAL", lowest_scores())  # 0
    closing = await closes_at(app, due)

    assert await schedule.close_due(runtime, closing - timedelta(minutes=1)) == []
    assert (await campaign_row(app, due)).status == CampaignStatus.OPEN

    now = closing + timedelta(minutes=1)
    assert await schedule.close_due(runtime, now) == [due]
    closed = await campaign_row(app, due)
    assert closed.status == CampaignStatus.CLOSED
    assert closed.closed_at == now
    still = await campaign_row(app, later)
    assert (still.status, still.closed_at) == (CampaignStatus.OPEN, None)
    assert await results_of(app, later) == {}

    stored = await results_of(app, due)
    assert {t: (r.score, r.rank, r.submissions) for t, r in stored.items()} == {
        t1: ((1 * 0.0 + 3 * 100.0) / 4, 1, 2),  # SELF 0 and ORGANIZATIONAL 100, weighted 1:3
        t2: (0.0, 2, 1),  # ORGANIZATIONAL alone: SELF had no submission for it
        t3: (None, None, 0),  # nobody submitted: no score, not 0
    }
    assert json.loads(stored[t1].methods) == {"ORGANIZATIONAL": 100.0, "SELF": 0.0}
    assert json.loads(stored[t2].methods) == {"ORGANIZATIONAL": 0.0}
    assert json.loads(stored[t3].methods) == {}
    assert {i.code for i in STAR.indicators} == set(json.loads(stored[t1].breakdown))
    async with runtime.engine.connect() as conn:
        located = await conn.execute(
            select(Branch.id, Tenant.path)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(Branch.id.in_([t1, t2, t3]))
        )
        where = {r.id: r.path for r in located.all()}
    # Results are scoped by where each target is, not by the campaign's subtree.
    assert {t: r.tenant_path for t, r in stored.items()} == where

    stages = [
        (e["data"].get("stage"), e["data"])
        for e in await events(app, "ASSESSMENT")
        if e["data"].get("campaign") == due
    ]
    assert [s for s, _ in stages] == [None, "closed", "results"]  # launched, closed, results
    assert stages[1][1] == {"campaign": due, "scored": 2, "unscored": 1, "stage": "closed"}
    assert stages[2][1]["top"] == [
        {"target": t1, "score": 75.0, "rank": 1},
        {"target": t2, "score": 0.0, "rank": 2},
    ]
    async with runtime.engine.connect() as conn:
        audited = (
            await conn.execute(
                select(AuditEntry.principal, AuditEntry.subject).where(
                    AuditEntry.action == "assessment.close"
                )
            )
        ).all()
    assert [tuple(a) for a in audited] == [("system", str(due))]

    # A second pass finds nothing to do: no results, events or audit entries twice.
    counted = len(await events(app, "ASSESSMENT")), len(await events(app, "WARNING"))
    assert await schedule.close_due(runtime, now + timedelta(hours=1)) == []
    assert (len(await events(app, "ASSESSMENT")), len(await events(app, "WARNING"))) == counted
    assert len(await results_of(app, due)) == 3
    assert (await campaign_row(app, due)).closed_at == now

    # An admin closing it afterwards is told it is closed; so is an evaluator submitting.
    error = await senior.error(CLOSE, {"c": global_id("AssessmentCampaign", due)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "campaignId"
    variables = {
        "c": global_id("AssessmentCampaign", due),
        "t": bid(t3),
        "m": "ORGANIZATIONAL",
        "s": valid_scores(),
    }
    error = await senior.error(SUBMIT, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "the campaign is closed"
    assert len(await results_of(app, due)) == 3


async def test_a_campaign_closed_by_an_admin_is_not_closed_again(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    campaign = await launch(senior, under, branches[:1], methods={"SELF": 1}, evaluators=[])
    closed = (await senior.data(CLOSE, {"c": global_id("AssessmentCampaign", campaign)}))[
        "closeAssessmentCampaign"
    ]
    assert closed["status"] == "CLOSED" and closed["closedAt"] is not None
    later = await closes_at(app, campaign) + timedelta(days=1)
    assert await schedule.close_due(app.state.runtime, later) == []
    stages = [e["data"].get("stage") for e in await events(app, "ASSESSMENT")]
    assert stages == [None, "closed", "results"]


# -- reminders ----------------------------------------------------------------------------------


async def test_remind_due_reminds_each_evaluator_who_owes_once(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    t1, t2, t3 = branches[:3]
    campaign = await launch(
        senior,
        under,
        [t1, t2, t3],
        methods={"SELF": 1, "DEMOCRATIC": 1, "ORGANIZATIONAL": 1},
        evaluators=[
            ("DEMOCRATIC", "admin.d01t01", None),  # every target; submits 1 of 3
            ("ORGANIZATIONAL", "admin.d01t01v001", t1),  # two targets; submits 1 of 2
            ("ORGANIZATIONAL", "admin.d01t01v001", t2),
            ("SELF", "admin.d01t01v002", None),  # every target; submits all 3
            ("ORGANIZATIONAL", "admin.d01t01v003", None),  # every target; submits none
        ],
    )
    await submit(senior, campaign, t1, "DEMOCRATIC", valid_scores())
    v001 = await gql.as_user("admin.d01t01v001")
    await submit(v001, campaign, t1, "ORGANIZATIONAL", valid_scores())
    v002 = await gql.as_user("admin.d01t01v002")
    for target in (t1, t2, t3):
        await submit(v002, campaign, target, "SELF", valid_scores())
    closing = await closes_at(app, campaign)

    # Three days ahead is too early.
    assert await schedule.remind_due(runtime, closing - timedelta(days=3)) == {}
    assert await events(app, "WARNING") == []
    assert (await campaign_row(app, campaign)).reminded_at is None

    now = closing - timedelta(hours=12)
    assert await schedule.remind_due(runtime, now) == {campaign: 3}
    warnings = await events(app, "WARNING")
    assert sorted((e["data"]["evaluator"], e["data"]["pending"]) for e in warnings) == [
        ("admin.d01t01", 3 - 1),
        ("admin.d01t01v001", 2 - 1),
        ("admin.d01t01v003", 3),
    ]
    for event in warnings:
        assert event["light"] == "YELLOW"
        assert event["data"]["cause"] == "assessment_due"
        assert event["data"]["campaign"] == campaign
        assert event["tenant"]["code"] == "d01t01"
    assert (await campaign_row(app, campaign)).reminded_at == now

    # Once per campaign, however many passes follow.
    assert await schedule.remind_due(runtime, now + timedelta(hours=1)) == {}
    assert len(await events(app, "WARNING")) == 3
    # And the campaign still closes on time afterwards.
    assert await schedule.close_due(runtime, closing) == [campaign]


# -- Fortress Stars -----------------------------------------------------------------------------


async def test_fortress_star_results_rate_branches_and_warn_low_ones(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    low, mid, high = branches[:3]
    # Without activities the middling branch's stars depend on its assessment alone.
    await forget_activities(app, mid)
    campaign = await launch(
        senior,
        under,
        [low, mid, high],
        methods={"ORGANIZATIONAL": 1},
        evaluators=[("ORGANIZATIONAL", "admin.d01t01", None)],
    )
    given = {low: lowest_scores(), mid: middling_scores(), high: top_scores()}
    for target, scores in given.items():
        await submit(senior, campaign, target, "ORGANIZATIONAL", scores)
    now = await closes_at(app, campaign) + timedelta(minutes=1)
    assert await schedule.close_due(runtime, now) == [campaign]

    stored = await results_of(app, campaign)
    async with runtime.engine.connect() as conn:
        template = await template_of(conn, (await campaign_row(app, campaign)).template_id)
    expected: dict[int, tuple[int, float, float, float]] = {}
    for branch, scores in given.items():
        numbers = {k: float(v) for k, v in scores.items()}
        outcome = score_target(
            template, {Method.ORGANIZATIONAL: 1.0}, branch, [(Method.ORGANIZATIONAL, numbers)]
        )
        assessment = stored[branch].score
        assert assessment == outcome.score
        activity = round(min(100.0, 100.0 * await activities_in_window(app, branch, now) / 12), 2)
        composite = round(0.8 * assessment + 0.2 * activity, 2)
        expected[branch] = (expected_stars(composite), composite, assessment, activity)
    assert stored[low].score == 0.0 and stored[high].score == 100.0
    assert expected[mid][3] == 0.0
    # What the scores were chosen for: one branch at 1 star, one at 2, one without a light.
    assert (expected[low][0], expected[mid][0]) == (1, 2)
    assert expected[high][0] >= 4

    for branch, (stars, composite, assessment, activity) in expected.items():
        row = await rating(app, branch)
        assert row is not None
        assert (row.stars, row.assessment_score, row.activity_score) == (
            stars,
            assessment,
            activity,
        )
        assert row.score == pytest.approx(composite, abs=0.01)  # 0.8 A + 0.2 T, rounded
        assert (row.campaign_id, row.updated_at) == (campaign, now)

    warnings = [e for e in await events(app, "WARNING") if e["data"]["cause"] == "fortress_stars"]
    assert sorted((e["data"]["branch"], e["data"]["stars"], e["light"]) for e in warnings) == [
        (low, 1, "RED"),
        (mid, 2, "YELLOW"),
    ]
    assert all(e["branch"]["id"] == e["data"]["branch"] for e in warnings)
    async with runtime.engine.connect() as conn:
        alerts = (
            await conn.execute(
                select(Alert.kind, Alert.light, Alert.status, Alert.detail, Alert.event_id)
            )
        ).all()
        located = await conn.execute(
            select(Branch.id, Tenant.path)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(Branch.id.in_([low, mid]))
        )
        paths = {r.id: r.path for r in located.all()}
    assert sorted((a.kind, a.light, a.status, json.loads(a.detail)["branch"]) for a in alerts) == [
        ("warning.fortress_stars", "RED", "OPEN", low),
        ("warning.fortress_stars", "YELLOW", "OPEN", mid),
    ]
    assert {a.event_id for a in alerts} == {e["id"] for e in warnings}
    assert {e["tenant"]["path"] for e in warnings} == {paths[low], paths[mid]}

    # An activity counts at once: T = min(100, 100 x activities in 365 days / 12).
    assessment = expected[mid][2]
    steps = []
    for _ in range(3):
        before = datetime.now(UTC)
        await record_activity(gql, mid)
        after = datetime.now(UTC)
        row = await rating(app, mid)
        count = await activities_in_window(app, mid, after)
        activity = round(min(100.0, 100.0 * count / 12), 2)
        composite = 0.8 * assessment + 0.2 * activity
        assert (row.activity_score, row.stars) == (activity, expected_stars(composite))
        assert row.score == pytest.approx(composite, abs=0.01)
        assert row.assessment_score == assessment and row.campaign_id == campaign
        assert before <= row.updated_at <= after
        steps.append(row.stars)
    assert (await rating(app, mid)).activity_score == round(100 * 3 / 12, 2)
    # 2 stars, still 2, then 3: the light went out, and no warning says so.
    assert steps == [2, 2, 3]
    assert len(await events(app, "WARNING")) == len(warnings)

    # Back to 2 stars after an activity: the light changed, a new warning and alert.
    await forget_activities(app, mid)
    await record_activity(gql, mid)
    row = await rating(app, mid)
    assert (row.activity_score, row.stars) == (round(100 / 12, 2), 2)
    fresh_warnings = (await events(app, "WARNING"))[len(warnings) :]
    assert [(e["data"]["branch"], e["data"]["stars"], e["light"]) for e in fresh_warnings] == [
        (mid, 2, "YELLOW")
    ]
    async with runtime.engine.connect() as conn:
        open_alerts = await conn.scalar(
            select(func.count()).where(Alert.status == "OPEN", Alert.light == "YELLOW")
        )
    assert open_alerts == 2

    # A branch without a rating gets none from an activity: activity alone never rates.
    unrated = branches[3]
    await record_activity(gql, unrated)
    assert await rating(app, unrated) is None


async def test_a_good_fortress_star_result_warns_nobody(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    campaign = await launch(
        senior,
        under,
        branches[:2],
        methods={"ORGANIZATIONAL": 1},
        evaluators=[("ORGANIZATIONAL", "admin.d01t01", None)],
    )
    for branch in branches[:2]:
        await submit(senior, campaign, branch, "ORGANIZATIONAL", top_scores())
    closed = (await senior.data(CLOSE, {"c": global_id("AssessmentCampaign", campaign)}))[
        "closeAssessmentCampaign"
    ]
    assert closed["status"] == "CLOSED"
    now = datetime.now(UTC)
    for branch in branches[:2]:
        row = await rating(app, branch)
        assert row is not None and row.assessment_score == 100.0
        activity = round(min(100.0, 100.0 * await activities_in_window(app, branch, now) / 12), 2)
        assert row.activity_score == activity
        assert row.stars == expected_stars(80.0 + 0.2 * activity) >= 4
    assert await events(app, "WARNING") == []
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Alert)) == 0


async def test_vanguard_index_results_index_members(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    junior = await gql.as_user("admin.d01t01v001")
    under, branches = await place(app, "d01t01v001")
    async with runtime.engine.connect() as conn:
        members = (
            await conn.execute(
                select(Member.id, Member.branch_id)
                .where(Member.branch_id.in_(branches))
                .order_by(Member.id)
            )
        ).all()
    top, bottom, silent = (m.id for m in members[:3])
    branch_of = {m.id: m.branch_id for m in members}
    campaign = await launch(
        junior,
        under,
        [top, bottom, silent],
        methods={"DEMOCRATIC": 1},
        evaluators=[("DEMOCRATIC", "admin.d01t01v001", None)],
        template="vanguard_index",
        kind="Member",
    )
    await submit(junior, campaign, top, "DEMOCRATIC", top_scores(VANGUARD_INDEX), "Member")
    await submit(junior, campaign, bottom, "DEMOCRATIC", lowest_scores(VANGUARD_INDEX), "Member")
    # Learning counts too: `top` completed 12 credit hours yesterday.
    await complete_learning(app, top, hours=12.0)
    now = await closes_at(app, campaign) + timedelta(minutes=1)
    assert await schedule.close_due(runtime, now) == [campaign]
    stored = await results_of(app, campaign)
    assert {m: stored[m].score for m in (top, bottom, silent)} == {
        top: 100.0,
        bottom: 0.0,
        silent: None,
    }

    async with runtime.engine.connect() as conn:
        indices = {r.member_id: r for r in (await conn.execute(select(MemberIndex))).all()}
        participation = {}
        for member in (top, bottom):
            branch = branch_of[member]
            attended = await conn.scalar(
                select(func.coalesce(func.sum(Activity.attendance), 0)).where(
                    Activity.branch_id == branch,
                    Activity.occurred_at > now - timedelta(days=365),
                )
            )
            size = await conn.scalar(
                select(func.count()).select_from(Member).where(Member.branch_id == branch)
            )
            participation[member] = round(min(100.0, 100.0 * attended / (size * 12)), 2)
        # L: the credit hours completed in the 365 days before the close, against 32 a year.
        learning = {}
        for member in (top, bottom):
            hours = await conn.scalar(
                select(func.coalesce(func.sum(LearningEnrolment.credit_hours), 0.0)).where(
                    LearningEnrolment.member_id == member,
                    LearningEnrolment.completed_at > now - timedelta(days=365),
                )
            )
            learning[member] = round(min(100.0, 100.0 * float(hours) / 32), 2)
    assert learning[top] >= round(100 * 12 / 32, 2)
    # A member nobody assessed gets no index: no result is not a result of 0.
    assert set(indices) == {top, bottom}
    assert any(participation.values())  # the seeded activities count
    for member, assessment in ((top, 100.0), (bottom, 0.0)):
        row = indices[member]
        assert (row.assessment_score, row.activity_score) == (assessment, participation[member])
        assert row.learning_score == learning[member]
        assert row.value == pytest.approx(
            0.6 * assessment + 0.2 * participation[member] + 0.2 * learning[member], abs=0.01
        )
        assert (row.campaign_id, row.updated_at) == (campaign, now)
    # An activity at the member's branch refreshes its participation at once.
    branch = branch_of[top]
    before = datetime.now(UTC)
    await record_activity(gql, branch, attendance=7)
    after = datetime.now(UTC)
    async with runtime.engine.connect() as conn:
        attended = await conn.scalar(
            select(func.coalesce(func.sum(Activity.attendance), 0)).where(
                Activity.branch_id == branch, Activity.occurred_at > after - timedelta(days=365)
            )
        )
        size = await conn.scalar(
            select(func.count()).select_from(Member).where(Member.branch_id == branch)
        )
        refreshed = {r.member_id: r for r in (await conn.execute(select(MemberIndex))).all()}
    taking_part = round(min(100.0, 100.0 * attended / (size * 12)), 2)
    row = refreshed[top]
    assert row.activity_score == taking_part
    # Its learning share stays as it was: it changes when the member completes an item.
    assert row.learning_score == learning[top]
    assert row.value == pytest.approx(
        0.6 * 100.0 + 0.2 * taking_part + 0.2 * learning[top], abs=0.01
    )
    assert before <= row.updated_at <= after
    if branch_of[bottom] == branch:  # its branch's members, every one
        assert refreshed[bottom].activity_score == taking_part
        assert refreshed[bottom].value == pytest.approx(
            0.2 * taking_part + 0.2 * learning[bottom], abs=0.01
        )
    else:  # another branch's members are left alone
        assert refreshed[bottom] == indices[bottom]

    # A Vanguard Index campaign rates no branch and warns nobody.
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(BranchRating)) == 0
    assert await events(app, "WARNING") == []


# -- who may close ------------------------------------------------------------------------------


async def test_who_may_close_a_campaign(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    campaign = await launch(senior, under, branches[:2], methods={"SELF": 1}, evaluators=[])
    cid = global_id("AssessmentCampaign", campaign)

    junior = await gql.as_user("admin.d01t01v001")  # a village of that town: not the town
    error = await junior.error(CLOSE, {"c": cid})
    assert error["extensions"]["code"] == "FORBIDDEN"
    neighbour = await gql.as_user("admin.d01t02")  # another town
    assert (await neighbour.error(CLOSE, {"c": cid}))["extensions"]["code"] == "FORBIDDEN"
    assert (await campaign_row(app, campaign)).status == CampaignStatus.OPEN
    assert await results_of(app, campaign) == {}

    # An unknown campaign is refused the same way: its absence does not show.
    unknown = await senior.error(CLOSE, {"c": global_id("AssessmentCampaign", campaign + 1000)})
    assert unknown["extensions"]["code"] == "FORBIDDEN"

    closed = (await senior.data(CLOSE, {"c": cid}))["closeAssessmentCampaign"]
    assert (closed["id"], closed["status"]) == (cid, "CLOSED")
    assert closed["closedAt"] is not None
    assert set(await results_of(app, campaign)) == set(branches[:2])


async def test_an_evaluator_assigned_twice_owes_each_target_once(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    # An all-targets assignment and a one-target assignment for the same method overlap: one
    # submission per target and method is all the evaluator owes.
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    t1, t2, t3 = branches[:3]
    campaign = await launch(
        senior,
        under,
        [t1, t2, t3],
        methods={"ORGANIZATIONAL": 1},
        evaluators=[
            ("ORGANIZATIONAL", "admin.d01t01", None),
            ("ORGANIZATIONAL", "admin.d01t01", t1),
        ],
    )
    async with app.state.runtime.engine.connect() as conn:
        assert await schedule.pending_by_evaluator(conn, campaign) == {"admin.d01t01": 3}
    await submit(senior, campaign, t2, "ORGANIZATIONAL", valid_scores())
    await submit(senior, campaign, t1, "ORGANIZATIONAL", valid_scores())
    async with app.state.runtime.engine.connect() as conn:
        assert await schedule.pending_by_evaluator(conn, campaign) == {"admin.d01t01": 1}


async def test_targets_and_submissions_must_be_of_the_templates_kind(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    under, branches = await place(app, "d01t01")
    async with app.state.runtime.engine.connect() as conn:
        member = await conn.scalar(
            select(Member.id).where(Member.branch_id == branches[0]).order_by(Member.id).limit(1)
        )
    assert member is not None
    now = datetime.now(UTC)
    body = {
        "templateCode": "fortress_star",
        "name": "成员 id 不是支部",
        "under": under,
        "opensAt": (now - timedelta(days=1)).isoformat(),
        "closesAt": (now + timedelta(days=2)).isoformat(),
        "methods": [{"method": "ORGANIZATIONAL", "weight": 1}],
        "targetIds": [bid(member, "Member")],
    }
    error = await senior.error(LAUNCH, {"input": body})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "targetIds",
    )
    # A branch campaign refuses a member id on submission too, even when the numbers match.
    campaign = await launch(
        senior,
        under,
        [branches[0]],
        methods={"ORGANIZATIONAL": 1},
        evaluators=[("ORGANIZATIONAL", "admin.d01t01", None)],
    )
    variables = {
        "c": global_id("AssessmentCampaign", campaign),
        "t": bid(branches[0], "Member"),
        "m": "ORGANIZATIONAL",
        "s": valid_scores(),
    }
    error = await senior.error(SUBMIT, variables)
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "targetId",
    )
