"""Well-being screening, on SQLite and PostgreSQL: PHQ-9 and GAD-7 scoring at every band
boundary and the PHQ-9 item-9 safety rule, checked answers, a member's own results, CARE
holders' subtree (and not another town's), admins refused results and answers but given the
overview's counts, small counts withheld, and the audit of every read and submission (without
the answers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from policies import grants
from policies.rbac import Role
from schema.ids import global_id, parse_global_id
from server.audit.models import AuditEntry
from server.auth.models import User
from server.auth.passwords import hash_password
from server.branches.models import Branch
from server.errors import BadUserInput
from server.members.models import Member
from server.screening import service
from server.screening.models import ScreeningResult, ScreeningScale
from server.screening.scales import GAD7, PHQ9, STANDARD, Scale, scale_rows
from tenants.models import Tenant
from tests.conftest import DEMO_PASSWORD, GraphQLClient

Json = dict[str, Any]

SUBMIT = """mutation($s: String!, $a: [Int!]!) { submitScreening(scaleCode: $s, answers: $a) {
  id score band light takenAt answers scale { code name } member { id name } } }"""
MINE = """query($first: Int, $after: String) { myScreeningResults(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id score band light answers scale { code } member { id } } } } }"""
RESULTS = """query($under: ID, $scale: String, $lights: [Light!], $first: Int, $after: String) {
  screeningResults(under: $under, scaleCode: $scale, lights: $lights, first: $first,
                   after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id score band light answers scale { code } takenAt
                   member { id name phone branch { name tenant { code } } } } } } }"""
RESULTS_ANSWERS = "{ screeningResults { edges { node { answers } } } }"
OVERVIEW = """query($scale: String!, $under: ID) { screeningOverview(scaleCode: $scale,
  under: $under) { suppressBelow scale { code } respondents { count suppressed }
  lights { light count suppressed } bands { band count suppressed } } }"""
SCALES = """{ screeningScales { code name items maxScore options { label value }
  bands { band name min max light } } }"""

# (score, band, light) at every boundary of the published cut-offs.
PHQ9_BOUNDARIES = [
    (0, "MINIMAL", "GREEN"),
    (4, "MINIMAL", "GREEN"),
    (5, "MILD", "GREEN"),
    (9, "MILD", "GREEN"),
    (10, "MODERATE", "YELLOW"),
    (14, "MODERATE", "YELLOW"),
    (15, "MODERATELY_SEVERE", "RED"),
    (19, "MODERATELY_SEVERE", "RED"),
    (20, "SEVERE", "RED"),
    (27, "SEVERE", "RED"),
]
GAD7_BOUNDARIES = [
    (0, "MINIMAL", "GREEN"),
    (4, "MINIMAL", "GREEN"),
    (5, "MILD", "GREEN"),
    (9, "MILD", "GREEN"),
    (10, "MODERATE", "YELLOW"),
    (14, "MODERATE", "YELLOW"),
    (15, "SEVERE", "RED"),
    (21, "SEVERE", "RED"),
]
CASES = [(PHQ9, *c) for c in PHQ9_BOUNDARIES] + [(GAD7, *c) for c in GAD7_BOUNDARIES]


def answers_for(scale: Scale, score: int) -> list[int]:
    """Answers adding up to `score`, filling the items in order but the safety items last."""
    order = [i for i in range(len(scale.items)) if i + 1 not in scale.safety_items]
    order += [i - 1 for i in scale.safety_items]
    answers = [0] * len(scale.items)
    left = score
    for i in order:
        answers[i] = min(3, left)
        left -= answers[i]
    assert left == 0
    return answers


# -- scoring, without a database ----------------------------------------------------------------


@pytest.mark.parametrize(("scale", "score", "band", "light"), CASES)
def test_scores_at_every_boundary(scale: Scale, score: int, band: str, light: str) -> None:
    answers = answers_for(scale, score)
    outcome = service.evaluate(scale, answers)
    assert (outcome.score, outcome.band.code, outcome.light.value) == (score, band, light)
    # PHQ-9 reaches 25-27 only through item 9, which is RED anyway (SEVERE).
    assert outcome.safety == (scale is PHQ9 and answers[8] > 0)


@pytest.mark.parametrize("scale", STANDARD, ids=lambda s: s.code)
def test_bands_cover_every_score_once(scale: Scale) -> None:
    covered = [s for b in scale.bands for s in range(b.min, b.max + 1)]
    assert covered == list(range(scale.max_score + 1))
    assert scale.max_score == {"PHQ-9": 27, "GAD-7": 21}[scale.code]
    assert [(o.label, o.value) for o in scale.options] == [
        ("完全不会", 0),
        ("有几天", 1),
        ("一半以上的天数", 2),
        ("几乎每天", 3),
    ]


@pytest.mark.parametrize("value", [1, 2, 3])
def test_phq9_item9_makes_red_whatever_the_total(value: int) -> None:
    answers = [0] * 8 + [value]
    outcome = service.evaluate(PHQ9, answers)
    assert (outcome.score, outcome.band.code, outcome.light.value) == (value, "MINIMAL", "RED")
    assert outcome.safety
    # A mild total with item 9 at 0 stays green; the same total with item 9 at 1 is red.
    assert service.evaluate(PHQ9, [1] * 8 + [0]).light.value == "GREEN"
    assert service.evaluate(PHQ9, [1] * 7 + [0, 1]).light.value == "RED"
    # GAD-7 has no such item: its last item alone leaves a minimal total green.
    assert service.evaluate(GAD7, [0] * 6 + [3]).light.value == "GREEN"


@pytest.mark.parametrize(
    ("answers", "item"),
    [([0] * 8, 9), ([0] * 10, 10), ([], 1), ([0] * 4 + [4] + [0] * 4, 5), ([-1] + [0] * 8, 1)],
)
def test_bad_answers_name_the_item(answers: list[int], item: int) -> None:
    with pytest.raises(BadUserInput) as caught:
        service.evaluate(PHQ9, answers)
    assert caught.value.extensions == {"argument": "answers", "item": item}


def test_suppression_withholds_small_counts_and_their_complements() -> None:
    cells = {"all": 10, "a": 8, "b": 2, "c": 0}
    assert service.suppressed(cells, [("all", ["a", "b", "c"])], 3) == {"a", "b"}
    # Nothing small: nothing withheld; zeros are never withheld.
    assert service.suppressed({"all": 7, "a": 7, "b": 0}, [("all", ["a", "b"])], 3) == set()
    # A small total withholds its single part too.
    assert service.suppressed({"all": 2, "a": 2, "b": 0}, [("all", ["a", "b"])], 3) == {
        "all",
        "a",
    }
    # Two relations sharing a cell: the second withholding spreads to the first.
    cells = {"t": 9, "x": 5, "y": 4, "p": 7, "q": 2}
    hidden = service.suppressed(cells, [("t", ["x", "y"]), ("t", ["p", "q"])], 3)
    assert hidden == {"q", "p"}


def test_seeded_scale_rows() -> None:
    rows = scale_rows()
    assert [(r["id"], r["code"]) for r in rows] == [(1, "PHQ-9"), (2, "GAD-7")]
    phq = rows[0]
    assert len(json.loads(phq["items"])) == 9
    assert json.loads(phq["bands"])[3] == {
        "min": 15,
        "max": 19,
        "label": "MODERATELY_SEVERE",
        "name": "中重度",
        "light": "RED",
    }
    assert scale_rows() == rows  # deterministic


# -- helpers over the app -----------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    member_id: int
    path: str


async def member_accounts(app: Any) -> list[Account]:
    """The demo member accounts, with their member's tenant path, in id order."""
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(User.username, User.member_id, Tenant.path)
            .join(Member, Member.id == User.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .order_by(User.member_id)
        )
        return [Account(*r) for r in rows]


def under(accounts: list[Account], prefix: str) -> list[Account]:
    return [a for a in accounts if a.path.startswith(prefix)]


async def tenant_gid(app: Any, path: str) -> str:
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(select(Tenant.id).where(Tenant.path == path))
    return str(global_id("Tenant", pk))


async def make_care(app: Any, username: str, path: str) -> None:
    """An account holding CARE at the tenant `path`, applied to the running app at once."""
    runtime = app.state.runtime
    async with runtime.engine.begin() as conn:
        await conn.execute(
            insert(User).values(
                username=username,
                password_hash=hash_password(DEMO_PASSWORD),
                member_id=None,
                is_active=True,
                created_at=datetime.now(UTC),
            )
        )
        await grants.bind(conn, subject=f"user:{username}", role=Role.CARE, path=path)
    await runtime.control.policy_changed()


async def submit(gql: GraphQLClient, scale: str, answers: list[int]) -> Json:
    result: Json = (await gql.data(SUBMIT, {"s": scale, "a": answers}))["submitScreening"]
    return result


async def audit_rows(app: Any, action: str) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEntry.principal, AuditEntry.tenant_path, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return list(rows)


async def count(app: Any, stmt: Any) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(await conn.scalar(stmt))


def member_ids(body: Json) -> list[int]:
    return [parse_global_id(e["node"]["member"]["id"])[1] for e in body["edges"]]


# -- submitting ---------------------------------------------------------------------------------


async def test_submissions_are_scored_at_every_boundary(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    account = (await member_accounts(app))[0]
    member = await client.as_user(account.username)
    for scale, score, band, light in CASES:
        answers = answers_for(scale, score)
        made = await submit(member, scale.code, answers)
        assert (made["score"], made["band"], made["light"]) == (score, band, light), scale.code
        assert made["answers"] == answers  # the member gets its own answers back
        assert made["scale"]["code"] == scale.code
        assert made["member"]["id"] == str(global_id("Member", account.member_id))
    # The item-9 rule through the API, and what is stored.
    red = await submit(member, "PHQ-9", [0] * 8 + [1])
    assert (red["score"], red["band"], red["light"]) == (1, "MINIMAL", "RED")
    async with app.state.runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    ScreeningResult.member_id,
                    ScreeningScale.code,
                    ScreeningResult.score,
                    ScreeningResult.band,
                    ScreeningResult.light,
                    ScreeningResult.answers,
                )
                .join(ScreeningScale, ScreeningScale.id == ScreeningResult.scale_id)
                .where(ScreeningResult.id == parse_global_id(red["id"])[1])
            )
        ).one()
    assert (row.member_id, row.code, row.score, row.band, row.light) == (
        account.member_id,
        "PHQ-9",
        1,
        "MINIMAL",
        "RED",
    )
    assert json.loads(row.answers) == [0] * 8 + [1]


async def test_bad_answers_are_refused_and_nothing_is_written(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    member = await client.as_user((await member_accounts(app))[0].username)
    before = await count(app, select(func.count()).select_from(ScreeningResult))
    cases: list[tuple[str, list[int], str, int | None]] = [
        ("PHQ-9", [1] * 8, "answers", 9),
        ("PHQ-9", [1] * 10, "answers", 10),
        ("GAD-7", [1] * 9, "answers", 8),
        ("PHQ-9", [0, 0, 4, 0, 0, 0, 0, 0, 0], "answers", 3),
        ("GAD-7", [0, 0, 0, 0, 0, 0, -1], "answers", 7),
        ("BDI-II", [0] * 21, "scaleCode", None),
    ]
    for scale, answers, argument, item in cases:
        error = await member.error(SUBMIT, {"s": scale, "a": answers})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["argument"] == argument
        assert error["extensions"].get("item") == item
        if item is not None:
            assert f"item {item}" in error["message"]
    assert await count(app, select(func.count()).select_from(ScreeningResult)) == before
    assert await audit_rows(app, "screening.submit") == []


async def test_only_members_submit(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    await make_care(app, "care.t01", "/d01/t01/")
    for username in ("admin", "admin.d01t01", "admin.d01t01v001", "care.t01"):
        gql = await client.as_user(username)
        error = await gql.error(SUBMIT, {"s": "GAD-7", "a": [0] * 7})
        assert error["extensions"]["code"] == "FORBIDDEN", username
    assert await count(app, select(func.count()).select_from(ScreeningResult)) == 0


# -- reading ------------------------------------------------------------------------------------


async def test_scales_for_the_form(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    await make_care(app, "care.t01", "/d01/t01/")
    member = await client.as_user((await member_accounts(app))[0].username)
    scales = (await member.data(SCALES))["screeningScales"]
    assert [s["code"] for s in scales] == ["PHQ-9", "GAD-7"]
    phq = scales[0]
    assert len(phq["items"]) == 9 and phq["maxScore"] == 27
    assert "伤害自己" in phq["items"][8]
    assert [o["value"] for o in phq["options"]] == [0, 1, 2, 3]
    assert [(b["band"], b["min"], b["max"], b["light"]) for b in scales[1]["bands"]] == [
        ("MINIMAL", 0, 4, "GREEN"),
        ("MILD", 5, 9, "GREEN"),
        ("MODERATE", 10, 14, "YELLOW"),
        ("SEVERE", 15, 21, "RED"),
    ]
    for username in ("admin", "admin.d01t01v001", "care.t01"):
        gql = await client.as_user(username)
        assert (await gql.data(SCALES))["screeningScales"] == scales
    assert (await client.anonymous().error(SCALES))["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_member_sees_its_own_results_only(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    accounts = await member_accounts(app)
    me, other = accounts[0], accounts[1]
    mine = await client.as_user(me.username)
    theirs = await client.as_user(other.username)
    first = await submit(mine, "PHQ-9", answers_for(PHQ9, 3))
    await submit(theirs, "PHQ-9", answers_for(PHQ9, 12))
    second = await submit(mine, "GAD-7", answers_for(GAD7, 16))

    page = (await mine.data(MINE))["myScreeningResults"]
    assert page["totalCount"] == 2
    nodes = [e["node"] for e in page["edges"]]
    assert [n["id"] for n in nodes] == [second["id"], first["id"]]  # newest first
    assert nodes[0]["answers"] == answers_for(GAD7, 16)
    assert {n["member"]["id"] for n in nodes} == {str(global_id("Member", me.member_id))}

    # Pages of one, by cursor.
    one = (await mine.data(MINE, {"first": 1}))["myScreeningResults"]
    assert one["pageInfo"]["hasNextPage"] is True
    rest = (await mine.data(MINE, {"first": 1, "after": one["pageInfo"]["endCursor"]}))[
        "myScreeningResults"
    ]
    assert [e["node"]["id"] for e in rest["edges"]] == [first["id"]]
    assert rest["pageInfo"]["hasNextPage"] is False

    # screeningResults narrows a member to its own results too, answers included.
    listed = (await mine.data(RESULTS))["screeningResults"]
    assert member_ids(listed) == [me.member_id, me.member_id]
    assert listed["edges"][0]["node"]["answers"] == answers_for(GAD7, 16)
    # An account without a member record has no results of its own.
    admin_error = await client.error(MINE)
    assert admin_error["extensions"]["code"] == "FORBIDDEN"
    # The other member sees only its own.
    its = (await theirs.data(MINE))["myScreeningResults"]
    assert its["totalCount"] == 1
    assert member_ids(its) == [other.member_id]


async def test_care_reads_its_subtree_and_not_another_town(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    accounts = await member_accounts(app)
    town1, town2 = under(accounts, "/d01/t01/"), under(accounts, "/d01/t02/")
    village = town1[-1].path if town1[-1].path.count("/") == 4 else None
    assert village is not None and town2
    taken: dict[int, Json] = {}
    scores = [0, 5, 10, 15, 21, 3, 12]
    for account, score in zip([*town1[:4], town1[-1], *town2[:2]], scores, strict=True):
        gql = await client.as_user(account.username)
        taken[account.member_id] = await submit(gql, "GAD-7", answers_for(GAD7, score))
    await make_care(app, "care.t01", "/d01/t01/")
    care = await client.as_user("care.t01")

    listed = (await care.data(RESULTS))["screeningResults"]
    expected = sorted({*(a.member_id for a in town1[:4]), town1[-1].member_id}, reverse=True)
    assert member_ids(listed) == expected  # newest first is submission order reversed
    assert listed["totalCount"] == 5
    for edge in listed["edges"]:
        node = edge["node"]
        member = parse_global_id(node["member"]["id"])[1]
        assert node["answers"] is None  # never the answers, to anyone but the member
        assert node["score"] == taken[member]["score"]
        assert node["member"]["branch"]["tenant"]["code"].startswith("d01t01")
        assert "*" in node["member"]["phone"]  # personal data stays masked
        assert node["member"]["name"] == taken[member]["member"]["name"]

    # Filters: a light, a scale, a village of the subtree, and a tenant of the other town.
    reds = (await care.data(RESULTS, {"lights": ["RED"]}))["screeningResults"]
    assert {e["node"]["light"] for e in reds["edges"]} == {"RED"}
    assert reds["totalCount"] == 2
    assert sorted(member_ids(reds)) == sorted([town1[3].member_id, town1[-1].member_id])
    assert (await care.data(RESULTS, {"scale": "PHQ-9"}))["screeningResults"]["edges"] == []
    in_village = (await care.data(RESULTS, {"under": await tenant_gid(app, village)}))[
        "screeningResults"
    ]
    assert member_ids(in_village) == [town1[-1].member_id]
    elsewhere = await tenant_gid(app, "/d01/t02/")
    assert (await care.data(RESULTS, {"under": elsewhere}))["screeningResults"]["totalCount"] == 0
    # Paging through the subtree.
    page = (await care.data(RESULTS, {"first": 2}))["screeningResults"]
    assert page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    more = (await care.data(RESULTS, {"first": 10, "after": after}))["screeningResults"]
    assert member_ids(page) + member_ids(more) == expected
    # A CARE holder reads nothing else: not the members themselves.
    refused = await care.error("{ members { totalCount } }")
    assert refused["extensions"]["code"] == "FORBIDDEN"

    # A CARE holder at the other town sees that town's results only.
    await make_care(app, "care.t02", "/d01/t02/")
    other = await (await client.as_user("care.t02")).data(RESULTS)
    assert sorted(member_ids(other["screeningResults"])) == sorted(a.member_id for a in town2[:2])


@pytest.mark.parametrize("username", ["admin", "admin.d01t01", "admin.d01t01v001"])
async def test_admins_get_no_results_and_no_answers(
    fresh: tuple[GraphQLClient, Any], username: str
) -> None:
    client, app = fresh
    account = under(await member_accounts(app), "/d01/t01/v001/")[0]
    await submit(await client.as_user(account.username), "PHQ-9", answers_for(PHQ9, 16))
    admin = await client.as_user(username)
    for query in (RESULTS, RESULTS_ANSWERS, MINE):
        error = await admin.error(query)
        assert error["extensions"]["code"] == "FORBIDDEN", (username, query)
    body = await admin.post(RESULTS_ANSWERS)
    assert body["data"] is None
    # The counts are theirs: the one result is withheld (1 < 3), and its light with it.
    overview = (await admin.data(OVERVIEW, {"scale": "PHQ-9"}))["screeningOverview"]
    assert overview["respondents"] == {"count": None, "suppressed": True}
    red = next(c for c in overview["lights"] if c["light"] == "RED")
    assert red == {"light": "RED", "count": None, "suppressed": True}
    assert {c["count"] for c in overview["lights"] if c["light"] != "RED"} == {0}
    refusals = await audit_rows(app, "denied")
    assert any(r.principal == f"user:{username}" for r in refusals)


async def insert_results(app: Any, rows: list[tuple[int, str, str, str, datetime]]) -> None:
    """(member id, scale code, band, light, taken at) rows, written directly."""
    scale_ids = {r["code"]: r["id"] for r in scale_rows()}
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            insert(ScreeningResult),
            [
                {
                    "member_id": m,
                    "scale_id": scale_ids[s],
                    "answers": "[]",
                    "score": 0,
                    "band": band,
                    "light": light,
                    "taken_at": at,
                }
                for m, s, band, light, at in rows
            ],
        )


async def members_under(app: Any, path: str) -> list[int]:
    async with app.state.runtime.engine.connect() as conn:
        return list(
            await conn.scalars(
                select(Member.id)
                .join(Branch, Branch.id == Member.branch_id)
                .join(Tenant, Tenant.id == Branch.tenant_id)
                .where(Tenant.path.startswith(path))
                .order_by(Member.id)
            )
        )


def counts(overview: Json) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    return (
        overview["respondents"]["count"],
        {c["light"]: c["count"] for c in overview["lights"]},
        {c["band"]: c["count"] for c in overview["bands"]},
    )


async def test_overview_counts_latest_results_and_withholds_small_ones(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    town1, town2 = await members_under(app, "/d01/t01/"), await members_under(app, "/d01/t02/")
    now = datetime.now(UTC)
    old = now - timedelta(days=30)
    # GAD-7 in town 1: 6 minimal, 4 mild, 3 moderate, 5 severe (latest results), and older
    # results of the same members that must not count; PHQ-9 and town 2 results besides.
    plan = ["MINIMAL"] * 6 + ["MILD"] * 4 + ["MODERATE"] * 3 + ["SEVERE"] * 5
    light = {"MINIMAL": "GREEN", "MILD": "GREEN", "MODERATE": "YELLOW", "SEVERE": "RED"}
    rows = [(m, "GAD-7", b, light[b], now) for m, b in zip(town1, plan, strict=False)]
    rows += [(m, "GAD-7", "SEVERE", "RED", old) for m in town1[:6]]
    rows += [(m, "PHQ-9", "SEVERE", "RED", now) for m in town1[:2]]
    rows += [(m, "GAD-7", "MODERATE", "YELLOW", now) for m in town2[:4]]
    await insert_results(app, rows)
    t1 = await tenant_gid(app, "/d01/t01/")

    senior = await client.as_user("admin.d01t01")
    overview = (await senior.data(OVERVIEW, {"scale": "GAD-7"}))["screeningOverview"]
    assert overview["suppressBelow"] == 3 and overview["scale"]["code"] == "GAD-7"
    assert counts(overview) == (
        18,
        {"GREEN": 10, "YELLOW": 3, "RED": 5},
        {"MINIMAL": 6, "MILD": 4, "MODERATE": 3, "SEVERE": 5},
    )
    assert not any(c["suppressed"] for c in overview["lights"] + overview["bands"])
    # The super admin's district adds town 2's four.
    district = (await client.data(OVERVIEW, {"scale": "GAD-7"}))["screeningOverview"]
    assert counts(district)[0] == 22 and counts(district)[1]["YELLOW"] == 7
    assert (await client.data(OVERVIEW, {"scale": "GAD-7", "under": t1}))[
        "screeningOverview"
    ] == overview

    # One more member with a latest YELLOW... then MODERATE and YELLOW at 1 would be small:
    # move two severe members to moderate by newer results: MODERATE 5, SEVERE 3.
    await insert_results(
        app, [(m, "GAD-7", "MODERATE", "YELLOW", now + timedelta(minutes=1)) for m in town1[13:15]]
    )
    moved = (await senior.data(OVERVIEW, {"scale": "GAD-7"}))["screeningOverview"]
    assert counts(moved) == (
        18,
        {"GREEN": 10, "YELLOW": 5, "RED": 3},
        {"MINIMAL": 6, "MILD": 4, "MODERATE": 5, "SEVERE": 3},
    )
    # Now two of the RED ones turn MILD: RED 1 and SEVERE 1 are withheld, and with them the
    # smallest other count of each sum (YELLOW 5 among the lights, MODERATE 5 among the
    # bands): neither can be had by subtraction any more.
    await insert_results(
        app, [(m, "GAD-7", "MILD", "GREEN", now + timedelta(minutes=2)) for m in town1[15:17]]
    )
    small = (await senior.data(OVERVIEW, {"scale": "GAD-7"}))["screeningOverview"]
    assert counts(small) == (
        18,
        {"GREEN": 12, "YELLOW": None, "RED": None},
        {"MINIMAL": 6, "MILD": 6, "MODERATE": None, "SEVERE": None},
    )
    assert [c["suppressed"] for c in small["lights"]] == [False, True, True]
    assert [c["suppressed"] for c in small["bands"]] == [False, False, True, True]

    # CARE holders read the overview too; a member does not; an unknown scale is bad input.
    await make_care(app, "care.t02", "/d01/t02/")
    care = (await (await client.as_user("care.t02")).data(OVERVIEW, {"scale": "GAD-7"}))[
        "screeningOverview"
    ]
    assert counts(care) == (
        4,
        {"GREEN": 0, "YELLOW": 4, "RED": 0},
        {"MINIMAL": 0, "MILD": 0, "MODERATE": 4, "SEVERE": 0},
    )
    account = (await member_accounts(app))[0]
    member = await client.as_user(account.username)
    assert (await member.error(OVERVIEW, {"scale": "GAD-7"}))["extensions"]["code"] == "FORBIDDEN"
    bad = await client.error(OVERVIEW, {"scale": "nope"})
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "argument": "scaleCode"}
    # A junior admin counts its village only.
    in_village = len(set(town2[:4]) & set(await members_under(app, "/d01/t02/v005/")))
    junior = await client.as_user("admin.d01t02v005")
    village = (await junior.data(OVERVIEW, {"scale": "GAD-7"}))["screeningOverview"]
    assert village["respondents"] == (
        {"count": None, "suppressed": True}
        if 0 < in_village < 3
        else {"count": in_village, "suppressed": False}
    )


# -- audit --------------------------------------------------------------------------------------


async def test_reads_and_submissions_are_audited_without_answers(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    accounts = under(await member_accounts(app), "/d01/t01/")
    me, other = accounts[0], accounts[1]
    mine = await client.as_user(me.username)
    answers = [3, 2, 1, 0, 1, 2, 3, 2, 0]
    made = await submit(mine, "PHQ-9", answers)
    await submit(await client.as_user(other.username), "GAD-7", answers_for(GAD7, 6))

    submitted = await audit_rows(app, "screening.submit")
    assert [(r.principal, json.loads(r.detail)) for r in submitted] == [
        (f"user:{me.username}", {"scale": "PHQ-9"}),
        (f"user:{other.username}", {"scale": "GAD-7"}),
    ]
    assert submitted[0].tenant_path == me.path
    assert await audit_rows(app, "screening.read") == []  # submitting is not a read

    await make_care(app, "care.t01", "/d01/t01/")
    care = await client.as_user("care.t01")
    listed = (await care.data(RESULTS))["screeningResults"]
    reads = await audit_rows(app, "screening.read")
    assert len(reads) == 1  # one entry for the operation, whatever the page size
    detail = json.loads(reads[0].detail)
    ids = sorted(parse_global_id(e["node"]["id"])[1] for e in listed["edges"])
    assert detail == {"results": ids, "members": 2}
    assert reads[0].principal == "user:care.t01"
    common = reads[0].tenant_path
    assert common.startswith("/d01/t01/")
    assert me.path.startswith(common) and other.path.startswith(common)

    await mine.data(MINE)
    reads = await audit_rows(app, "screening.read")
    assert len(reads) == 2 and reads[1].principal == f"user:{me.username}"
    assert json.loads(reads[1].detail) == {
        "results": [parse_global_id(made["id"])[1]],
        "members": 1,
    }
    assert reads[1].tenant_path == me.path
    # An empty read is not a read of anyone's results.
    nothing = await care.data(RESULTS, {"scale": "PHQ-9", "lights": ["RED"]})
    assert nothing["screeningResults"]["edges"] == []
    empty_reads = len(await audit_rows(app, "screening.read"))
    assert empty_reads == 2

    # Nothing in the log holds the answers, the scores or the lights.
    async with app.state.runtime.engine.connect() as conn:
        details = (
            await conn.scalars(
                select(AuditEntry.detail).where(AuditEntry.action.like("screening%"))
            )
        ).all()
    for text in details:
        value = json.loads(text)
        assert not {"answers", "score", "light", "band"} & set(value), value
        assert json.dumps(answers) not in text
