"""Assessment campaigns on SQLite and PostgreSQL: who may launch one where, the window and
the scores checked on submission, anonymous democratic votes, one vote per evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from schema.ids import global_id
from server.assessments.models import AssessmentCampaign, AssessmentSubmission, RuleKind
from server.assessments.standard import STANDARD_TEMPLATES
from server.branches.models import Branch
from tenants.models import Tenant
from tests.conftest import GraphQLClient

LAUNCH = (
    "mutation($input: LaunchAssessmentCampaignInput!) { launchAssessmentCampaign(input: $input)"
    " { id name templateCode templateVersion status methods { method weight } } }"
)
SUBMIT = (
    "mutation($c: ID!, $t: ID!, $m: AssessmentMethod!, $s: JSON!) {"
    " submitAssessment(campaignId: $c, targetId: $t, method: $m, scores: $s) }"
)
CAMPAIGNS = (
    "query($u: ID) { assessmentCampaigns(under: $u) { totalCount edges { node { name } } } }"
)
STAR = next(t for t in STANDARD_TEMPLATES if t.code == "fortress_star")


def valid_scores() -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for spec in STAR.indicators:
        if spec.rule is RuleKind.SCORE_RANGE:
            scores[spec.code] = spec.max
        elif spec.rule is RuleKind.YES_NO:
            scores[spec.code] = True
        elif spec.rule is RuleKind.COUNT:
            scores[spec.code] = 2
    return scores


async def town(app: Any, code: str) -> tuple[str, int]:
    """A town's global id and the id of one branch in it."""
    async with app.state.runtime.engine.connect() as conn:
        tenant = (
            await conn.execute(select(Tenant.id, Tenant.path).where(Tenant.code == code))
        ).one()
        branch = await conn.scalar(
            select(Branch.id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(Tenant.path.startswith(tenant.path))
            .order_by(Branch.id)
            .limit(1)
        )
    return global_id("Tenant", tenant.id), branch


def launch_input(under: str, branch: int, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    target = global_id("Branch", branch)
    return {
        "templateCode": "fortress_star",
        "name": "2026 年度星级评定",
        "under": under,
        "opensAt": (now - timedelta(days=1)).isoformat(),
        "closesAt": (now + timedelta(days=30)).isoformat(),
        "methods": [
            {"method": "SELF", "weight": 0.2},
            {"method": "DEMOCRATIC", "weight": 0.3},
            {"method": "ORGANIZATIONAL", "weight": 0.3},
        ],
        "targetIds": [target],
        "evaluators": [
            {"method": "ORGANIZATIONAL", "username": "admin.d01t01", "targetId": target},
            {"method": "DEMOCRATIC", "username": "admin.d01t01"},
        ],
        **overrides,
    }


async def test_a_senior_admin_launches_in_its_town_only(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    made = (await senior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]
    assert (made["templateCode"], made["templateVersion"], made["status"]) == (
        "fortress_star",
        1,
        "OPEN",
    )
    listed = (await senior.data(CAMPAIGNS, {"u": own}))["assessmentCampaigns"]
    assert listed["totalCount"] == 1

    other, other_branch = await town(app, "d01t02")
    error = await senior.error(LAUNCH, {"input": launch_input(other, other_branch)})
    assert error["extensions"]["code"] == "FORBIDDEN"
    # A target outside the subtree is bad input, not a launch elsewhere.
    error = await senior.error(LAUNCH, {"input": launch_input(own, other_branch)})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_window_must_close_after_it_opens(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    now = datetime.now(UTC)
    body = launch_input(
        own, branch, opensAt=now.isoformat(), closesAt=(now - timedelta(days=1)).isoformat()
    )
    error = await senior.error(LAUNCH, {"input": body})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "closesAt"


async def test_submissions(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    campaign = (await senior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]["id"]
    target = global_id("Branch", branch)
    args = {"c": campaign, "t": target, "m": "ORGANIZATIONAL"}

    scores = valid_scores()
    first, *_ = scores
    missing = {k: v for k, v in scores.items() if k != first}
    error = await senior.error(SUBMIT, {**args, "s": missing})
    assert (error["extensions"]["code"], error["extensions"]["indicator"]) == (
        "BAD_USER_INPUT",
        first,
    )
    ranged = next(s for s in STAR.indicators if s.rule is RuleKind.SCORE_RANGE)
    assert ranged.max is not None
    error = await senior.error(SUBMIT, {**args, "s": {**scores, ranged.code: ranged.max + 1}})
    assert error["extensions"]["indicator"] == ranged.code

    bystander = await gql.as_user("admin.d01t01v001")
    error = await bystander.error(SUBMIT, {**args, "s": scores})
    assert error["extensions"]["code"] == "FORBIDDEN"

    assert (await senior.data(SUBMIT, {**args, "s": scores}))["submitAssessment"] is True
    error = await senior.error(SUBMIT, {**args, "s": scores})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    vote = {**args, "m": "DEMOCRATIC", "s": scores}
    assert (await senior.data(SUBMIT, vote))["submitAssessment"] is True
    assert (await senior.error(SUBMIT, vote))["extensions"]["code"] == "BAD_USER_INPUT"
    async with app.state.runtime.engine.connect() as conn:
        stored = (
            await conn.execute(select(AssessmentSubmission.method, AssessmentSubmission.evaluator))
        ).all()
    assert sorted((str(m), e) for m, e in stored) == [
        ("DEMOCRATIC", None),
        ("ORGANIZATIONAL", "admin.d01t01"),
    ]


async def test_a_closed_campaign_takes_no_submissions(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    campaign = (await senior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]["id"]
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(AssessmentCampaign).values(closes_at=datetime.now(UTC) - timedelta(hours=1))
        )
    args = {"c": campaign, "t": global_id("Branch", branch), "m": "ORGANIZATIONAL"}
    error = await senior.error(SUBMIT, {**args, "s": valid_scores()})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "the campaign is closed"
