"""The cadre archive on SQLite and PostgreSQL: the catalogue's counts, the demo cadres and
records, and over GraphQL the record life cycle (joint review), the cadre's own view and
response, masking per role with the audit of unmasked reads, scoping, and bad input."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from policies.models import CasbinRule
from schema.ids import global_id, parse_global_id
from server.archives import catalogue
from server.archives.demo import archive_rows, cadre_count, reference_date
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    Cadre,
    Dimension,
    Polarity,
    RecordContext,
    ReviewStatus,
    TagSystem,
)
from server.audit.models import AuditEntry
from server.auth.models import User
from server.branches.models import Branch
from server.members.models import Member
from tenants.demo import generate
from tenants.models import Tenant
from tests.conftest import GraphQLClient
from tests.test_query_counts import statements

Json = dict[str, Any]

CADRES = """query($u: ID, $s: String, $f: Int, $a: String) {
  cadres(under: $u, search: $s, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id name position rank unit tenant { code } member { id name } } } } }"""
CADRE = "query($id: ID!) { cadre(id: $id) { id name unit tenant { code } } }"
MY_CADRE = "{ myCadre { id name } }"
INDICATORS = """query($c: ArchiveContext, $p: ArchivePolarity, $d: ArchiveDimension,
  $f: Int, $a: String) {
  archiveIndicators(context: $c, polarity: $p, dimension: $d, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id code name context polarity dimension points serious
      tagCategory { code name system } } } } }"""
RECORD_FIELDS = """id status masked source occurredOn evidence author reviewer reviewedAt
  reviewNote response respondedAt attachments { name contentType size sha256 }
  cadre { id } indicator { code polarity serious }"""
RECORDS = f"""query($c: ID!, $s: ArchiveReviewStatus, $f: Int, $a: String) {{
  archiveRecords(cadreId: $c, status: $s, first: $f, after: $a) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {RECORD_FIELDS} }} }} }} }}"""
CREATE = f"""mutation($i: CreateArchiveRecordInput!) {{
  createArchiveRecord(input: $i) {{ {RECORD_FIELDS} }} }}"""
REVIEW = f"""mutation($r: ID!, $v: ArchiveVerdict!, $n: String) {{
  reviewArchiveRecord(recordId: $r, verdict: $v, note: $n) {{ {RECORD_FIELDS} }} }}"""
RESPOND = f"""mutation($r: ID!, $t: String!) {{
  respondToArchiveRecord(recordId: $r, response: $t) {{ {RECORD_FIELDS} }} }}"""
SHA = "ab" * 32
DENIED = "you may not enter records in that cadre's file"


# -- helpers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A seeded cadre and the admins around it."""

    cadre: int
    member: int
    code: str  # its tenant's code
    path: str
    level: str

    @property
    def gid(self) -> str:
        return str(global_id("Cadre", self.cadre))

    @property
    def town(self) -> str:
        return self.code[:6]


async def fetch(app: Any, stmt: Any) -> list[Any]:
    async with app.state.runtime.engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def scalar(app: Any, stmt: Any) -> Any:
    async with app.state.runtime.engine.connect() as conn:
        return await conn.scalar(stmt)


async def places(app: Any) -> list[Place]:
    rows = await fetch(
        app,
        select(Cadre.id, Cadre.member_id, Tenant.code, Tenant.path, Tenant.level)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        .order_by(Cadre.id),
    )
    return [Place(r.id, r.member_id, r.code, r.path, str(r.level)) for r in rows]


async def village_cadre(app: Any) -> Place:
    """A cadre serving at a village, with verified records that carry attachments."""
    with_files = await fetch(
        app,
        select(ArchiveRecord.cadre_id, func.count())
        .where(
            ArchiveRecord.status == ReviewStatus.VERIFIED,
            ArchiveRecord.attachments != "[]",
        )
        .group_by(ArchiveRecord.cadre_id),
    )
    files = dict(with_files)
    candidates = [p for p in await places(app) if p.level == "VILLAGE" and files.get(p.cadre)]
    assert candidates, "the demo must have village cadres with attachments"
    return max(candidates, key=lambda p: (files[p.cadre], -p.cadre))


async def account_cadre(app: Any) -> tuple[Place, str]:
    """A cadre who can sign in (a demo member account), and its username."""
    accounts = dict(
        (r.member_id, r.username)
        for r in await fetch(
            app, select(User.member_id, User.username).where(User.member_id.is_not(None))
        )
    )
    mine = [p for p in await places(app) if p.member in accounts]
    assert mine, "the demo makes some member accounts cadres"
    return mine[0], accounts[mine[0].member]


async def other_member_account(app: Any) -> str:
    """A member account that is not a cadre."""
    rows = await fetch(
        app,
        select(User.username)
        .where(User.member_id.is_not(None), User.member_id.not_in(select(Cadre.member_id)))
        .order_by(User.id),
    )
    assert rows
    return str(rows[0].username)


def record_input(place: Place, **changes: Any) -> Json:
    body: Json = {
        "cadreId": place.gid,
        "indicatorCode": "AWP11",
        "source": "DAILY_SUPERVISION",
        "occurredOn": (date.today() - timedelta(days=3)).isoformat(),
        "evidence": "抗台期间连续三昼夜驻守海塘，组织转移群众二百余人。",
        "attachments": [
            {"name": "现场照片1.jpg", "contentType": "image/jpeg", "size": 120_000, "sha256": SHA}
        ],
    }
    body.update(changes)
    return body


async def create(client: GraphQLClient, place: Place, **changes: Any) -> Json:
    made: Json = (await client.data(CREATE, {"i": record_input(place, **changes)}))[
        "createArchiveRecord"
    ]
    return made


async def audit_rows(app: Any, action: str) -> list[Any]:
    return await fetch(
        app,
        select(AuditEntry.principal, AuditEntry.subject, AuditEntry.tenant_path, AuditEntry.detail)
        .where(AuditEntry.action == action)
        .order_by(AuditEntry.id),
    )


def code_of(error: Json) -> tuple[str, str | None]:
    return error["extensions"]["code"], error["extensions"].get("argument")


# -- the catalogue and the demo data --------------------------------------------------------------


def test_the_catalogue_has_the_prescribed_counts() -> None:
    counts = Counter((x.context, x.polarity) for x in catalogue.INDICATORS)
    assert counts[RecordContext.AT_WORK, Polarity.POSITIVE] == 24
    assert counts[RecordContext.AT_WORK, Polarity.NEGATIVE] == 39
    assert counts[RecordContext.OUTSIDE_WORK, Polarity.POSITIVE] == 4
    assert counts[RecordContext.OUTSIDE_WORK, Polarity.NEGATIVE] == 8
    assert 3 <= counts[RecordContext.KEY_MOMENT, Polarity.POSITIVE] <= 6
    # 25 tag categories, five in each of the five systems, every one in use.
    assert len(catalogue.CATEGORIES) == 25
    assert Counter(c.system for c in catalogue.CATEGORIES) == {s: 5 for s in TagSystem}
    codes = {c.code for c in catalogue.CATEGORIES}
    assert len(codes) == 25
    assert {x.category for x in catalogue.INDICATORS} == codes
    # Every indicator has a dimension (all five are used) and a positive magnitude; only
    # negatives are serious, and some are.
    assert {x.dimension for x in catalogue.INDICATORS} == set(Dimension)
    assert all(isinstance(x.dimension, Dimension) for x in catalogue.INDICATORS)
    assert all(0 < x.points <= 10 for x in catalogue.INDICATORS)
    assert all(x.polarity is Polarity.NEGATIVE for x in catalogue.INDICATORS if x.serious)
    assert any(x.serious for x in catalogue.INDICATORS)
    assert len({x.code for x in catalogue.INDICATORS}) == len(catalogue.INDICATORS)
    assert len({x.name for x in catalogue.INDICATORS}) == len(catalogue.INDICATORS)
    rows = catalogue.indicator_rows()
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["tag_category_id"] for r in rows} == {r["id"] for r in catalogue.category_rows()}


def test_the_reference_district_has_1190_cadres_and_31000_records() -> None:
    data = generate("district", seed=1, as_of=date(2025, 6, 30))
    tables = archive_rows(data, seed=1)
    assert [t.name for t, _ in tables] == [
        "archive_tag_categories",
        "archive_indicators",
        "cadres",
        "archive_records",
    ]
    cadres, records = tables[2][1], tables[3][1]
    assert len(cadres) == 1190 == cadre_count(len(data.members))
    assert len({c["member_id"] for c in cadres}) == 1190
    indicators = {r["id"]: r for r in tables[1][1]}
    contexts = Counter(indicators[r["indicator_id"]]["context"] for r in records)
    assert 19_000 <= contexts["AT_WORK"] <= 21_000
    assert 10_500 <= contexts["OUTSIDE_WORK"] <= 11_500
    assert contexts["KEY_MOMENT"] > 0
    statuses = Counter(r["status"] for r in records)
    assert statuses["VERIFIED"] > 0.85 * len(records)
    assert statuses["PENDING"] > 0 and statuses["REJECTED"] > 0
    negatives = [r for r in records if indicators[r["indicator_id"]]["polarity"] == "NEGATIVE"]
    assert 0 < len(negatives) < len(records) / 3
    serious = [r for r in records if indicators[r["indicator_id"]]["serious"]]
    assert 0 < len(serious) < 100
    # Three years before the data's reference date, never after it.
    as_of = reference_date(data)
    assert as_of <= date(2025, 6, 30)
    assert all(as_of - timedelta(days=3 * 365) <= r["occurred_on"] <= as_of for r in records)
    # Joint review even in the demo: the reviewer is never the author.
    reviewed = [r for r in records if r["status"] != "PENDING"]
    assert all(r["reviewer"] and r["reviewer"] != r["author"] for r in reviewed)
    assert all(r["review_note"] for r in records if r["status"] == "REJECTED")
    assert all(r["response"] is None for r in records if r["status"] != "VERIFIED")
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    for r in records[:500]:
        for file in json.loads(r["attachments"]):
            assert set(file) == {"name", "content_type", "size", "sha256"}
            assert len(file["sha256"]) == 64


def test_the_demo_archive_is_deterministic_and_scales_down() -> None:
    data = generate("small", seed=5, as_of=date(2025, 6, 30))
    first, again = archive_rows(data, seed=5), archive_rows(data, seed=5)
    assert [rows for _, rows in first] == [rows for _, rows in again]
    assert [rows for _, rows in archive_rows(data, seed=6)][2] != [rows for _, rows in first][2]
    cadres = first[2][1]
    assert len(cadres) == cadre_count(len(data.members)) >= 40
    assert len(first[3][1]) > 20 * len(cadres)


async def test_seeded_cadres_are_members_of_their_subtree(
    seeded: tuple[GraphQLClient, Any],
) -> None:
    gql, app = seeded
    rows = await fetch(
        app,
        select(Cadre.id, Cadre.member_id, Tenant.path.label("cadre_path"), Tenant.level)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        .order_by(Cadre.id),
    )
    members = await scalar(app, select(func.count()).select_from(Member))
    assert len(rows) == cadre_count(members)
    assert len({r.member_id for r in rows}) == len(rows)
    home = dict(
        (r.id, r.path)
        for r in await fetch(
            app,
            select(Member.id, Tenant.path)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id),
        )
    )
    # A cadre serves at its member's branch's tenant or above it (its town's offices).
    assert all(home[r.member_id].startswith(r.cadre_path) for r in rows)
    assert {str(r.level) for r in rows} <= {"TOWN", "VILLAGE"}
    # Over GraphQL the super admin pages through all of them, each with its member.
    seen: list[Json] = []
    after = None
    while True:
        page = (await gql.data(CADRES, {"f": 15, "a": after}))["cadres"]
        assert page["totalCount"] == len(rows)
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [parse_global_id(n["id"])[1] for n in seen] == [r.id for r in rows]
    assert all(n["member"]["name"] == n["name"] for n in seen)
    assert [parse_global_id(n["member"]["id"])[1] for n in seen] == [r.member_id for r in rows]
    # `under` a town: the cadres serving in its subtree; `search` by unit.
    town = await fetch(app, select(Tenant.id, Tenant.path).where(Tenant.code == "d01t02"))
    under = global_id("Tenant", town[0].id)
    in_town = (await gql.data(CADRES, {"u": under, "f": 100}))["cadres"]
    assert in_town["totalCount"] == sum(r.cadre_path.startswith(town[0].path) for r in rows)
    unit = seen[0]["unit"]
    found = (await gql.data(CADRES, {"s": unit, "f": 100}))["cadres"]
    assert seen[0]["id"] in {e["node"]["id"] for e in found["edges"]}
    assert all(unit in e["node"]["unit"] for e in found["edges"])


async def test_the_catalogue_over_graphql(seeded: tuple[GraphQLClient, Any]) -> None:
    gql, app = seeded
    counts = {}
    for context, polarity in [
        ("AT_WORK", "POSITIVE"),
        ("AT_WORK", "NEGATIVE"),
        ("OUTSIDE_WORK", "POSITIVE"),
        ("OUTSIDE_WORK", "NEGATIVE"),
    ]:
        page = await gql.data(INDICATORS, {"c": context, "p": polarity, "f": 100})
        counts[context, polarity] = page["archiveIndicators"]["totalCount"]
        assert len(page["archiveIndicators"]["edges"]) == counts[context, polarity]
        assert {e["node"]["context"] for e in page["archiveIndicators"]["edges"]} == {context}
    assert counts == {
        ("AT_WORK", "POSITIVE"): 24,
        ("AT_WORK", "NEGATIVE"): 39,
        ("OUTSIDE_WORK", "POSITIVE"): 4,
        ("OUTSIDE_WORK", "NEGATIVE"): 8,
    }
    every = (await gql.data(INDICATORS, {"f": 100}))["archiveIndicators"]
    assert every["totalCount"] == len(catalogue.INDICATORS)
    node = every["edges"][0]["node"]
    assert (node["code"], node["tagCategory"]["code"]) == ("AWP01", "CULT_THEORY")
    assert node["tagCategory"]["system"] == "CULTIVATION"
    loyalty = (await gql.data(INDICATORS, {"d": "LOYALTY", "f": 100}))["archiveIndicators"]
    assert loyalty["totalCount"] == sum(
        x.dimension is Dimension.LOYALTY for x in catalogue.INDICATORS
    )
    # A junior admin and a member read it too (the catalogue is the same for all).
    member = await gql.as_user(await other_member_account(app))
    page = (await member.data(INDICATORS, {"f": 10}))["archiveIndicators"]
    assert page["totalCount"] == len(catalogue.INDICATORS)
    assert page["pageInfo"]["hasNextPage"]


# -- the record life cycle ----------------------------------------------------------------------


async def test_joint_review_from_entry_to_verified(
    fresh: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    gql, app = fresh
    place = await village_cadre(app)
    junior = await gql.as_user(f"admin.{place.code}")
    senior = await gql.as_user(f"admin.{place.town}")
    calls: list[tuple[int, str]] = []
    watched: dict[str, int] = {}

    async def after_review(
        conn: Any, cadre_id: int, now: datetime, *, today: date | None = None
    ) -> list[Any]:
        # Called inside the review's transaction: the record is VERIFIED there already.
        status = await conn.scalar(
            select(ArchiveRecord.status).where(ArchiveRecord.id == watched["id"])
        )
        calls.append((cadre_id, str(status)))
        return []

    monkeypatch.setattr("server.archives.lights.after_review", after_review)

    # A village admin enters a record in its village: PENDING, masked for it (no
    # read_sensitive), authored by it.
    made = await create(junior, place)
    assert (made["status"], made["author"], made["reviewer"]) == (
        "PENDING",
        f"admin.{place.code}",
        None,
    )
    assert (made["masked"], made["evidence"], made["attachments"]) == (True, None, [])
    assert made["cadre"]["id"] == place.gid and made["indicator"]["code"] == "AWP11"
    record = made["id"]
    watched["id"] = parse_global_id(record)[1]
    # Its author may not review it, whatever the verdict.
    for verdict in ("VERIFIED", "REJECTED"):
        error = await junior.error(REVIEW, {"r": record, "v": verdict, "n": "属实"})
        assert code_of(error) == ("FORBIDDEN", None)
        assert error["message"] == "joint review: the author may not review its own record"
    # The town's senior admin verifies it; it sees the evidence.
    done = (await senior.data(REVIEW, {"r": record, "v": "VERIFIED"}))["reviewArchiveRecord"]
    assert (done["status"], done["reviewer"], done["masked"]) == (
        "VERIFIED",
        f"admin.{place.town}",
        False,
    )
    assert done["evidence"] == record_input(place)["evidence"]
    assert done["attachments"] == record_input(place)["attachments"]
    assert done["reviewedAt"] is not None
    assert calls == [(place.cadre, "VERIFIED")]
    # Reviewed once only: a second review (by anyone) is bad input and changes nothing.
    error = await gql.error(REVIEW, {"r": record, "v": "REJECTED", "n": "重复"})
    assert code_of(error) == ("BAD_USER_INPUT", "recordId")
    row = (
        await fetch(
            app,
            select(ArchiveRecord.status, ArchiveRecord.reviewer, ArchiveRecord.review_note).where(
                ArchiveRecord.id == parse_global_id(record)[1]
            ),
        )
    )[0]
    assert (str(row.status), row.reviewer, row.review_note) == (
        "VERIFIED",
        f"admin.{place.town}",
        None,
    )
    assert len(calls) == 1

    # A rejection needs a note; then it is REJECTED, and lights are not re-evaluated.
    second = (await create(senior, place, indicatorCode="AWN17", source="COMMUNITY_REPORT"))["id"]
    for note in (None, "   "):
        error = await junior.error(REVIEW, {"r": second, "v": "REJECTED", "n": note})
        assert code_of(error) == ("BAD_USER_INPUT", "note")
    rejected = (await junior.data(REVIEW, {"r": second, "v": "REJECTED", "n": "证据不足"}))[
        "reviewArchiveRecord"
    ]
    assert (rejected["status"], rejected["reviewer"]) == ("REJECTED", f"admin.{place.code}")
    # Masked for the junior reviewer, on file for the senior admin.
    assert rejected["reviewNote"] is None
    notes = await senior.data(RECORDS, {"c": place.gid, "s": "REJECTED", "f": 1})
    assert notes["archiveRecords"]["edges"][0]["node"]["reviewNote"] == "证据不足"
    assert len(calls) == 1

    # Every step is in the audit log, without the evidence.
    created = await audit_rows(app, "archive.record.create")
    assert [(r.principal, r.tenant_path) for r in created] == [
        (f"user:admin.{place.code}", place.path),
        (f"user:admin.{place.town}", place.path),
    ]
    assert "海塘" not in created[0].detail
    assert json.loads(created[0].detail)["cadre"] == place.cadre
    reviews = await audit_rows(app, "archive.record.review")
    assert [(r.principal, json.loads(r.detail)["verdict"]) for r in reviews] == [
        (f"user:admin.{place.town}", "VERIFIED"),
        (f"user:admin.{place.code}", "REJECTED"),
    ]
    denied = await audit_rows(app, "denied")
    assert sum("joint review" in r.detail for r in denied) == 2


# -- the cadre's own view -----------------------------------------------------------------------


async def test_a_cadre_reads_its_verified_records_and_responds_once(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    place, username = await account_cadre(app)
    me = await gql.as_user(username)
    by_status = dict(
        (str(s), n)
        for s, n in await fetch(
            app,
            select(ArchiveRecord.status, func.count())
            .where(ArchiveRecord.cadre_id == place.cadre)
            .group_by(ArchiveRecord.status),
        )
    )
    # A pending record the cadre must not see, entered by the admin.
    pending = (await create(gql, place))["id"]

    assert (await me.data(MY_CADRE))["myCadre"]["id"] == place.gid
    mine = (await me.data(CADRES))["cadres"]
    assert [e["node"]["id"] for e in mine["edges"]] == [place.gid] and mine["totalCount"] == 1
    page = (await me.data(RECORDS, {"c": place.gid, "f": 100}))["archiveRecords"]
    assert page["totalCount"] == by_status.get("VERIFIED", 0) > 0
    nodes = [e["node"] for e in page["edges"]]
    assert {n["status"] for n in nodes} == {"VERIFIED"}
    assert pending not in {n["id"] for n in nodes}
    # Newest first, and unmasked: it is its own file.
    ids = [parse_global_id(n["id"])[1] for n in nodes]
    assert ids == sorted(ids, reverse=True)
    assert all(not n["masked"] and n["evidence"] for n in nodes)
    for status in ("PENDING", "REJECTED"):
        other = (await me.data(RECORDS, {"c": place.gid, "s": status}))["archiveRecords"]
        assert (other["totalCount"], other["edges"]) == (0, [])
    reads = await audit_rows(app, "archive.read")
    assert [(r.principal, r.subject) for r in reads] == [(f"user:{username}", str(place.cadre))]
    assert json.loads(reads[0].detail) == {"cadre": place.cadre, "records": len(nodes), "own": True}

    # It answers a verified record once; the answer stays on file, for admins too.
    target = next(n for n in nodes if n["response"] is None)
    answered = (await me.data(RESPOND, {"r": target["id"], "t": " 情况属实，已整改。 "}))[
        "respondToArchiveRecord"
    ]
    assert answered["response"] == "情况属实，已整改。" and answered["respondedAt"]
    error = await me.error(RESPOND, {"r": target["id"], "t": "再次说明"})
    assert code_of(error) == ("BAD_USER_INPUT", "recordId")
    admin_view = (await gql.data(RECORDS, {"c": place.gid, "f": 100}))["archiveRecords"]
    on_file = {e["node"]["id"]: e["node"]["response"] for e in admin_view["edges"]}
    assert on_file[target["id"]] == "情况属实，已整改。"
    assert [r.principal for r in await audit_rows(app, "archive.record.respond")] == [
        f"user:{username}"
    ]
    for bad in ("", "  ", "长" * 2001):
        error = await me.error(RESPOND, {"r": nodes[-1]["id"], "t": bad})
        assert code_of(error) == ("BAD_USER_INPUT", "response")
    # A record it cannot see (pending) is as absent as one that does not exist.
    refusals = [
        await me.error(RESPOND, {"r": pending, "t": "说明"}),
        await me.error(RESPOND, {"r": global_id("ArchiveRecord", 10**6), "t": "说明"}),
    ]
    assert {(code_of(e), e["message"]) for e in refusals} == {
        (("FORBIDDEN", None), "you may not respond to that record")
    }
    # Nobody keeps their own file: no entering, no reviewing (a member has no write at all).
    assert code_of(await me.error(CREATE, {"i": record_input(place)}))[0] == "FORBIDDEN"
    assert code_of(await me.error(REVIEW, {"r": pending, "v": "VERIFIED"}))[0] == "FORBIDDEN"

    # Other files stay closed to it, and its file to other members.
    other = next(p for p in await places(app) if p.cadre != place.cadre)
    assert (await me.data(CADRE, {"id": other.gid}))["cadre"] is None
    closed = (await me.data(RECORDS, {"c": other.gid}))["archiveRecords"]
    assert (closed["totalCount"], closed["edges"]) == (0, [])
    foreign = await fetch(
        app,
        select(ArchiveRecord.id)
        .where(ArchiveRecord.cadre_id == other.cadre, ArchiveRecord.status == ReviewStatus.VERIFIED)
        .limit(1),
    )
    error = await me.error(RESPOND, {"r": global_id("ArchiveRecord", foreign[0].id), "t": "说明"})
    assert code_of(error) == ("FORBIDDEN", None)
    stranger = await gql.as_user(await other_member_account(app))
    assert (await stranger.data(MY_CADRE))["myCadre"] is None
    assert (await stranger.data(CADRES))["cadres"]["totalCount"] == 0
    assert (await stranger.data(CADRE, {"id": place.gid}))["cadre"] is None
    assert (await stranger.data(RECORDS, {"c": place.gid}))["archiveRecords"]["totalCount"] == 0
    error = await stranger.error(RESPOND, {"r": target["id"], "t": "说明"})
    assert code_of(error) == ("FORBIDDEN", None)


async def test_a_cadre_who_is_also_an_admin_does_not_keep_its_own_file(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    place, username = await account_cadre(app)
    colleague = next(
        p for p in await places(app) if p.town == place.town and p.cadre != place.cadre
    )
    pending = (await create(gql, place))["id"]
    theirs = (await create(gql, colleague))["id"]
    # Made senior admin of its own town (an operator's grant, then a policy reload).
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            insert(CasbinRule).values(
                ptype="g", v0=f"user:{username}", v1="SENIOR_ADMIN", v2=f"/d01/{place.town[3:]}/*"
            )
        )
    await app.state.runtime.authz.load()
    me = await gql.as_user(username)
    # It keeps its colleagues' files now...
    assert (await me.data(CADRE, {"id": colleague.gid}))["cadre"]["id"] == colleague.gid
    done = (await me.data(REVIEW, {"r": theirs, "v": "VERIFIED"}))["reviewArchiveRecord"]
    assert done["status"] == "VERIFIED"
    # ...but its own it still reads as the cadre (VERIFIED only), and may not write in it.
    own = (await me.data(RECORDS, {"c": place.gid, "s": "PENDING"}))["archiveRecords"]
    assert own["totalCount"] == 0
    error = await me.error(REVIEW, {"r": pending, "v": "VERIFIED"})
    assert (code_of(error), error["message"]) == (
        ("FORBIDDEN", None),
        "you may not review records of that cadre's file",
    )
    error = await me.error(CREATE, {"i": record_input(place)})
    assert (code_of(error), error["message"]) == (("FORBIDDEN", None), DENIED)


# -- masking and the audit of unmasked reads ----------------------------------------------------


async def test_junior_admins_see_files_masked_senior_admins_unmasked_and_audited(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    place = await village_cadre(app)
    stored = {
        r.id: r
        for r in await fetch(
            app,
            select(
                ArchiveRecord.id,
                ArchiveRecord.evidence,
                ArchiveRecord.attachments,
                ArchiveRecord.review_note,
                ArchiveRecord.response,
            ).where(ArchiveRecord.cadre_id == place.cadre),
        )
    }
    junior = await gql.as_user(f"admin.{place.code}")
    senior = await gql.as_user(f"admin.{place.town}")

    masked = (await junior.data(RECORDS, {"c": place.gid, "f": 100}))["archiveRecords"]
    assert masked["totalCount"] == len(stored)  # every state: it keeps the village's files
    for edge in masked["edges"]:
        node = edge["node"]
        assert node["masked"] is True
        assert (node["evidence"], node["attachments"]) == (None, [])
        assert (node["reviewNote"], node["response"]) == (None, None)
        assert node["indicator"]["code"] and node["author"]  # the rest is shown
    assert await audit_rows(app, "archive.read") == []

    shown = (await senior.data(RECORDS, {"c": place.gid, "f": 100}))["archiveRecords"]
    assert shown["totalCount"] == len(stored)
    files = 0
    for edge in shown["edges"]:
        node = edge["node"]
        row = stored[parse_global_id(node["id"])[1]]
        assert node["masked"] is False
        assert (node["evidence"], node["reviewNote"], node["response"]) == (
            row.evidence,
            row.review_note,
            row.response,
        )
        expected = [
            {
                "name": a["name"],
                "contentType": a["content_type"],
                "size": a["size"],
                "sha256": a["sha256"],
            }
            for a in json.loads(row.attachments)
        ]
        assert node["attachments"] == expected
        files += len(expected)
    assert files > 0
    reads = await audit_rows(app, "archive.read")
    assert [(r.principal, r.tenant_path, r.subject) for r in reads] == [
        (f"user:admin.{place.town}", place.path, str(place.cadre))
    ]
    assert json.loads(reads[0].detail) == {
        "cadre": place.cadre,
        "records": min(100, len(stored)),
        "own": False,
    }
    # Pages continue with older records after the cursor.
    everything = [e["node"]["id"] for e in shown["edges"]]
    first = (await senior.data(RECORDS, {"c": place.gid, "f": 3}))["archiveRecords"]
    cursor = first["pageInfo"]["endCursor"]
    second = (await senior.data(RECORDS, {"c": place.gid, "f": 3, "a": cursor}))["archiveRecords"]
    paged = [e["node"]["id"] for e in first["edges"] + second["edges"]]
    assert paged == everything[:6] and first["pageInfo"]["hasNextPage"]
    # An empty page shows nothing and is not audited.
    reads = len(await audit_rows(app, "archive.read"))
    await senior.data(RECORDS, {"c": place.gid, "f": 0})
    assert len(await audit_rows(app, "archive.read")) == reads


# -- scoping ------------------------------------------------------------------------------------


async def test_files_outside_the_scope_are_absent_and_closed(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    place = await village_cadre(app)
    other_town = "d01t02" if place.town == "d01t01" else "d01t01"
    outsider = await gql.as_user(f"admin.{other_town}")
    before = await scalar(app, select(func.count()).select_from(ArchiveRecord))
    pending = (await create(gql, place))["id"]

    assert (await outsider.data(CADRE, {"id": place.gid}))["cadre"] is None
    listed = (await outsider.data(CADRES, {"f": 100}))["cadres"]
    assert place.gid not in {e["node"]["id"] for e in listed["edges"]}
    assert listed["totalCount"] == sum(p.code.startswith(other_town) for p in await places(app))
    records = (await outsider.data(RECORDS, {"c": place.gid}))["archiveRecords"]
    assert (records["totalCount"], records["edges"]) == (0, [])
    # Writing there is refused exactly as writing about something that does not exist.
    missing = str(global_id("Cadre", 10**6))
    for client, cadre in ((outsider, place.gid), (outsider, missing), (gql, missing)):
        error = await client.error(CREATE, {"i": record_input(place, cadreId=cadre)})
        assert (code_of(error), error["message"]) == (("FORBIDDEN", None), DENIED)
    for record in (pending, str(global_id("ArchiveRecord", 10**6))):
        error = await outsider.error(REVIEW, {"r": record, "v": "VERIFIED"})
        assert (code_of(error), error["message"]) == (
            ("FORBIDDEN", None),
            "you may not review records of that cadre's file",
        )
    # A junior admin of another village, and of the cadre's village for a town-level cadre.
    villages = sorted(
        {p.code for p in await places(app) if p.level == "VILLAGE" and p.code != place.code}
    )
    neighbour = await gql.as_user(f"admin.{villages[0]}")
    assert (await neighbour.data(CADRE, {"id": place.gid}))["cadre"] is None
    assert code_of(await neighbour.error(CREATE, {"i": record_input(place)}))[0] == "FORBIDDEN"
    assert code_of(await neighbour.error(REVIEW, {"r": pending, "v": "VERIFIED"}))[0] == (
        "FORBIDDEN"
    )
    at_town = next(p for p in await places(app) if p.level == "TOWN" and p.town == place.town)
    junior = await gql.as_user(f"admin.{place.code}")
    assert (await junior.data(CADRE, {"id": at_town.gid}))["cadre"] is None
    assert code_of(await junior.error(CREATE, {"i": record_input(at_town)}))[0] == "FORBIDDEN"
    # Nothing was written by the refusals; the pending record is still pending.
    assert await scalar(app, select(func.count()).select_from(ArchiveRecord)) == before + 1
    status = await scalar(
        app, select(ArchiveRecord.status).where(ArchiveRecord.id == parse_global_id(pending)[1])
    )
    assert str(status) == "PENDING"


# -- bad input ----------------------------------------------------------------------------------


async def test_bad_input_names_the_field_and_writes_nothing(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    place = await village_cadre(app)
    before = await scalar(app, select(func.count()).select_from(ArchiveRecord))
    file = record_input(place)["attachments"][0]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    cases: list[tuple[Json, str]] = [
        ({"occurredOn": tomorrow}, "occurredOn"),
        ({"occurredOn": "1999-12-31"}, "occurredOn"),
        ({"evidence": ""}, "evidence"),
        ({"evidence": "   "}, "evidence"),
        ({"evidence": "证" * 4001}, "evidence"),
        ({"attachments": [file] * 11}, "attachments"),
        ({"attachments": [file | {"size": 0}]}, "attachments"),
        ({"attachments": [file | {"size": 50 * 1024 * 1024 + 1}]}, "attachments"),
        ({"attachments": [file | {"sha256": "xyz"}]}, "attachments"),
        ({"attachments": [file | {"sha256": "g" * 64}]}, "attachments"),
        ({"attachments": [file | {"contentType": "pdf"}]}, "attachments"),
        ({"attachments": [file | {"name": ""}]}, "attachments"),
        ({"attachments": [file | {"name": "../etc/passwd"}]}, "attachments"),
        ({"indicatorCode": "NOPE99"}, "indicatorCode"),
        ({"cadreId": str(global_id("Member", place.member))}, "cadreId"),
        ({"cadreId": "not-an-id"}, "cadreId"),
    ]
    for changes, argument in cases:
        error = await gql.error(CREATE, {"i": record_input(place, **changes)})
        assert code_of(error) == ("BAD_USER_INPUT", argument), changes
    assert await scalar(app, select(func.count()).select_from(ArchiveRecord)) == before

    # The limits themselves are fine: 10 files of 50 MiB, 4,000 characters, an upper-case digest.
    edge = await create(
        gql,
        place,
        evidence="证" * 4000,
        occurredOn="2000-01-01",
        attachments=[file | {"size": 50 * 1024 * 1024, "sha256": SHA.upper()}] * 10,
    )
    assert len(edge["evidence"]) == 4000 and len(edge["attachments"]) == 10
    assert edge["attachments"][0]["sha256"] == SHA

    record = edge["id"]
    senior = await gql.as_user(f"admin.{place.town}")
    for variables, argument in [
        ({"r": record, "v": "VERIFIED", "n": "注" * 2001}, "note"),
        ({"r": str(global_id("Cadre", place.cadre)), "v": "VERIFIED"}, "recordId"),
        ({"r": "%%%", "v": "VERIFIED"}, "recordId"),
    ]:
        assert code_of(await senior.error(REVIEW, variables)) == ("BAD_USER_INPUT", argument)
    assert code_of(await gql.error(RECORDS, {"c": record})) == ("BAD_USER_INPUT", "cadreId")
    assert code_of(await gql.error(CADRES, {"s": "长" * 51})) == ("BAD_USER_INPUT", "search")
    assert code_of(await gql.error(RECORDS, {"c": place.gid, "f": 101})) == (
        "BAD_USER_INPUT",
        "first",
    )
    # Anonymous callers get nothing at all.
    error = await gql.anonymous().error(RECORDS, {"c": place.gid})
    assert code_of(error)[0] == "UNAUTHENTICATED"


async def test_indicator_counts_in_the_database_match_the_catalogue(
    seeded: tuple[GraphQLClient, Any],
) -> None:
    _, app = seeded
    rows = await fetch(
        app,
        select(ArchiveIndicator.context, ArchiveIndicator.polarity, func.count()).group_by(
            ArchiveIndicator.context, ArchiveIndicator.polarity
        ),
    )
    stored = {(str(c), str(p)): n for c, p, n in rows}
    expected = Counter((x.context.value, x.polarity.value) for x in catalogue.INDICATORS)
    assert stored == dict(expected)


async def test_archive_lists_do_not_run_a_query_per_row(
    seeded: tuple[GraphQLClient, Any],
) -> None:
    gql, app = seeded
    place = await village_cadre(app)
    cadres = (
        "query($n: Int) { cadres(first: $n) { totalCount edges { node { name unit"
        " tenant { code parent { code } } member { name branch { name } } } } } }"
    )
    records = (
        "query($c: ID!, $n: Int) { archiveRecords(cadreId: $c, first: $n) { totalCount"
        " edges { node { evidence indicator { code tagCategory { name } }"
        " cadre { name tenant { code } member { name } } } } } }"
    )
    for size in (1, 10, 40):
        with statements(app) as seen:
            assert (await gql.data(cadres, {"n": size}))["cadres"]["edges"]
        # The page, its count, members (with branch), parent tenants.
        assert len(seen) <= 4, (size, seen)
        with statements(app) as seen:
            assert (await gql.data(records, {"c": place.gid, "n": size}))["archiveRecords"]["edges"]
        # The cadre, the page, its count, the member.
        assert len(seen) <= 4, (size, seen)
