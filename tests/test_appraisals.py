"""The civil servants' appraisal closed loop on SQLite and PostgreSQL: an admin sets the tasks,
the person enters records and submits, the supervisor returns or approves (launching the
evaluation campaign), the evaluators score, the campaign closes with the person's score, the
supervisor gives feedback. Every illegal move is refused, the wrong actors are refused without
learning anything, and the person sees its score only together with the feedback."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from schema.ids import global_id
from server.appraisals import states
from server.appraisals.models import Appraisal, AppraisalState
from server.audit.models import AuditEntry
from server.auth.models import User
from server.errors import BadUserInput
from tenants.demo import DemoData, demo_bindings
from tenants.models import Tenant
from tests.conftest import TEMPLATE_SEED, GraphQLClient

FIELDS = (
    "id person supervisor period tenantPath state campaignId score feedback"
    " tasks { id title records { id text } } history { from to actor note }"
)
CREATE = (
    "mutation($input: CreateAppraisalInput!) { createAppraisal(input: $input) { " + FIELDS + " } }"
)
RECORD = (
    "mutation($a: ID!, $t: ID!, $x: String!) {"
    " addAppraisalRecord(appraisalId: $a, taskId: $t, text: $x) { id text } }"
)
SUBMIT = "mutation($a: ID!) { submitAppraisal(appraisalId: $a) { " + FIELDS + " } }"
REVIEW = (
    "mutation($a: ID!, $ok: Boolean!, $n: String, $e: AppraisalEvaluationInput) {"
    " reviewAppraisal(appraisalId: $a, approve: $ok, note: $n, evaluation: $e) { " + FIELDS + " } }"
)
FEEDBACK = (
    "mutation($a: ID!, $f: String!) { giveAppraisalFeedback(appraisalId: $a, feedback: $f) { "
    + FIELDS
    + " } }"
)
MINE = "{ myAppraisals { " + FIELDS + " } }"
LIST = (
    "query($u: ID, $s: AppraisalState) { appraisals(under: $u, state: $s) { totalCount"
    " edges { node { " + FIELDS + " } } } }"
)
SUBMIT_SCORES = (
    "mutation($c: ID!, $t: ID!, $m: AssessmentMethod!, $s: JSON!) {"
    " submitAssessment(campaignId: $c, targetId: $t, method: $m, scores: $s) }"
)
CLOSE = "mutation($c: ID!) { closeAssessmentCampaign(campaignId: $c) { status } }"

S = AppraisalState


@dataclass(frozen=True)
class Cast:
    """Demo member accounts: the person and its supervisor in one village, and others."""

    person: str
    supervisor: str
    peer: str
    voters: tuple[str, str]
    bystander: str  # a member of the person's town: reads assessments there
    village: str  # the person's village's code


@pytest.fixture(scope="module")
def cast(demo: DemoData) -> Cast:
    members = [
        (user, path)
        for user, role, path in demo_bindings(demo, seed=TEMPLATE_SEED)
        if role == "MEMBER"
    ]
    by_path: dict[str, list[str]] = {}
    for user, path in members:
        by_path.setdefault(path, []).append(user)
    path, (person, supervisor, *_) = next(
        (p, users) for p, users in by_path.items() if p.count("/") == 4 and len(users) >= 2
    )
    town = path.rsplit("/", 2)[0] + "/"
    others = [u for u, p in members if u not in (person, supervisor)]
    bystander = next(u for u, p in members if p == town)
    rest = [u for u in others if u != bystander]
    code = next(t["code"] for t in demo.tenants if t["path"] == path)
    return Cast(person, supervisor, rest[0], (rest[1], rest[2]), bystander, code)


async def tenant_id(app: Any, code: str) -> str:
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(select(Tenant.id).where(Tenant.code == code))
    return global_id("Tenant", pk)


async def user_id(app: Any, username: str) -> int:
    async with app.state.runtime.engine.connect() as conn:
        pk: int = await conn.scalar(select(User.id).where(User.username == username))
    return pk


def create_input(cast: Cast, tenant: str, /, **overrides: Any) -> dict[str, Any]:
    return {
        "person": cast.person,
        "supervisor": cast.supervisor,
        "period": "2026",
        "under": tenant,
        "tasks": ["乡村振兴项目推进", "信访接待"],
    } | overrides


def evaluation(**overrides: Any) -> dict[str, Any]:
    closes = datetime.now(UTC) + timedelta(days=7)
    return {"closesAt": closes.isoformat(), "peers": [], "democratic": [], **overrides}


async def created(gql: GraphQLClient, app: Any, cast: Cast, **overrides: Any) -> dict[str, Any]:
    under = await tenant_id(app, cast.village)
    made: dict[str, Any] = (
        await gql.data(CREATE, {"input": create_input(cast, under, **overrides)})
    )["createAppraisal"]
    return made


async def with_records(gql: GraphQLClient, made: dict[str, Any], person: str) -> GraphQLClient:
    """The person's client, after a record against every task."""
    me = await gql.as_user(person)
    for task in made["tasks"]:
        await me.data(RECORD, {"a": made["id"], "t": task["id"], "x": f"完成：{task['title']}"})
    return me


def steps(node: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(s["from"], s["to"]) for s in node["history"]]


# -- the scores the evaluators give, and the score they make, by hand ------------------------
#
# civil_servant_annual: morality 20 (political_quality 10, professional_ethics 10: 0-10),
# ability 20 (professional_skill 10, problem_solving 10: 0-10), diligence 15 (attendance: 0-10),
# performance 35 (tasks_done 25: 0-100; commendations 10: 5 a unit, capped at 10),
# integrity 10 (no_violation: yes/no). A leaf is a fraction of its top; a group the weighted
# mean of its leaves; the template the weighted mean of its groups.


def scores(fraction: float, commendations: int, no_violation: bool) -> dict[str, Any]:
    ten = 10 * fraction
    return {
        "political_quality": ten,
        "professional_ethics": ten,
        "professional_skill": ten,
        "problem_solving": ten,
        "attendance": ten,
        "tasks_done": 100 * fraction,
        "commendations": commendations,
        "no_violation": no_violation,
    }


SELF = scores(1.0, 2, True)  # every leaf at its top: 1.0
ORGANIZATIONAL = scores(0.5, 1, True)  # (20x.5 + 20x.5 + 15x.5 + (25x.5 + 10x.5) + 10x1)/100 = .55
PEER = scores(0.8, 0, False)  # (20x.8 + 20x.8 + 15x.8 + (25x.8 + 0) + 0)/100 = .64
VOTES = (scores(1.0, 2, True), scores(0.6, 1, True))  # 1.0 and (12+12+9+(15+5)+10)/100 = .63
# Methods weighted by default SELF .1, PEER .2, DEMOCRATIC .3, ORGANIZATIONAL .4; a method's
# value is the mean of its submissions (DEMOCRATIC: (1.0 + .63) / 2 = .815).
EXPECTED = round(100 * (0.1 * 1.0 + 0.2 * 0.64 + 0.3 * (1.0 + 0.63) / 2 + 0.4 * 0.55), 2)


def test_the_expected_score_is_what_was_worked_out() -> None:
    assert EXPECTED == 69.25


# -- the loop --------------------------------------------------------------------------------


async def test_the_whole_loop(fresh: tuple[GraphQLClient, Any], cast: Cast) -> None:
    admin, app = fresh
    made = await created(admin, app, cast)
    assert (made["person"], made["supervisor"], made["period"], made["state"]) == (
        cast.person,
        cast.supervisor,
        "2026",
        "PLANNED",
    )
    assert [t["title"] for t in made["tasks"]] == ["乡村振兴项目推进", "信访接待"]
    assert steps(made) == [(None, "PLANNED")]
    appraisal, (first, second) = made["id"], made["tasks"]

    person = await admin.as_user(cast.person)
    supervisor = await admin.as_user(cast.supervisor)
    record = await person.data(RECORD, {"a": appraisal, "t": first["id"], "x": "  三个村完成  "})
    assert record["addAppraisalRecord"]["text"] == "三个村完成"
    # Every task needs a record: the error names the first without one.
    error = await person.error(SUBMIT, {"a": appraisal})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "appraisalId"}
    assert second["title"] in error["message"]
    await person.data(RECORD, {"a": appraisal, "t": second["id"], "x": "接待 120 人次"})
    submitted = (await person.data(SUBMIT, {"a": appraisal}))["submitAppraisal"]
    assert submitted["state"] == "UNDER_REVIEW"

    # Returned with a note (a note is required), back to PLANNED; the person resubmits.
    error = await supervisor.error(REVIEW, {"a": appraisal, "ok": False})
    assert error["extensions"]["argument"] == "note"
    returned = (
        await supervisor.data(REVIEW, {"a": appraisal, "ok": False, "n": "请补充信访数据来源"})
    )["reviewAppraisal"]
    assert returned["state"] == "PLANNED"
    assert returned["history"][-1]["note"] == "请补充信访数据来源"
    await person.data(RECORD, {"a": appraisal, "t": second["id"], "x": "数据来自信访台账"})
    assert (await person.data(SUBMIT, {"a": appraisal}))["submitAppraisal"]["state"] == (
        "UNDER_REVIEW"
    )

    # Approved: the evaluation campaign is launched over the person.
    approve = {
        "a": appraisal,
        "ok": True,
        "e": evaluation(peers=[cast.peer], democratic=list(cast.voters)),
    }
    approved = (await supervisor.data(REVIEW, approve))["reviewAppraisal"]
    assert approved["state"] == "EVALUATING"
    campaign = approved["campaignId"]
    assert campaign is not None
    listed = (
        await admin.data(
            "{ assessmentCampaigns { edges { node { id name templateCode tenantPath } } } }"
        )
    )["assessmentCampaigns"]["edges"]
    assert {
        "id": campaign,
        "name": f"2026 年度考核 · {cast.person}",
        "templateCode": "civil_servant_annual",
        "tenantPath": approved["tenantPath"],
    } in [e["node"] for e in listed]

    target = global_id("Person", await user_id(app, cast.person))
    given = [
        (person, "SELF", SELF),
        (supervisor, "ORGANIZATIONAL", ORGANIZATIONAL),
        (await admin.as_user(cast.peer), "PEER", PEER),
        (await admin.as_user(cast.voters[0]), "DEMOCRATIC", VOTES[0]),
        (await admin.as_user(cast.voters[1]), "DEMOCRATIC", VOTES[1]),
    ]
    for evaluator, method, values in given:
        args = {"c": campaign, "t": target, "m": method, "s": values}
        assert (await evaluator.data(SUBMIT_SCORES, args))["submitAssessment"] is True
    # Nobody else evaluates the person.
    error = await (await admin.as_user(cast.bystander)).error(
        SUBMIT_SCORES, {"c": campaign, "t": target, "m": "PEER", "s": PEER}
    )
    assert error["extensions"]["code"] == "FORBIDDEN"

    closed = (await admin.data(CLOSE, {"c": campaign}))["closeAssessmentCampaign"]
    assert closed["status"] == "CLOSED"

    # Evaluated: the supervisor and admins see the score, the person not yet.
    (seen,) = (await supervisor.data(MINE))["myAppraisals"]
    assert seen["state"] == "EVALUATED"
    assert seen["score"] == pytest.approx(EXPECTED, abs=0.01)
    assert seen["history"][-1]["actor"] == "system"
    (edge,) = (await admin.data(LIST, {"s": "EVALUATED"}))["appraisals"]["edges"]
    assert edge["node"]["score"] == pytest.approx(EXPECTED, abs=0.01)
    (own,) = (await person.data(MINE))["myAppraisals"]
    assert (own["state"], own["score"], own["feedback"]) == ("EVALUATED", None, None)

    done = (await supervisor.data(FEEDBACK, {"a": appraisal, "f": "成绩良好，信访工作需加强"}))[
        "giveAppraisalFeedback"
    ]
    assert done["state"] == "COMPLETED"
    (own,) = (await person.data(MINE))["myAppraisals"]
    assert own["state"] == "COMPLETED"
    assert own["score"] == pytest.approx(EXPECTED, abs=0.01)
    assert own["feedback"] == "成绩良好，信访工作需加强"
    assert steps(own) == [
        (None, "PLANNED"),
        ("PLANNED", "UNDER_REVIEW"),
        ("UNDER_REVIEW", "PLANNED"),
        ("PLANNED", "UNDER_REVIEW"),
        ("UNDER_REVIEW", "EVALUATING"),
        ("EVALUATING", "EVALUATED"),
        ("EVALUATED", "COMPLETED"),
    ]
    assert [len(t["records"]) for t in own["tasks"]] == [1, 2]

    # Every move left its audit entry, on the appraisal, where it lives.
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(select(Appraisal.id))
        audited = (
            await conn.execute(
                select(AuditEntry.action, AuditEntry.principal, AuditEntry.tenant_path)
                .where(AuditEntry.action.startswith("appraisal."), AuditEntry.subject == str(pk))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [a.action for a in audited] == [
        "appraisal.create",
        "appraisal.record",
        "appraisal.record",
        "appraisal.submit",
        "appraisal.return",
        "appraisal.record",
        "appraisal.submit",
        "appraisal.approve",
        "appraisal.evaluated",
        "appraisal.feedback",
    ]
    assert {a.tenant_path for a in audited} == {approved["tenantPath"]}
    assert audited[0].principal == "user:admin"
    assert audited[-1].principal == f"user:{cast.supervisor}"


# -- illegal moves ---------------------------------------------------------------------------

ACTIONS = ("submit", "approve", "return", "evaluated", "feedback")


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("action", ACTIONS)
def test_the_transition_table(state: AppraisalState, action: str) -> None:
    legal = {
        (S.PLANNED, "submit"): S.UNDER_REVIEW,
        (S.UNDER_REVIEW, "approve"): S.EVALUATING,
        (S.UNDER_REVIEW, "return"): S.PLANNED,
        (S.EVALUATING, "evaluated"): S.EVALUATED,
        (S.EVALUATED, "feedback"): S.COMPLETED,
    }
    if (state, action) in legal:
        assert states.advance(state, action) is legal[state, action]
        return
    with pytest.raises(BadUserInput) as refused:
        states.advance(state, action)
    assert refused.value.extensions["state"] == state.value
    assert refused.value.message.startswith(f"the appraisal is {state.value}: it cannot ")


# What each caller may try in each state, and which of those are legal there.
MOVES = ("record", "submit", "approve", "return", "feedback")
LEGAL = {
    S.PLANNED: {"record", "submit"},
    S.UNDER_REVIEW: {"approve", "return"},
    S.EVALUATING: set(),
    S.EVALUATED: {"feedback"},
    S.COMPLETED: set(),
}


@pytest.mark.parametrize("state", list(S))
async def test_illegal_moves_are_refused(
    fresh: tuple[GraphQLClient, Any], cast: Cast, state: AppraisalState
) -> None:
    admin, app = fresh
    made = await created(admin, app, cast)
    person = await with_records(admin, made, cast.person)
    supervisor = await admin.as_user(cast.supervisor)
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(update(Appraisal).values(state=state))
    a, task = made["id"], made["tasks"][0]["id"]
    tries = {
        "record": (person, RECORD, {"a": a, "t": task, "x": "再补一条"}),
        "submit": (person, SUBMIT, {"a": a}),
        "approve": (supervisor, REVIEW, {"a": a, "ok": True, "e": evaluation()}),
        "return": (supervisor, REVIEW, {"a": a, "ok": False, "n": "请补充"}),
        "feedback": (supervisor, FEEDBACK, {"a": a, "f": "很好"}),
    }
    for move in MOVES:
        if move in LEGAL[state]:
            continue
        caller, query, variables = tries[move]
        error = await caller.error(query, variables)
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "argument": "appraisalId",
            "state": state.value,
        }, move
        assert error["message"].startswith(f"the appraisal is {state.value}: it cannot "), move
    async with app.state.runtime.engine.connect() as conn:
        assert await conn.scalar(select(Appraisal.state)) is state
    if state is S.UNDER_REVIEW:
        error = await person.error(RECORD, tries["record"][2])
        assert error["message"] == "the appraisal is UNDER_REVIEW: it cannot take records"


# -- who may act -----------------------------------------------------------------------------


async def test_wrong_actors_are_refused_alike(fresh: tuple[GraphQLClient, Any], cast: Cast) -> None:
    admin, app = fresh
    made = await created(admin, app, cast)
    person = await with_records(admin, made, cast.person)
    supervisor = await admin.as_user(cast.supervisor)
    bystander = await admin.as_user(cast.bystander)
    a, task = made["id"], made["tasks"][0]["id"]
    nowhere = global_id("Appraisal", 10_000)

    person_moves = [
        (RECORD, {"t": task, "x": "代填"}, "add records to that appraisal"),
        (SUBMIT, {}, "submit that appraisal"),
    ]
    supervisor_moves = [
        (REVIEW, {"ok": False, "n": "退回"}, "review that appraisal"),
        (FEEDBACK, {"f": "很好"}, "give feedback on that appraisal"),
    ]
    for callers, moves in (
        ((supervisor, bystander, admin), person_moves),
        ((person, bystander, admin), supervisor_moves),
    ):
        for caller, (query, extra, what) in itertools.product(callers, moves):
            error = await caller.error(query, {"a": a, **extra})
            assert (error["message"], error["extensions"]["code"]) == (
                f"you may not {what}",
                "FORBIDDEN",
            )
            # An appraisal that does not exist gets the very same answer.
            missing = await caller.error(query, {"a": nowhere, **extra})
            assert (missing["message"], missing["extensions"]) == (
                error["message"],
                error["extensions"],
            )
    async with app.state.runtime.engine.connect() as conn:
        denied = await conn.scalar(
            select(AuditEntry.id).where(
                AuditEntry.action == "denied", AuditEntry.principal == f"user:{cast.bystander}"
            )
        )
        assert await conn.scalar(select(Appraisal.state)) is S.PLANNED
    assert denied is not None


async def test_admins_create_within_their_subtree_only(
    fresh: tuple[GraphQLClient, Any], cast: Cast
) -> None:
    admin, app = fresh
    senior = await admin.as_user("admin.d01t01")
    junior = await admin.as_user("admin.d01t01v001")
    own = await tenant_id(app, "d01t01v001")
    made = (await junior.data(CREATE, {"input": create_input(cast, own)}))["createAppraisal"]
    assert made["tenantPath"] == "/d01/t01/v001/"
    refusals = [
        (junior, await tenant_id(app, "d01t01v002")),
        (junior, await tenant_id(app, "d01t01")),
        (senior, await tenant_id(app, "d01t02")),
        (senior, await tenant_id(app, "d01t02v005")),
        (senior, global_id("Tenant", 10_000)),  # absent: the same refusal
    ]
    for caller, under in refusals:
        body = create_input(cast, under, period="2027")
        error = await caller.error(CREATE, {"input": body})
        assert (error["message"], error["extensions"]["code"]) == (
            "you may not create appraisals there",
            "FORBIDDEN",
        )
    ok = await senior.data(CREATE, {"input": create_input(cast, own, period="2027")})
    assert ok["createAppraisal"]["state"] == "PLANNED"
    # A member may not create at all.
    member = await admin.as_user(cast.bystander)
    error = await member.error(CREATE, {"input": create_input(cast, own, period="2028")})
    assert error["extensions"]["code"] == "FORBIDDEN"

    # Admins list what lies in their subtree; `under` narrows it.
    assert (await junior.data(LIST))["appraisals"]["totalCount"] == 2
    assert (await senior.data(LIST, {"u": own}))["appraisals"]["totalCount"] == 2
    other = await admin.as_user("admin.d01t01v002")
    assert (await other.data(LIST))["appraisals"]["totalCount"] == 0
    assert (await other.data(LIST, {"u": own}))["appraisals"]["totalCount"] == 0
    assert (await admin.data(LIST, {"s": "COMPLETED"}))["appraisals"]["totalCount"] == 0


async def test_members_see_their_own_only(fresh: tuple[GraphQLClient, Any], cast: Cast) -> None:
    admin, app = fresh
    await created(admin, app, cast)
    bystander = await admin.as_user(cast.bystander)
    # The bystander reads assessments in the person's town, but appraisals are not for it.
    error = await bystander.error(LIST)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await bystander.data(MINE))["myAppraisals"] == []
    for name in (cast.person, cast.supervisor):
        viewer = await admin.as_user(name)
        (seen,) = (await viewer.data(MINE))["myAppraisals"]
        assert (seen["person"], seen["supervisor"]) == (cast.person, cast.supervisor)
        assert (await viewer.error(LIST))["extensions"]["code"] == "FORBIDDEN"


# -- input checks ----------------------------------------------------------------------------


async def test_bad_input_names_its_argument(fresh: tuple[GraphQLClient, Any], cast: Cast) -> None:
    admin, app = fresh
    under = await tenant_id(app, cast.village)
    made = await created(admin, app, cast)

    async def refused(overrides: dict[str, Any]) -> str:
        error = await admin.error(CREATE, {"input": create_input(cast, under, **overrides)})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        argument: str = error["extensions"]["argument"]
        return argument

    assert await refused({}) == "period"  # the same person and period twice
    assert await refused({"period": " 2026 "}) == "period"  # the same, once trimmed
    assert await refused({"period": "x" * 21}) == "period"
    assert await refused({"period": "2027", "person": "nobody"}) == "person"
    assert await refused({"period": "2027", "supervisor": "nobody"}) == "supervisor"
    assert await refused({"period": "2027", "supervisor": cast.person}) == "supervisor"
    assert await refused({"period": "2027", "tasks": []}) == "tasks"
    assert await refused({"period": "2027", "tasks": ["a"] * 51}) == "tasks"
    assert await refused({"period": "2027", "tasks": ["ok", "  "]}) == "tasks"
    assert await refused({"period": "2027", "tasks": ["x" * 201]}) == "tasks"
    assert await refused({"period": "2027", "under": global_id("Branch", 1)}) == "under"

    # A task of another appraisal, an empty or overlong record.
    other = await created(admin, app, cast, person=cast.peer)
    person = await admin.as_user(cast.person)
    a, task = made["id"], made["tasks"][0]["id"]
    for variables, argument in (
        ({"a": a, "t": other["tasks"][0]["id"], "x": "串了"}, "taskId"),
        ({"a": a, "t": task, "x": "   "}, "text"),
        ({"a": a, "t": task, "x": "长" * 4001}, "text"),
    ):
        error = await person.error(RECORD, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        )

    # Approving needs a well-formed evaluation.
    await with_records(admin, made, cast.person)
    await person.data(SUBMIT, {"a": a})
    supervisor = await admin.as_user(cast.supervisor)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    for variables, argument in (
        ({"ok": True}, "evaluation"),
        ({"ok": True, "e": evaluation(closesAt=past)}, "evaluation"),
        ({"ok": True, "e": evaluation(peers=["nobody"])}, "evaluation"),
        ({"ok": True, "e": evaluation(democratic=[cast.person])}, "evaluation"),
        (
            {
                "ok": True,
                "e": evaluation(
                    peers=[cast.peer], weights=[{"method": "ORGANIZATIONAL", "weight": 1}]
                ),
            },
            "evaluation",
        ),
        ({"ok": True, "e": evaluation(weights=[{"method": "SELF", "weight": 0}])}, "evaluation"),
        ({"ok": False, "n": "  "}, "note"),
        ({"ok": False, "n": "退回", "e": evaluation()}, "evaluation"),
    ):
        error = await supervisor.error(REVIEW, {"a": a, **variables})
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        ), variables
    # Nothing was launched by the refused approvals.
    async with app.state.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Appraisal.state, Appraisal.campaign_id).where(
                    Appraisal.person_id == await user_id(app, cast.person)
                )
            )
        ).one()
    assert (row.state, row.campaign_id) == (S.UNDER_REVIEW, None)

    # Custom weights: only the methods given are launched, ORGANIZATIONAL alone here.
    only = evaluation(weights=[{"method": "ORGANIZATIONAL", "weight": 1}])
    approved = (await supervisor.data(REVIEW, {"a": a, "ok": True, "e": only}))["reviewAppraisal"]
    methods = (
        await admin.data(
            "{ assessmentCampaigns { edges { node { id methods { method weight } } } } }"
        )
    )["assessmentCampaigns"]["edges"]
    assert {
        "id": approved["campaignId"],
        "methods": [{"method": "ORGANIZATIONAL", "weight": 1.0}],
    } in [e["node"] for e in methods]


async def test_concurrent_twins_make_one_appraisal(
    fresh: tuple[GraphQLClient, Any], cast: Cast
) -> None:
    """Two admins create the same person's appraisal for one period at once: one wins, the
    other is refused on `period` (by the check, or by the unique constraint in a race)."""
    admin, app = fresh
    senior = await admin.as_user("admin.d01t01")
    body = {"input": create_input(cast, await tenant_id(app, cast.village))}
    answers = await asyncio.gather(admin.post(CREATE, body), senior.post(CREATE, body))
    errors = [a["errors"][0]["extensions"] for a in answers if a.get("errors")]
    assert errors == [{"code": "BAD_USER_INPUT", "argument": "period"}]
    async with app.state.runtime.engine.connect() as conn:
        assert len((await conn.execute(select(Appraisal.id))).all()) == 1
