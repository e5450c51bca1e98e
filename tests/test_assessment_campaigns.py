"""Assessment campaigns on SQLite and PostgreSQL: who may launch one where, the window and
the scores checked on submission, anonymous democratic votes, one vote per evaluator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from schema.ids import global_id, parse_global_id
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentSubmission,
    AssessmentTarget,
    RuleKind,
    TargetKind,
)
from server.assessments.standard import STANDARD_TEMPLATES
from server.audit.models import AuditEntry
from server.branches.models import Branch
from server.feed.models import FeedEventRow
from server.members.models import Member
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


# -- more launches and checks -------------------------------------------------------------------


async def targets_of(app: Any, campaign: str) -> tuple[set[TargetKind], set[int]]:
    """The kinds and ids of a campaign's targets, as stored."""
    pk = parse_global_id(campaign)[1]
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(AssessmentTarget.target_kind, AssessmentTarget.target_id).where(
                    AssessmentTarget.campaign_id == pk
                )
            )
        ).all()
    return {TargetKind(r.target_kind) for r in rows}, {r.target_id for r in rows}


async def test_a_junior_admin_launches_in_its_village_only(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    junior = await gql.as_user("admin.d01t01v001")
    own, branch = await town(app, "d01t01v001")
    made = (await junior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]
    assert made["status"] == "OPEN"
    assert (await targets_of(app, made["id"]))[1] == {branch}

    sibling, sibling_branch = await town(app, "d01t01v002")
    error = await junior.error(LAUNCH, {"input": launch_input(sibling, sibling_branch)})
    assert error["extensions"]["code"] == "FORBIDDEN"
    parent, parent_branch = await town(app, "d01t01")  # its town: above it, out of reach
    error = await junior.error(LAUNCH, {"input": launch_input(parent, parent_branch)})
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await junior.error(LAUNCH, {"input": launch_input(own, sibling_branch)})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "targetIds",
    )
    async with app.state.runtime.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(AssessmentCampaign))
    assert stored == 1


async def test_a_launch_is_audited_and_reaches_the_feed(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    made = (await senior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]
    pk = parse_global_id(made["id"])[1]
    detail = {"template": "fortress_star", "targets": 1, "evaluators": 2}
    async with app.state.runtime.engine.connect() as conn:
        entries = (
            await conn.execute(
                select(
                    AuditEntry.principal,
                    AuditEntry.tenant_path,
                    AuditEntry.subject,
                    AuditEntry.detail,
                ).where(AuditEntry.action == "assessment.launch")
            )
        ).all()
        events = (
            await conn.execute(
                select(FeedEventRow.tenant_path, FeedEventRow.title, FeedEventRow.payload).where(
                    FeedEventRow.kind == "ASSESSMENT"
                )
            )
        ).all()
    assert [(e.principal, e.tenant_path, e.subject) for e in entries] == [
        ("user:admin.d01t01", "/d01/t01/", str(pk))
    ]
    assert json.loads(entries[0].detail) == detail
    [event] = events
    assert event.tenant_path == "/d01/t01/"
    assert made["name"] in event.title
    payload = json.loads(event.payload)
    assert payload["data"] == {"campaign": pk, **detail}
    assert payload["tenant"]["code"] == "d01t01"
    # The feed shows it to the town, not to a neighbour.
    query = "{ feedEvents(kinds: [ASSESSMENT]) { edges { node { title } } } }"
    seen = (await senior.data(query))["feedEvents"]["edges"]
    assert [e["node"]["title"] for e in seen] == [event.title]
    neighbour = await gql.as_user("admin.d01t02")
    assert (await neighbour.data(query))["feedEvents"]["edges"] == []


async def test_without_target_ids_every_branch_of_the_subtree_is_a_target(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    made = (await senior.data(LAUNCH, {"input": launch_input(own, branch, targetIds=None)}))[
        "launchAssessmentCampaign"
    ]
    async with app.state.runtime.engine.connect() as conn:
        subtree = set(
            (
                await conn.scalars(
                    select(Branch.id)
                    .join(Tenant, Tenant.id == Branch.tenant_id)
                    .where(Tenant.path.startswith("/d01/t01/"))
                )
            ).all()
        )
        everywhere = await conn.scalar(select(func.count()).select_from(Branch))
    assert branch in subtree and 1 < len(subtree) < everywhere  # the town's, not the district's
    assert await targets_of(app, made["id"]) == ({TargetKind.BRANCH}, subtree)


async def test_a_vanguard_index_campaign_targets_members(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    junior = await gql.as_user("admin.d01t01v001")
    own, branch = await town(app, "d01t01v001")
    body = launch_input(
        own,
        branch,
        templateCode="vanguard_index",
        targetIds=None,
        evaluators=[{"method": "DEMOCRATIC", "username": "admin.d01t01v001"}],
    )
    made = (await junior.data(LAUNCH, {"input": body}))["launchAssessmentCampaign"]
    assert made["templateCode"] == "vanguard_index"
    async with app.state.runtime.engine.connect() as conn:
        members = set(
            (
                await conn.scalars(
                    select(Member.id)
                    .join(Branch, Branch.id == Member.branch_id)
                    .join(Tenant, Tenant.id == Branch.tenant_id)
                    .where(Tenant.path.startswith("/d01/t01/v001/"))
                )
            ).all()
        )
    assert len(members) > 1
    assert await targets_of(app, made["id"]) == ({TargetKind.MEMBER}, members)

    # Named members: those, and only members of the subtree.
    chosen = sorted(members)[:2]
    named = launch_input(
        own,
        branch,
        templateCode="vanguard_index",
        targetIds=[global_id("Member", m) for m in chosen],
        evaluators=[],
    )
    made = (await junior.data(LAUNCH, {"input": named}))["launchAssessmentCampaign"]
    assert await targets_of(app, made["id"]) == ({TargetKind.MEMBER}, set(chosen))
    async with app.state.runtime.engine.connect() as conn:
        stranger = await conn.scalar(select(func.min(Member.id)).where(Member.id.not_in(members)))
    assert stranger is not None
    outside = {**named, "targetIds": [global_id("Member", stranger)]}
    error = await junior.error(LAUNCH, {"input": outside})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "targetIds",
    )


async def test_yes_no_and_count_values_are_checked(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    own, branch = await town(app, "d01t01")
    campaign = (await senior.data(LAUNCH, {"input": launch_input(own, branch)}))[
        "launchAssessmentCampaign"
    ]["id"]
    args = {"c": campaign, "t": global_id("Branch", branch), "m": "ORGANIZATIONAL"}
    scores = valid_scores()
    yes_no = next(s.code for s in STAR.indicators if s.rule is RuleKind.YES_NO)
    count = next(s.code for s in STAR.indicators if s.rule is RuleKind.COUNT)
    for code, value in ((yes_no, 2), (yes_no, -1), (yes_no, "yes"), (count, 1.5), (count, -1)):
        error = await senior.error(SUBMIT, {**args, "s": {**scores, code: value}})
        assert (error["extensions"]["code"], error["extensions"]["indicator"]) == (
            "BAD_USER_INPUT",
            code,
        ), (code, value)
        assert code in error["message"]
    async with app.state.runtime.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(AssessmentSubmission))
    assert stored == 0
    # The refusals were about those values: 0/1 and whole counts go through.
    accepted = {**scores, yes_no: 0, count: 3.0}
    assert (await senior.data(SUBMIT, {**args, "s": accepted}))["submitAssessment"] is True
