"""One-form services, on SQLite and PostgreSQL: the form's checks per field type (naming the
field), the fan-out to every department at once, the derived status (all approve → COMPLETED
with its duration; one rejects → REJECTED, the rest withdrawn), decisions taken once and only
by the department's staff, the last two decisions racing (the application completes exactly
once), what applicants, staff and admins each see, the report's figures against the rows,
pagination, and the audit of every change."""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from schema.ids import global_id, parse_global_id
from server.audit.models import AuditEntry
from server.auth.models import User
from server.auth.passwords import hash_password
from server.branches.models import Branch
from server.errors import BadUserInput
from server.members.models import Member
from server.one_form import forms, service
from server.one_form.demo import SERVICE_TYPES
from server.one_form.models import OneFormApplication, OneFormApproval, OneFormDepartment
from tenants.models import Tenant
from tests.conftest import DEMO_PASSWORD, GraphQLClient

Json = dict[str, Any]

APPLICATION = """id serviceTypeCode status submittedAt completedAt durationSeconds applicantName
  applicantMemberId submittedBy tenantId tenantName values materials { key name contentType size }
  approvals { id status note decidedBy decidedAt createdAt department { code name } }"""
SUBMIT = f"""mutation($i: SubmitOneFormApplicationInput!) {{
  submitOneFormApplication(input: $i) {{ {APPLICATION} }} }}"""
DECIDE = f"""mutation($id: ID!, $approve: Boolean!, $note: String) {{
  decideOneFormApproval(id: $id, approve: $approve, note: $note) {{ {APPLICATION} }} }}"""
MINE = f"""query($first: Int, $after: String) {{ myOneFormApplications(first: $first,
  after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }}
  edges {{ node {{ {APPLICATION} }} }} }} }}"""
LISTED = """query($under: ID, $type: String, $status: OneFormApplicationStatus, $first: Int,
  $after: String) { oneFormApplications(under: $under, serviceType: $type, status: $status,
  first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { id status tenantId serviceTypeCode } } } }"""
QUEUE = """query($dept: String, $status: OneFormApprovalStatus, $first: Int, $after: String) {
  oneFormWorkQueue(department: $dept, status: $status, first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status department { code }
    application { id status applicantName values } } } } }"""
REPORT = """query($from: DateTime!, $to: DateTime!, $under: ID) {
  oneFormReport(from: $from, to: $to, under: $under) { from to types { serviceTypeCode
  serviceTypeName submitted completed rejected pending averageDurationSeconds
  medianDurationSeconds p90DurationSeconds } } }"""
CREATE_TYPE = """mutation($i: CreateOneFormServiceTypeInput!) {
  createOneFormServiceType(input: $i) { id code name active departments { code }
  fields { key label type required options maxLength } materials { key label } } }"""
ADD_STAFF = """mutation($d: String!, $u: String!) { addOneFormStaff(department: $d,
  username: $u) }"""
REMOVE_STAFF = """mutation($d: String!, $u: String!) { removeOneFormStaff(department: $d,
  username: $u) }"""
CREATE_DEPT = """mutation($c: String!, $n: String!) { createOneFormDepartment(code: $c, name: $n)
  { id code name } }"""
TYPES = """query($inactive: Boolean, $first: Int, $after: String) {
  oneFormServiceTypes(includeInactive: $inactive, first: $first, after: $after) { totalCount
  pageInfo { hasNextPage endCursor } edges { node { code active departments { code } } } } }"""
DEPARTMENTS = """query($first: Int, $after: String) { oneFormDepartments(first: $first,
  after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { code name } } } }"""
STAFF = """query($d: String!) { oneFormStaff(department: $d) { totalCount
  edges { node { username createdBy } } } }"""

# A form with one field of each type, for the tests' own service type.
TEST_FIELDS = [
    {"key": "fullName", "label": "姓名", "type": "TEXT", "required": True, "maxLength": 10},
    {"key": "age", "label": "年龄", "type": "NUMBER", "required": True},
    {"key": "birthDate", "label": "出生日期", "type": "DATE", "required": True},
    {"key": "urgent", "label": "加急", "type": "BOOL", "required": False},
    {
        "key": "stage",
        "label": "阶段",
        "type": "CHOICE",
        "required": True,
        "options": ["小学", "初中"],
    },
    # Personal data: masked for whoever is neither the applicant nor deciding.
    {"key": "phone", "label": "联系电话", "type": "PHONE", "required": False},
    {"key": "idNumber", "label": "身份证号", "type": "ID_NUMBER", "required": False},
]
TEST_MATERIALS = [{"key": "idCard", "label": "身份证"}, {"key": "photo", "label": "照片"}]
GOOD_VALUES = {"fullName": "王小明", "age": 7, "birthDate": "2019-03-01", "stage": "小学"}
GOOD_MATERIALS = [
    {"key": "idCard", "name": "id.pdf", "contentType": "application/pdf", "size": 1000},
    {"key": "photo", "name": "p.jpg", "contentType": "image/jpeg", "size": 2000},
]


def sample_form() -> forms.Form:
    return forms.declare(
        [
            forms.Field(
                f["key"],
                f["label"],
                forms.FieldType(f["type"]),
                f["required"],
                tuple(f.get("options", ())),
                f.get("maxLength"),
            )
            for f in TEST_FIELDS
        ],
        [forms.Material(m["key"], m["label"]) for m in TEST_MATERIALS],
    )


# -- the form's checks, without a database ------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "argument", "reason"),
    [
        ({"fullName": None}, "values.fullName", "required"),
        ({"fullName": "   "}, "values.fullName", "required"),
        ({"fullName": 12}, "values.fullName", "type"),
        ({"fullName": "十一个字的名字太长了啊"}, "values.fullName", "maxLength"),
        ({"age": "7"}, "values.age", "type"),
        ({"age": True}, "values.age", "type"),
        ({"age": None}, "values.age", "required"),
        ({"birthDate": "2019-02-30"}, "values.birthDate", "type"),
        ({"birthDate": "01/03/2019"}, "values.birthDate", "type"),
        ({"birthDate": 20190301}, "values.birthDate", "type"),
        ({"urgent": "yes"}, "values.urgent", "type"),
        ({"urgent": 1}, "values.urgent", "type"),
        ({"stage": "高中"}, "values.stage", "option"),
        ({"stage": None}, "values.stage", "required"),
        ({"nickname": "x"}, "values.nickname", "unknown"),
        # A JSON integer of hundreds of digits: float() of it overflows.
        ({"age": 10**400}, "values.age", "type"),
        ({"age": -(2**53)}, "values.age", "type"),
        ({"age": float("inf")}, "values.age", "type"),
        ({"phone": "1381234567"}, "values.phone", "type"),
        ({"phone": "12812345678"}, "values.phone", "type"),
        ({"phone": 13812345678}, "values.phone", "type"),
        ({"idNumber": "33100219870313001"}, "values.idNumber", "type"),
        ({"idNumber": "33100219870313001Y"}, "values.idNumber", "type"),
    ],
)
def test_each_field_type_is_checked_naming_the_field(
    change: Json, argument: str, reason: str
) -> None:
    values = {**GOOD_VALUES, **change}
    with pytest.raises(BadUserInput) as caught:
        forms.check_values(sample_form(), values)
    assert caught.value.extensions == {"argument": argument, "reason": reason}


def test_good_values_are_normalised() -> None:
    checked = forms.check_values(sample_form(), {**GOOD_VALUES, "fullName": " 王小明 ", "age": 7.5})
    assert checked == {**GOOD_VALUES, "age": 7.5}
    # An optional field may be null or absent; a given one is kept.
    assert "urgent" not in forms.check_values(sample_form(), {**GOOD_VALUES, "urgent": None})
    assert forms.check_values(sample_form(), {**GOOD_VALUES, "urgent": False})["urgent"] is False
    personal = forms.check_values(
        sample_form(),
        {**GOOD_VALUES, "phone": " 0576-88881234 ", "idNumber": "33100219870313001x"},
    )
    assert (personal["phone"], personal["idNumber"]) == ("0576-88881234", "33100219870313001X")
    assert forms.check_values(sample_form(), {**GOOD_VALUES, "age": -3})["age"] == -3
    assert forms.mask_values(sample_form(), {**GOOD_VALUES, **personal}) == {
        **GOOD_VALUES,
        "phone": "057******1234",
        "idNumber": "331***********001X",
    }
    # A date that is not one is refused without echoing it (messages reach logs).
    with pytest.raises(BadUserInput) as refused:
        forms.check_values(sample_form(), {**GOOD_VALUES, "birthDate": "2019-02-30"})
    assert "2019-02-30" not in str(refused.value)
    with pytest.raises(BadUserInput) as caught:
        forms.check_values(sample_form(), ["not", "an", "object"])
    assert caught.value.extensions["argument"] == "values"


@pytest.mark.parametrize(
    ("attachments", "argument"),
    [
        ([("idCard", "a.pdf", "application/pdf", 10)], "materials.photo"),
        (
            [("idCard", "a", "x/y", 10), ("photo", "p", "x/y", 1), ("extra", "e", "x/y", 1)],
            "materials.extra",
        ),
        ([("idCard", "a", "x/y", 10), ("idCard", "b", "x/y", 1)], "materials.idCard"),
        ([("idCard", "a", "x/y", 0), ("photo", "p", "x/y", 1)], "materials.idCard"),
        ([("idCard", " ", "x/y", 5), ("photo", "p", "x/y", 1)], "materials.idCard"),
        (
            [("idCard", "a", "x/y", 5), ("photo", "p", "x/y", forms.MAX_MATERIAL_BYTES + 1)],
            "materials.photo",
        ),
    ],
)
def test_materials_are_checked_naming_the_material(
    attachments: list[tuple[str, str, str, int]], argument: str
) -> None:
    with pytest.raises(BadUserInput) as caught:
        forms.check_materials(sample_form(), [forms.Attachment(*a) for a in attachments])
    assert caught.value.extensions["argument"] == argument


def test_declared_forms_are_checked() -> None:
    text = forms.FieldType.TEXT
    cases: list[tuple[list[forms.Field], list[forms.Material], str]] = [
        ([], [], "fields"),
        ([forms.Field("a", "A", text), forms.Field("a", "B", text)], [], "fields.a"),
        ([forms.Field("1a", "A", text)], [], "fields"),
        ([forms.Field("c", "C", forms.FieldType.CHOICE)], [], "fields.c"),
        ([forms.Field("c", "C", forms.FieldType.CHOICE, options=("x", "x"))], [], "fields.c"),
        ([forms.Field("n", "N", forms.FieldType.NUMBER, options=("x",))], [], "fields.n"),
        ([forms.Field("n", "N", forms.FieldType.NUMBER, max_length=5)], [], "fields.n"),
        ([forms.Field("t", "T", text, max_length=0)], [], "fields.t"),
        ([forms.Field("t", " ", text)], [], "fields.t"),
        ([forms.Field("t", "T", text)], [forms.Material("m", "M")] * 2, "materials.m"),
        # Huge declarations are refused, not stored.
        ([forms.Field("t", "长" * 61, text)], [], "fields.t"),
        ([forms.Field("c", "C", forms.FieldType.CHOICE, options=("x" * 61,))], [], "fields.c"),
        (
            [forms.Field("c", "C", forms.FieldType.CHOICE, options=tuple(map(str, range(51))))],
            [],
            "fields.c",
        ),
        ([forms.Field("t", "T", text)], [forms.Material("m", "M" * 61)], "materials.m"),
        (
            [forms.Field("t", "T", text)],
            [forms.Material(f"m{i}", "M") for i in range(21)],
            "materials",
        ),
        ([forms.Field("p", "P", forms.FieldType.PHONE, max_length=20)], [], "fields.p"),
        # A phone or ID number declared as TEXT would escape the masking.
        ([forms.Field("contact", "联系电话", text)], [], "fields.contact"),
        ([forms.Field("ownerIdNumber", "产权人证件", text)], [], "fields.ownerIdNumber"),
        ([forms.Field("x", "身份证号", text)], [], "fields.x"),
    ]
    for fields, materials, argument in cases:
        with pytest.raises(BadUserInput) as caught:
            forms.declare(fields, materials)
        assert caught.value.extensions["argument"] == argument, (fields, materials)


def test_durations_read_in_chinese() -> None:
    assert service.chinese_duration(0) == "不到1分钟"
    assert service.chinese_duration(59) == "不到1分钟"
    assert service.chinese_duration(45 * 60 + 59) == "45分钟"
    assert service.chinese_duration(3 * 3600) == "3小时"
    assert service.chinese_duration(3 * 3600 + 20 * 60) == "3小时20分钟"
    assert service.chinese_duration(86400 + 4 * 3600 + 59 * 60) == "1天4小时"
    assert service.chinese_duration(2 * 86400 + 59 * 60) == "2天"


def test_median_and_p90() -> None:
    assert service.median([]) is None and service.percentile([], 90) is None
    assert service.median([5]) == 5 and service.median([1, 3]) == 2
    values = list(range(1, 11))
    assert service.median(values) == 5.5
    assert service.percentile(values, 90) == 9  # nearest rank: the 9th of 10
    assert service.percentile(list(range(1, 12)), 90) == 10  # ceil(9.9) = 10th of 11
    assert service.percentile([7, 8], 90) == 8


def test_demo_forms_accept_their_demo_values() -> None:
    from datetime import date

    from server.one_form.demo import one_form_rows
    from tenants.demo import generate

    as_of = date(2026, 6, 1)
    tables = one_form_rows(generate("small", seed=3, as_of=as_of), seed=3, as_of=as_of)
    by_name = {table.name: rows for table, rows in tables}
    assert len(SERVICE_TYPES) == 6
    kinds = {
        t["id"]: forms.load(t["fields"], t["materials"]) for t in by_name["one_form_service_types"]
    }
    apps = by_name["one_form_applications"]
    assert 200 <= len(apps) <= 800
    for app in apps:
        form = kinds[app["service_type_id"]]
        forms.check_values(form, json.loads(app["values"]))
        forms.check_materials(
            form,
            [
                forms.Attachment(m["key"], m["name"], m["contentType"], m["size"])
                for m in json.loads(app["materials"])
            ],
        )
        assert (app["status"] == "PENDING") == (app["completed_at"] is None)


# -- helpers over the app -----------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    member_id: int
    path: str


async def member_accounts(app: Any) -> list[Account]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(User.username, User.member_id, Tenant.path)
            .join(Member, Member.id == User.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .order_by(User.member_id)
        )
        return [Account(*r) for r in rows]


async def make_user(app: Any, username: str) -> None:
    """A plain account without a member record or role: what department staff are."""
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            insert(User).values(
                username=username,
                password_hash=hash_password(DEMO_PASSWORD),
                member_id=None,
                is_active=True,
                created_at=datetime.now(UTC),
            )
        )


async def tenant_gid(app: Any, path: str) -> str:
    async with app.state.runtime.engine.connect() as conn:
        pk = await conn.scalar(select(Tenant.id).where(Tenant.path == path))
    return str(global_id("Tenant", pk))


@dataclass(frozen=True)
class Logged:
    principal: str
    tenant_path: str | None
    subject: str | None
    detail: Json


async def audit_rows(app: Any, action: str) -> list[Logged]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            select(
                AuditEntry.principal, AuditEntry.tenant_path, AuditEntry.subject, AuditEntry.detail
            )
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [
            Logged(r.principal, r.tenant_path, r.subject, json.loads(r.detail or "{}"))
            for r in rows
        ]


async def scalar(app: Any, stmt: Any) -> Any:
    async with app.state.runtime.engine.connect() as conn:
        return await conn.scalar(stmt)


@dataclass
class Setup:
    admin: GraphQLClient
    staff: dict[str, GraphQLClient]  # department code -> a client of its staff
    departments: list[str]


async def setup(client: GraphQLClient, app: Any, code: str = "TESTS", n: int = 3) -> Setup:
    """Departments of the test's own (no demo applications), one staff account each, and a
    service type `code` needing all of them, made through the API by the district admin."""
    depts = [f"{code}D{i}" for i in range(1, n + 1)]
    staff: dict[str, GraphQLClient] = {}
    for i, dept in enumerate(depts, start=1):
        await client.data(CREATE_DEPT, {"c": dept, "n": f"测试部门{i}"})
        username = f"staff.{dept.lower()}"
        await make_user(app, username)
        assert (await client.data(ADD_STAFF, {"d": dept, "u": username}))["addOneFormStaff"]
        staff[dept] = await client.as_user(username)
    await client.data(
        CREATE_TYPE,
        {
            "i": {
                "code": code,
                "name": "测试一件事",
                "description": "测试用",
                "fields": TEST_FIELDS,
                "materials": TEST_MATERIALS,
                "departments": depts,
            }
        },
    )
    return Setup(client, staff, depts)


def submission(code: str = "TESTS", **values: Any) -> Json:
    return {
        "i": {"serviceType": code, "values": {**GOOD_VALUES, **values}, "materials": GOOD_MATERIALS}
    }


async def submit(gql: GraphQLClient, code: str = "TESTS", **values: Any) -> Json:
    made: Json = (await gql.data(SUBMIT, submission(code, **values)))["submitOneFormApplication"]
    return made


def approval_of(app_node: Json, dept: str) -> str:
    return next(a["id"] for a in app_node["approvals"] if a["department"]["code"] == dept)


async def decide(
    gql: GraphQLClient, approval: str, approve: bool = True, note: str | None = None
) -> Json:
    body: Json = (await gql.data(DECIDE, {"id": approval, "approve": approve, "note": note}))[
        "decideOneFormApproval"
    ]
    return body


# -- submitting and the fan-out -----------------------------------------------------------------


async def test_a_submission_fans_out_to_every_department_at_once(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app, n=4)
    me = (await member_accounts(app))[0]
    member = await client.as_user(me.username)
    made = await submit(member)
    assert made["status"] == "PENDING"
    assert made["completedAt"] is None and made["durationSeconds"] is None
    assert made["applicantMemberId"] == str(global_id("Member", me.member_id))
    assert made["values"] == GOOD_VALUES
    assert [m["key"] for m in made["materials"]] == ["idCard", "photo"]
    # One approval per department, all pending, all created in the same instant: nobody waits
    # for another department.
    approvals = made["approvals"]
    assert sorted(a["department"]["code"] for a in approvals) == sorted(s.departments)
    assert {a["status"] for a in approvals} == {"PENDING"}
    assert len({a["createdAt"] for a in approvals}) == 1
    assert approvals[0]["createdAt"] == made["submittedAt"]
    pk = parse_global_id(made["id"])[1]
    stored = await scalar(
        app,
        select(func.count())
        .select_from(OneFormApproval)
        .where(OneFormApproval.application_id == pk, OneFormApproval.status == "PENDING"),
    )
    assert stored == 4
    # Every department's staff finds it in its queue at once.
    for dept, gql in s.staff.items():
        queue = (await gql.data(QUEUE))["oneFormWorkQueue"]
        assert [e["node"]["application"]["id"] for e in queue["edges"]] == [made["id"]], dept
        assert queue["edges"][0]["node"]["department"]["code"] == dept
    # The application belongs to the member's branch tenant.
    assert made["tenantId"] == await tenant_gid(app, me.path)
    entries = await audit_rows(app, "one_form.submit")
    assert [(e.principal, e.tenant_path, e.subject) for e in entries] == [
        (f"user:{me.username}", me.path, str(pk))
    ]
    assert entries[0].detail["departments"] == s.departments


async def test_bad_submissions_name_the_field_and_write_nothing(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    before = await scalar(app, select(func.count()).select_from(OneFormApplication))
    cases: list[tuple[Json, str]] = [
        (submission(birthDate="2019-13-01"), "values.birthDate"),
        (submission(age="seven"), "values.age"),
        (submission(stage="大学"), "values.stage"),
        (submission(urgent="true"), "values.urgent"),
        (submission(fullName="x" * 11), "values.fullName"),
        (submission(other=1), "values.other"),
        (submission(idNumber="123"), "values.idNumber"),
        (
            {
                "i": {
                    **submission()["i"],
                    "values": {k: v for k, v in GOOD_VALUES.items() if k != "age"},
                }
            },
            "values.age",
        ),
        ({"i": {**submission()["i"], "materials": GOOD_MATERIALS[:1]}}, "materials.photo"),
        ({"i": {**submission()["i"], "serviceType": "NOPE"}}, "serviceType"),
        ({"i": {**submission()["i"], "applicantName": "张三"}}, "applicantName"),
    ]
    for variables, argument in cases:
        error = await member.error(SUBMIT, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (argument, error)
        assert error["extensions"]["argument"] == argument
    # A number of hundreds of digits, as a literal in the query (JSON bodies refuse it): it
    # was INTERNAL_SERVER_ERROR (OverflowError converting it to a float).
    materials = ", ".join(
        f'{{key: "{m["key"]}", name: "x", contentType: "x/y", size: 1}}' for m in GOOD_MATERIALS
    )
    literal = f"""mutation {{ submitOneFormApplication(input: {{serviceType: "TESTS",
      values: {{fullName: "王", age: {10**400}, birthDate: "2019-03-01", stage: "小学"}},
      materials: [{materials}]}}) {{ id }} }}"""
    error = await member.error(literal)
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "values.age",
    )
    assert await scalar(app, select(func.count()).select_from(OneFormApplication)) == before
    assert await audit_rows(app, "one_form.submit") == []


# -- deciding and the derived status ------------------------------------------------------------


async def test_all_approve_completes_with_its_duration(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    s = await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    made = await submit(member)
    for i, dept in enumerate(s.departments):
        after = await decide(s.staff[dept], approval_of(made, dept), True, f"同意{i}")
        last = i == len(s.departments) - 1
        assert after["status"] == ("COMPLETED" if last else "PENDING")
        mine = next(a for a in after["approvals"] if a["department"]["code"] == dept)
        assert (mine["status"], mine["note"]) == ("APPROVED", f"同意{i}")
        assert mine["decidedBy"] == f"user:staff.{dept.lower()}"
    assert after["completedAt"] is not None
    submitted = datetime.fromisoformat(after["submittedAt"])
    completed = datetime.fromisoformat(after["completedAt"])
    assert after["durationSeconds"] == int((completed - submitted).total_seconds())
    assert after["durationSeconds"] >= 0
    # The applicant follows it: every department's decision, note and time.
    followed = (await member.data(MINE))["myOneFormApplications"]["edges"][0]["node"]
    assert followed["status"] == "COMPLETED"
    assert {(a["department"]["code"], a["status"], a["note"]) for a in followed["approvals"]} == {
        (d, "APPROVED", f"同意{i}") for i, d in enumerate(s.departments)
    }
    assert all(a["decidedAt"] for a in followed["approvals"])
    pk = parse_global_id(made["id"])[1]
    assert [e.subject for e in await audit_rows(app, "one_form.complete")] == [str(pk)]
    approvals = await audit_rows(app, "one_form.approve")
    assert [e.detail["department"] for e in approvals] == s.departments
    # The queues are empty again.
    for gql in s.staff.values():
        assert (await gql.data(QUEUE))["oneFormWorkQueue"]["totalCount"] == 0


async def test_one_rejection_rejects_and_withdraws_the_rest(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    made = await submit(member)
    first, second, third = s.departments
    await decide(s.staff[first], approval_of(made, first), True)
    # A rejection without a note is refused: the applicant must learn why.
    error = await s.staff[second].error(DECIDE, {"id": approval_of(made, second), "approve": False})
    assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
        "BAD_USER_INPUT",
        "note",
    )
    after = await decide(s.staff[second], approval_of(made, second), False, "材料不全")
    assert after["status"] == "REJECTED"
    assert after["completedAt"] is not None and after["durationSeconds"] is not None
    states = {a["department"]["code"]: a["status"] for a in after["approvals"]}
    assert states == {first: "APPROVED", second: "REJECTED", third: "WITHDRAWN"}
    # The withdrawn one left the third department's queue, and can no longer be decided.
    assert (await s.staff[third].data(QUEUE))["oneFormWorkQueue"]["edges"] == []
    error = await s.staff[third].error(DECIDE, {"id": approval_of(made, third), "approve": True})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (error["extensions"]["argument"], error["extensions"]["state"]) == ("id", "WITHDRAWN")
    withdrawn = await s.staff[third].data(QUEUE, {"status": "WITHDRAWN"})
    assert withdrawn["oneFormWorkQueue"]["totalCount"] == 1
    rejected = await audit_rows(app, "one_form.rejected")
    assert [e.subject for e in rejected] == [str(parse_global_id(made["id"])[1])]
    assert (await audit_rows(app, "one_form.reject"))[0].detail["note"] == "材料不全"
    assert await audit_rows(app, "one_form.complete") == []


async def test_a_second_decision_is_refused_naming_the_state(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    made = await submit(member)
    dept = s.departments[0]
    await decide(s.staff[dept], approval_of(made, dept), True)
    for approve in (True, False):
        error = await s.staff[dept].error(
            DECIDE, {"id": approval_of(made, dept), "approve": approve, "note": "再来一次"}
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["state"] == "APPROVED"
        assert "APPROVED" in error["message"]
    assert len(await audit_rows(app, "one_form.approve")) == 1
    assert await audit_rows(app, "one_form.reject") == []


async def test_only_the_departments_staff_decide(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    s = await setup(client, app)
    accounts = await member_accounts(app)
    member = await client.as_user(accounts[0].username)
    made = await submit(member)
    first, second, _ = s.departments
    target = approval_of(made, first)
    outsiders = [
        s.staff[second],  # staff of another department of the same application
        client,  # the SUPER admin
        await client.as_user("admin.d01t01"),
        member,  # the applicant itself
    ]
    missing = str(global_id("OneFormApproval", 10**9))
    for gql in outsiders:
        error = await gql.error(DECIDE, {"id": target, "approve": True})
        assert error["extensions"]["code"] == "FORBIDDEN"
        # An approval that does not exist gets the very same answer.
        absent = await gql.error(DECIDE, {"id": missing, "approve": True})
        assert (absent["extensions"]["code"], absent["message"]) == ("FORBIDDEN", error["message"])
    # Nothing moved; the refusals were audited.
    status = await scalar(
        app, select(OneFormApproval.status).where(OneFormApproval.id == parse_global_id(target)[1])
    )
    assert status == "PENDING"
    denied = [e.detail["what"] for e in await audit_rows(app, "denied")]
    assert denied.count("decide this one-form approval") == 2 * len(outsiders)
    # Staff removed from its department loses its queue and its right to decide.
    await client.data(REMOVE_STAFF, {"d": first, "u": f"staff.{first.lower()}"})
    assert (await s.staff[first].data(QUEUE))["oneFormWorkQueue"]["totalCount"] == 0
    error = await s.staff[first].error(DECIDE, {"id": target, "approve": True})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert [e.subject for e in await audit_rows(app, "one_form.staff.remove")] == [
        f"staff.{first.lower()}"
    ]


async def test_the_last_two_decisions_racing_complete_it_exactly_once(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """Both through the API at once, several times; then the interleaving that breaks a
    check without the application's lock, made deterministic: the second decision starts
    while the first one's transaction is still open."""
    client, app = fresh
    s = await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    first, second, third = s.departments
    made = [await submit(member) for _ in range(6)]
    for node in made:
        await decide(s.staff[first], approval_of(node, first), True)
    for node in made[:5]:
        results = await asyncio.gather(
            decide(s.staff[second], approval_of(node, second), True),
            decide(s.staff[third], approval_of(node, third), True),
        )
        assert {r["status"] for r in results} <= {"PENDING", "COMPLETED"}
        assert "COMPLETED" in {r["status"] for r in results}
    completions = [e.subject for e in await audit_rows(app, "one_form.complete")]
    assert sorted(completions) == sorted(str(parse_global_id(n["id"])[1]) for n in made[:5])
    events = await one_form_events(client)
    assert sorted(e["payload"]["application"] for e in events) == sorted(
        parse_global_id(n["id"])[1] for n in made[:5]
    )

    node = made[5]
    runtime = app.state.runtime
    now = datetime.now(UTC)

    async def found(dept: str) -> Any:
        async with runtime.engine.connect() as conn:
            return await service.approval_for_staff(
                conn,
                approval_id=parse_global_id(approval_of(node, dept))[1],
                username=f"staff.{dept.lower()}",
            )

    a, b = await found(second), await found(third)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def slow_first() -> service.Decision:
        async with runtime.engine.begin() as conn:
            decision = await service.decide(
                conn, found=a, approve=True, note=None, actor=service.Actor("t", None, now)
            )
            holding.set()
            await release.wait()
        return decision

    async def then_second() -> service.Decision:
        async with runtime.engine.begin() as conn:
            return await service.decide(
                conn, found=b, approve=True, note=None, actor=service.Actor("t", None, now)
            )

    one = asyncio.create_task(slow_first())
    await holding.wait()
    two = asyncio.create_task(then_second())
    await asyncio.sleep(0.3)
    assert not two.done()  # it waits for the first one's transaction
    release.set()
    d1, d2 = await one, await two
    assert (d1.completed, d1.status.value) == (False, "PENDING")
    assert (d2.completed, d2.status.value) == (True, "COMPLETED")
    pk = parse_global_id(node["id"])[1]
    assert (
        await scalar(app, select(OneFormApplication.status).where(OneFormApplication.id == pk))
        == "COMPLETED"
    )
    assert [e.subject for e in await audit_rows(app, "one_form.complete")].count(str(pk)) == 1
    # One feed event per application: the losing decision of each race emitted none.
    events = [e["payload"]["application"] for e in await one_form_events(client)]
    assert sorted(events) == sorted(parse_global_id(n["id"])[1] for n in made)
    assert d2.event is not None and d1.event is None


# -- the command center's feed ------------------------------------------------------------------

FEED_EVENTS = """query($first: Int) { feedEvents(kinds: [BRANCH_ACTIVITY], first: $first) {
  edges { node { id title kind light payload tenant { path } branch { id } } } } }"""


async def one_form_events(gql: GraphQLClient) -> list[Json]:
    """The one-form events the viewer sees in the feed's history, newest first."""
    edges = (await gql.data(FEED_EVENTS, {"first": 100}))["feedEvents"]["edges"]
    return [e["node"] for e in edges if (e["node"]["payload"] or {}).get("source") == "one_form"]


def town_admins(path: str) -> tuple[str, str]:
    """The admin of the town of `path`, and of another town."""
    district, town = path.strip("/").split("/")[:2]
    other = "t02" if town != "t02" else "t01"
    return f"admin.{district}{town}", f"admin.{district}{other}"


async def test_closing_an_application_reaches_the_feed_once_without_personal_data(
    fresh: tuple[GraphQLClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, app = fresh
    hub = app.state.runtime.hub
    published: list[int] = []
    publish = hub.publish

    async def recorded(events: Any) -> None:
        published.extend(e.id for e in events if e.data.get("source") == "one_form")
        await publish(events)

    # What the decision's transaction left in its outbox, published after the commit.
    monkeypatch.setattr(hub, "publish", recorded)
    s = await setup(client, app)
    me = (await member_accounts(app))[0]
    member = await client.as_user(me.username)
    made = await submit(member, phone="13812345678", idNumber="33100219870313001X")
    pk = parse_global_id(made["id"])[1]
    first, second, third = s.departments
    await decide(s.staff[first], approval_of(made, first))
    await decide(s.staff[second], approval_of(made, second))
    assert await one_form_events(client) == []  # nothing to tell while it is pending
    done = await decide(s.staff[third], approval_of(made, third))
    [event] = await one_form_events(client)
    assert published == [parse_global_id(event["id"])[1]]
    duration = done["durationSeconds"]
    assert event["title"] == f"一件事办结：测试一件事（用时 {service.chinese_duration(duration)}）"
    assert (event["kind"], event["tenant"]["path"], event["branch"]) == (
        "BRANCH_ACTIVITY",
        me.path,
        None,
    )
    assert event["payload"] == {
        "source": "one_form",
        "application": pk,
        "serviceType": "TESTS",
        "status": "COMPLETED",
        "durationSeconds": duration,
    }
    # Nothing personal: neither the applicant's name nor any value of the form.
    text = json.dumps(event, ensure_ascii=False)
    for secret in [made["applicantName"], *map(str, made["values"].values())]:
        assert secret not in text, secret
    # A rejection: one event, at the moment of the rejection; the withdrawn rest add none.
    refused = await submit(member)
    await decide(s.staff[second], approval_of(refused, second), False, "材料不全")
    error = await s.staff[third].error(DECIDE, {"id": approval_of(refused, third), "approve": True})
    assert error["extensions"]["state"] == "WITHDRAWN"
    events = await one_form_events(client)
    assert [e["payload"]["status"] for e in events] == ["REJECTED", "COMPLETED"]
    assert published == [parse_global_id(e["id"])[1] for e in reversed(events)]
    assert events[0]["title"] == "一件事退回：测试一件事"
    assert events[0]["payload"]["application"] == parse_global_id(refused["id"])[1]
    assert "材料不全" not in json.dumps(events[0], ensure_ascii=False)
    # At the application's tenant: its town's admin sees both, another town's none.
    own_town, other_town = town_admins(me.path)
    assert len(await one_form_events(await client.as_user(own_town))) == 2
    assert await one_form_events(await client.as_user(other_town)) == []


# -- who sees what ------------------------------------------------------------------------------

PRIVATE = """id submittedBy applicantMemberId applicantName values"""
QUEUE_PRIVATE = f"""query($status: OneFormApprovalStatus) {{ oneFormWorkQueue(status: $status) {{
  edges {{ node {{ id application {{ {PRIVATE} }} }} }} }} }}"""
LISTED_PRIVATE = f"""query {{ oneFormApplications(first: 100) {{
  edges {{ node {{ {PRIVATE} }} }} }} }}"""
MINE_PRIVATE = (
    f"""query {{ myOneFormApplications(first: 1) {{ edges {{ node {{ {PRIVATE} }} }} }} }}"""
)
CLEAR = {"phone": "13812345678", "idNumber": "33100219870313001X"}
MASKED = {"phone": "138****5678", "idNumber": "331***********001X"}


def personal(node: Json) -> Json:
    return {k: node["values"][k] for k in CLEAR}


async def test_personal_fields_are_masked_but_for_the_applicant_and_the_deciding_staff(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app, n=2)
    me = (await member_accounts(app))[0]
    member = await client.as_user(me.username)
    made = await submit(member, phone=CLEAR["phone"], idNumber=CLEAR["idNumber"].lower())
    pk = parse_global_id(made["id"])[1]
    member_gid = str(global_id("Member", me.member_id))
    assert personal(made) == CLEAR  # the applicant, as normalised
    first, second = s.departments
    # The staff deciding it read the values whole, but not which account or member applied.
    queued = (await s.staff[first].data(QUEUE_PRIVATE))["oneFormWorkQueue"]["edges"]
    [application] = [e["node"]["application"] for e in queued]
    assert personal(application) == CLEAR
    assert application["values"]["fullName"] == GOOD_VALUES["fullName"]
    assert (application["submittedBy"], application["applicantMemberId"]) == (None, None)
    # Decided: no longer deciding, so masked, in the answer and in the queue's history.
    after = await decide(s.staff[first], approval_of(made, first))
    assert personal(after) == MASKED and after["submittedBy"] is None
    history = await s.staff[first].data(QUEUE_PRIVATE, {"status": "APPROVED"})
    assert personal(history["oneFormWorkQueue"]["edges"][0]["node"]["application"]) == MASKED
    # The other department is still deciding: whole.
    queued = (await s.staff[second].data(QUEUE_PRIVATE))["oneFormWorkQueue"]["edges"]
    assert personal(queued[0]["node"]["application"]) == CLEAR
    # Admins see who applied, but the phone and ID masked.
    listed = (await client.data(LISTED_PRIVATE))["oneFormApplications"]["edges"]
    mine = next(e["node"] for e in listed if e["node"]["id"] == made["id"])
    assert personal(mine) == MASKED
    assert (mine["submittedBy"], mine["applicantMemberId"]) == (f"user:{me.username}", member_gid)
    # The applicant still reads its own whole.
    own = (await member.data(MINE_PRIVATE))["myOneFormApplications"]["edges"][0]["node"]
    assert personal(own) == CLEAR and own["applicantMemberId"] == member_gid
    # Every read of the values by staff or admins is audited; the applicant's own are not.
    reads = [e for e in await audit_rows(app, "one_form.read") if e.subject == str(pk)]
    assert [(e.principal, e.detail["unmasked"]) for e in reads] == [
        (f"user:staff.{first.lower()}", True),  # its queue
        (f"user:staff.{first.lower()}", False),  # the decision's answer
        (f"user:staff.{first.lower()}", False),  # its history
        (f"user:staff.{second.lower()}", True),
        ("user:admin", False),
    ]
    assert all(e.tenant_path == me.path for e in reads)
    # A list that does not ask for the values reads none: nothing audited.
    count = len(await audit_rows(app, "one_form.read"))
    await client.data(LISTED)
    await s.staff[second].data(QUEUE)  # it selects values: audited
    assert len(await audit_rows(app, "one_form.read")) == count + 1


async def test_an_admin_submitting_on_a_residents_behalf_reads_it_whole_audited(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    await setup(client, app)
    senior = await client.as_user("admin.d01t01")
    variables = submission(phone=CLEAR["phone"], idNumber=CLEAR["idNumber"])
    variables["i"] |= {"tenant": await tenant_gid(app, "/d01/t01/"), "applicantName": "李大爷"}
    made = (await senior.data(SUBMIT, variables))["submitOneFormApplication"]
    assert personal(made) == CLEAR  # it typed them in
    # The district admin did not: masked.
    listed = (await client.data(LISTED_PRIVATE))["oneFormApplications"]["edges"]
    assert personal(next(e["node"] for e in listed if e["node"]["id"] == made["id"])) == MASKED
    pk = str(parse_global_id(made["id"])[1])
    reads = await audit_rows(app, "one_form.read")
    assert [(e.principal, e.detail["unmasked"]) for e in reads if e.subject == pk] == [
        ("user:admin.d01t01", True),
        ("user:admin", False),
    ]
    # The page's other applications were read too, each audited once.
    assert len(reads) == 1 + len(listed) and len({e.subject for e in reads}) == len(listed)


async def test_ids_of_another_kind_or_malformed_are_bad_input(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app, n=1)
    dept = s.departments[0]
    member_id = str(global_id("Member", 1))
    behalf = submission()
    behalf["i"] |= {"tenant": member_id, "applicantName": "李大爷"}
    cases: list[tuple[GraphQLClient, str, Json, str]] = [
        (s.staff[dept], DECIDE, {"id": member_id, "approve": True}, "id"),
        (s.staff[dept], DECIDE, {"id": "not an id", "approve": True}, "id"),
        (client, SUBMIT, behalf, "tenant"),
        (client, LISTED, {"under": member_id}, "under"),
        (client, LISTED, {"under": "!!"}, "under"),
        (client, LISTED, {"after": "!!"}, "after"),
        (s.staff[dept], QUEUE, {"first": -1}, "first"),
    ]
    for gql, query, variables, argument in cases:
        error = await gql.error(query, variables)
        assert (error["extensions"]["code"], error["extensions"].get("argument")) == (
            "BAD_USER_INPUT",
            argument,
        ), variables


async def test_nul_characters_are_bad_input_on_both_backends(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """PostgreSQL stores no NUL in text: it failed there as INTERNAL_SERVER_ERROR (and SQLite
    stored it)."""
    client, app = fresh
    s = await setup(client, app)
    member = await client.as_user((await member_accounts(app))[0].username)
    made = await submit(member)
    dept = s.departments[0]
    behalf = submission()
    behalf["i"] |= {"tenant": await tenant_gid(app, "/d01/t01/"), "applicantName": "李\x00大爷"}
    create = {
        "code": "NUL",
        "name": "新事",
        "description": "说明\x00",
        "fields": TEST_FIELDS,
        "departments": [dept],
    }
    cases: list[tuple[GraphQLClient, str, Json, str]] = [
        (client, CREATE_DEPT, {"c": "NUL1", "n": "某\x00局"}, "name"),
        (client, CREATE_TYPE, {"i": create}, "description"),
        (client, CREATE_TYPE, {"i": {**create, "description": "", "name": "\x00"}}, "name"),
        (client, SUBMIT, behalf, "applicantName"),
        (
            s.staff[dept],
            DECIDE,
            {"id": approval_of(made, dept), "approve": False, "note": "缺\x00材料"},
            "note",
        ),
    ]
    for gql, query, variables, argument in cases:
        error = await gql.error(query, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        ), variables
    # Nothing was written.
    assert await audit_rows(app, "one_form.reject") == []
    assert len(await audit_rows(app, "one_form.submit")) == 1
    assert len(await audit_rows(app, "one_form.department.create")) == len(s.departments)


async def test_concurrent_duplicates_of_reference_data_are_bad_input(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """Two requests creating the same department (or adding the same staff) at once: both
    pass the existence check; the loser's insert meets the unique index. It must answer
    BAD_USER_INPUT like a plain duplicate, not INTERNAL_SERVER_ERROR."""
    _client, app = fresh
    runtime = app.state.runtime
    actor = service.Actor("user:admin", None, datetime.now(UTC))

    async def race(write: Any) -> BadUserInput:
        holding, release = asyncio.Event(), asyncio.Event()

        async def winner() -> None:
            async with runtime.engine.begin() as conn:
                await write(conn)
                holding.set()
                await release.wait()

        async def loser() -> None:
            async with runtime.engine.begin() as conn:
                await write(conn)

        one = asyncio.create_task(winner())
        await holding.wait()
        two = asyncio.create_task(loser())
        await asyncio.sleep(0.3)
        release.set()
        await one
        with pytest.raises(BadUserInput) as caught:
            await two
        return caught.value

    async def department(conn: Any) -> None:
        await service.create_department(conn, code="RACE", name="竞争局", actor=actor, path="/d01/")

    async def staff(conn: Any) -> None:
        await service.add_staff(
            conn, department="RACE", username="admin.d01t01", actor=actor, path="/d01/"
        )

    assert (await race(department)).extensions["argument"] == "code"
    assert (await race(staff)).extensions["argument"] == "username"
    created = await audit_rows(app, "one_form.department.create")
    assert [e.subject for e in created] == ["RACE"]
    assert len(await audit_rows(app, "one_form.staff.add")) == 1


async def test_applicants_see_their_own_only(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    await setup(client, app)
    accounts = await member_accounts(app)
    me, other = accounts[0], accounts[1]
    mine_gql = await client.as_user(me.username)
    theirs_gql = await client.as_user(other.username)
    async with app.state.runtime.engine.connect() as conn:
        demo_mine = await conn.scalar(
            select(func.count())
            .select_from(OneFormApplication)
            .where(OneFormApplication.applicant_member_id == me.member_id)
        )
        demo_theirs = await conn.scalar(
            select(func.count())
            .select_from(OneFormApplication)
            .where(OneFormApplication.applicant_member_id == other.member_id)
        )
    made = [await submit(mine_gql, fullName=f"甲{i}") for i in range(3)]
    await submit(theirs_gql, fullName="乙")
    page = (await mine_gql.data(MINE, {"first": 2}))["myOneFormApplications"]
    assert page["totalCount"] == demo_mine + 3
    assert [e["node"]["id"] for e in page["edges"]] == [made[2]["id"], made[1]["id"]]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = (await mine_gql.data(MINE, {"first": 100, "after": page["pageInfo"]["endCursor"]}))[
        "myOneFormApplications"
    ]
    assert rest["edges"][0]["node"]["id"] == made[0]["id"]
    assert rest["pageInfo"]["hasNextPage"] is False
    everything = [e["node"] for e in page["edges"] + rest["edges"]]
    assert len(everything) == demo_mine + 3
    assert {n["applicantMemberId"] for n in everything} == {str(global_id("Member", me.member_id))}
    theirs = (await theirs_gql.data(MINE, {"first": 100}))["myOneFormApplications"]
    assert theirs["totalCount"] == demo_theirs + 1
    assert made[0]["id"] not in {e["node"]["id"] for e in theirs["edges"]}
    # Members do not list others' applications: that is for admins.
    error = await mine_gql.error(LISTED)
    assert error["extensions"]["code"] == "FORBIDDEN"
    # An account without a member record has no applications of its own.
    assert (await client.error(MINE))["extensions"]["code"] == "FORBIDDEN"
    # Anonymous: nothing.
    anonymous = await client.anonymous().error(MINE)
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"


async def count_under(app: Any, prefix: str) -> int:
    async with app.state.runtime.engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(OneFormApplication)
                .join(Tenant, Tenant.id == OneFormApplication.tenant_id)
                .where(Tenant.path.startswith(prefix))
            )
        )


async def test_admins_list_their_subtree(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    await setup(client, app)
    total = await count_under(app, "/")
    town1, town2 = await count_under(app, "/d01/t01/"), await count_under(app, "/d01/t02/")
    assert total > 0 and town1 > 0 and town2 > 0
    assert (await client.data(LISTED))["oneFormApplications"]["totalCount"] == total
    senior = await client.as_user("admin.d01t01")
    listed = (await senior.data(LISTED, {"first": 100}))["oneFormApplications"]
    assert listed["totalCount"] == town1
    # Every tenant in the list lies in the town.
    async with app.state.runtime.engine.connect() as conn:
        paths = dict((await conn.execute(select(Tenant.id, Tenant.path))).all())
    assert all(
        paths[parse_global_id(e["node"]["tenantId"])[1]].startswith("/d01/t01/")
        for e in listed["edges"]
    )
    # Another town's subtree narrows to nothing, as does a tenant that does not exist.
    other = await tenant_gid(app, "/d01/t02/")
    assert (await senior.data(LISTED, {"under": other}))["oneFormApplications"]["totalCount"] == 0
    gone = str(global_id("Tenant", 10**6))
    assert (await senior.data(LISTED, {"under": gone}))["oneFormApplications"]["totalCount"] == 0
    # The super admin narrows to the second town; filters by type and status.
    narrowed = (await client.data(LISTED, {"under": other}))["oneFormApplications"]
    assert narrowed["totalCount"] == town2
    async with app.state.runtime.engine.connect() as conn:
        completed_births = await conn.scalar(
            select(func.count())
            .select_from(OneFormApplication)
            .where(
                OneFormApplication.status == "COMPLETED", OneFormApplication.service_type_id == 1
            )
        )
    filtered = (await client.data(LISTED, {"type": "BIRTH", "status": "COMPLETED"}))[
        "oneFormApplications"
    ]
    assert filtered["totalCount"] == completed_births
    bad = await client.error(LISTED, {"type": "NOPE"})
    assert bad["extensions"]["argument"] == "serviceType"
    # Pages: newest first, by cursor, no overlap.
    seen: list[int] = []
    after = None
    while True:
        page = (await senior.data(LISTED, {"first": 7, "after": after}))["oneFormApplications"]
        seen += [parse_global_id(e["node"]["id"])[1] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(seen, reverse=True) and len(seen) == town1
    assert (await senior.error(LISTED, {"first": 101}))["extensions"]["argument"] == "first"


async def test_admins_submit_on_a_residents_behalf_in_their_subtree(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    await setup(client, app)
    senior = await client.as_user("admin.d01t01")
    village = await tenant_gid(app, "/d01/t01/v001/")
    variables = submission()
    variables["i"] |= {"tenant": village, "applicantName": "李大爷"}
    made = (await senior.data(SUBMIT, variables))["submitOneFormApplication"]
    assert (made["applicantName"], made["applicantMemberId"], made["tenantId"]) == (
        "李大爷",
        None,
        village,
    )
    assert made["id"] in [
        e["node"]["id"] for e in (await senior.data(LISTED))["oneFormApplications"]["edges"]
    ]
    # Another town's tenant: refused like one that does not exist.
    outside = {**variables["i"], "tenant": await tenant_gid(app, "/d01/t02/")}
    error = await senior.error(SUBMIT, {"i": outside})
    assert error["extensions"]["code"] == "FORBIDDEN"
    gone = {**variables["i"], "tenant": str(global_id("Tenant", 10**6))}
    assert (await senior.error(SUBMIT, {"i": gone}))["message"] == error["message"]
    # On a resident's behalf needs the resident's name; a member may not use it.
    nameless = {**variables["i"], "applicantName": None}
    assert (await senior.error(SUBMIT, {"i": nameless}))["extensions"][
        "argument"
    ] == "applicantName"
    member = await client.as_user((await member_accounts(app))[0].username)
    assert (await member.error(SUBMIT, variables))["extensions"]["code"] == "FORBIDDEN"
    # An admin without a member record must say for whom.
    assert (await senior.error(SUBMIT, submission()))["extensions"]["code"] == "FORBIDDEN"
    entries = await audit_rows(app, "one_form.submit")
    assert [e.principal for e in entries] == ["user:admin.d01t01"]


async def test_the_work_queue_is_oldest_first_and_paginated(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    s = await setup(client, app, n=2)
    accounts = await member_accounts(app)
    made = [
        await submit(await client.as_user(a.username), fullName=f"人{i}")
        for i, a in enumerate(accounts[:5])
    ]
    dept = s.departments[0]
    gql = s.staff[dept]
    first = (await gql.data(QUEUE, {"first": 2}))["oneFormWorkQueue"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] is True
    ids = [e["node"]["application"]["id"] for e in first["edges"]]
    after = first["pageInfo"]["endCursor"]
    while after:
        page = (await gql.data(QUEUE, {"first": 2, "after": after}))["oneFormWorkQueue"]
        ids += [e["node"]["application"]["id"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    assert ids == [m["id"] for m in made]  # oldest first
    assert first["edges"][0]["node"]["application"]["values"]["fullName"] == "人0"
    # Decided ones leave the pending queue and show under APPROVED.
    await decide(gql, approval_of(made[0], dept))
    assert (await gql.data(QUEUE))["oneFormWorkQueue"]["totalCount"] == 4
    assert (await gql.data(QUEUE, {"status": "APPROVED"}))["oneFormWorkQueue"]["totalCount"] == 1
    # Narrowing to a department one does not act for gives nothing; an unknown one is bad input.
    other = s.departments[1]
    assert (await gql.data(QUEUE, {"dept": other}))["oneFormWorkQueue"]["totalCount"] == 0
    assert (await gql.error(QUEUE, {"dept": "NOPE"}))["extensions"]["argument"] == "department"
    # An account acting for no department has an empty queue (demo approvals are not its).
    assert (await client.data(QUEUE))["oneFormWorkQueue"]["totalCount"] == 0
    mine = (await gql.data("{ myOneFormDepartments { code } }"))["myOneFormDepartments"]
    assert mine == [{"code": dept}]


# -- reference data -----------------------------------------------------------------------------


async def test_reference_data_is_managed_at_the_district_only(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    client, app = fresh
    departments = (await client.data(DEPARTMENTS, {"first": 4}))["oneFormDepartments"]
    count = await scalar(app, select(func.count()).select_from(OneFormDepartment))
    assert departments["totalCount"] == count == 9
    assert [e["node"]["name"] for e in departments["edges"]] == [
        "区民政局",
        "区人社局",
        "区医保局",
        "区卫健局",
    ]
    rest = await client.data(DEPARTMENTS, {"after": departments["pageInfo"]["endCursor"]})
    assert len(rest["oneFormDepartments"]["edges"]) == 5
    types = (await client.data(TYPES))["oneFormServiceTypes"]
    assert [e["node"]["code"] for e in types["edges"]] == [t[0] for t in SERVICE_TYPES]
    birth = types["edges"][0]["node"]
    # In department id order.
    assert [d["code"] for d in birth["departments"]] == ["HRSS", "HSA", "HEALTH", "POLICE"]
    # Members read the types (their form) and departments.
    member = await client.as_user((await member_accounts(app))[0].username)
    assert (await member.data(TYPES))["oneFormServiceTypes"]["totalCount"] == len(SERVICE_TYPES)
    # Town and village admins may not change reference data.
    for username in ("admin.d01t01", "admin.d01t01v001"):
        gql = await client.as_user(username)
        error = await gql.error(CREATE_DEPT, {"c": "X1", "n": "某局"})
        assert error["extensions"]["code"] == "FORBIDDEN", username
        error = await gql.error(ADD_STAFF, {"d": "MCA", "u": "admin"})
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert (await gql.error(STAFF, {"d": "MCA"}))["extensions"]["code"] == "FORBIDDEN"
    assert (await member.error(CREATE_DEPT, {"c": "X1", "n": "某局"}))["extensions"][
        "code"
    ] == "FORBIDDEN"
    # The district admin: bad input names the argument.
    bad = [
        (CREATE_DEPT, {"c": "MCA", "n": "重复"}, "code"),
        (CREATE_DEPT, {"c": "bad code!", "n": "x"}, "code"),
        (CREATE_DEPT, {"c": "OK1", "n": " "}, "name"),
        (ADD_STAFF, {"d": "NOPE", "u": "admin"}, "department"),
        (ADD_STAFF, {"d": "MCA", "u": "nobody.here"}, "username"),
        (REMOVE_STAFF, {"d": "MCA", "u": "admin"}, "username"),
    ]
    for query, variables, argument in bad:
        error = await client.error(query, variables)
        assert (error["extensions"]["code"], error["extensions"]["argument"]) == (
            "BAD_USER_INPUT",
            argument,
        ), variables
    base = {"code": "NEWONE", "name": "新事", "fields": TEST_FIELDS, "departments": ["MCA"]}
    type_cases = [
        ({**base, "departments": []}, "departments"),
        ({**base, "departments": ["MCA", "MCA"]}, "departments"),
        ({**base, "departments": ["NOPE"]}, "departments"),
        ({**base, "code": "BIRTH"}, "code"),
        ({**base, "fields": [{"key": "a", "label": "A", "type": "CHOICE"}]}, "fields.a"),
    ]
    for variables, argument in type_cases:
        error = await client.error(CREATE_TYPE, {"i": variables})
        assert error["extensions"]["argument"] == argument, variables
    created = (await client.data(CREATE_TYPE, {"i": {**base, "materials": TEST_MATERIALS}}))[
        "createOneFormServiceType"
    ]
    assert created["active"] is True and [d["code"] for d in created["departments"]] == ["MCA"]
    assert created["fields"][4] == {
        "key": "stage",
        "label": "阶段",
        "type": "CHOICE",
        "required": True,
        "options": ["小学", "初中"],
        "maxLength": None,
    }
    await client.data(ADD_STAFF, {"d": "MCA", "u": "admin.d01t01"})
    staff = (await client.data(STAFF, {"d": "MCA"}))["oneFormStaff"]
    assert staff["totalCount"] == 1 and staff["edges"][0]["node"] == {
        "username": "admin.d01t01",
        "createdBy": "user:admin",
    }
    # Closing a type stops new applications; it is still listed with includeInactive.
    closed = await client.data(
        'mutation { setOneFormServiceTypeActive(code: "NEWONE", active: false) { active } }'
    )
    assert closed["setOneFormServiceTypeActive"]["active"] is False
    error = await member.error(SUBMIT, submission("NEWONE"))
    assert error["extensions"]["argument"] == "serviceType"
    assert (await client.data(TYPES))["oneFormServiceTypes"]["totalCount"] == len(SERVICE_TYPES)
    every = (await client.data(TYPES, {"inactive": True}))["oneFormServiceTypes"]
    assert every["totalCount"] == len(SERVICE_TYPES) + 1
    actions = {
        "one_form.department.create": 0,
        "one_form.staff.add": 1,
        "one_form.type.create": 1,
        "one_form.type.active": 1,
    }
    for action, n in actions.items():
        rows = await audit_rows(app, action)
        assert len(rows) == n, action
        assert all(r.principal == "user:admin" and r.tenant_path == "/d01/" for r in rows)


# -- the report ---------------------------------------------------------------------------------


async def oracle(app: Any, prefix: str, since: datetime, until: datetime) -> dict[str, Json]:
    """The report's figures computed here, from the rows."""
    async with app.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    OneFormApplication.service_type_id,
                    OneFormApplication.status,
                    OneFormApplication.submitted_at,
                    OneFormApplication.completed_at,
                    Tenant.path,
                ).join(Tenant, Tenant.id == OneFormApplication.tenant_id)
            )
        ).all()
    out: dict[str, Json] = {}
    codes = {i: t[0] for i, t in enumerate(SERVICE_TYPES, start=1)}
    for type_id, code in codes.items():
        mine = [
            r
            for r in rows
            if r.service_type_id == type_id
            and r.path.startswith(prefix)
            and since <= r.submitted_at < until
        ]
        durations = sorted(
            int((r.completed_at - r.submitted_at).total_seconds())
            for r in mine
            if r.status == "COMPLETED"
        )
        out[code] = {
            "submitted": len(mine),
            "completed": sum(r.status == "COMPLETED" for r in mine),
            "rejected": sum(r.status == "REJECTED" for r in mine),
            "pending": sum(r.status == "PENDING" for r in mine),
            "average": statistics.fmean(durations) if durations else None,
            "median": statistics.median(durations) if durations else None,
            "p90": durations[max(0, -(-9 * len(durations) // 10) - 1)] if durations else None,
        }
    return out


async def test_the_report_matches_the_rows(fresh: tuple[GraphQLClient, Any]) -> None:
    client, app = fresh
    until = datetime.now(UTC) + timedelta(days=1)
    since = until - timedelta(days=120)
    window = {"from": since.isoformat(), "to": until.isoformat()}
    for username, prefix, under in [
        ("admin", "/", None),
        ("admin.d01t01", "/d01/t01/", None),
        ("admin", "/d01/t02/", "/d01/t02/"),
    ]:
        gql = await client.as_user(username)
        variables = dict(window)
        if under:
            variables["under"] = await tenant_gid(app, under)
        got = (await gql.data(REPORT, variables))["oneFormReport"]["types"]
        want = await oracle(app, prefix, since, until)
        assert [t["serviceTypeCode"] for t in got] == list(want)
        for t in got:
            w = want[t["serviceTypeCode"]]
            assert (t["submitted"], t["completed"], t["rejected"], t["pending"]) == (
                w["submitted"],
                w["completed"],
                w["rejected"],
                w["pending"],
            ), (username, t)
            for key, field in (
                ("average", "averageDurationSeconds"),
                ("median", "medianDurationSeconds"),
                ("p90", "p90DurationSeconds"),
            ):
                if w[key] is None:
                    assert t[field] is None
                else:
                    assert t[field] == pytest.approx(w[key]), (key, t)
    district = (await client.data(REPORT, window))["oneFormReport"]["types"]
    assert sum(t["submitted"] for t in district) > 50  # the demo's history has figures
    assert all(t["medianDurationSeconds"] for t in district if t["completed"])
    # A new application completed now shows in the figures with its duration.
    s = await setup(client, app, code="RPT", n=1)
    member = await client.as_user((await member_accounts(app))[0].username)
    made = await submit(member, "RPT")
    done = await decide(s.staff[s.departments[0]], approval_of(made, s.departments[0]))
    row = next(
        t
        for t in (await client.data(REPORT, window))["oneFormReport"]["types"]
        if t["serviceTypeCode"] == "RPT"
    )
    assert (row["submitted"], row["completed"], row["pending"]) == (1, 1, 0)
    assert row["medianDurationSeconds"] == done["durationSeconds"]
    # Bad windows name the argument; members may not read the report.
    backwards = {"from": until.isoformat(), "to": since.isoformat()}
    assert (await client.error(REPORT, backwards))["extensions"]["argument"] == "to"
    naive = {"from": since.replace(tzinfo=None).isoformat(), "to": until.isoformat()}
    assert (await client.error(REPORT, naive))["extensions"]["argument"] == "from"
    wrong_kind = {**window, "under": str(global_id("Member", 1))}
    assert (await client.error(REPORT, wrong_kind))["extensions"]["argument"] == "under"
    assert (await member.error(REPORT, window))["extensions"]["code"] == "FORBIDDEN"


# -- no query per row ---------------------------------------------------------------------------

LIST_DEEP = """query($n: Int) { oneFormApplications(first: $n) { totalCount edges { node {
  id status values materials { key } approvals { status note department { code name } } } } } }"""


async def test_lists_cost_the_same_statements_for_any_page_size(
    seeded: tuple[GraphQLClient, Any],
) -> None:
    from tests.test_query_counts import statements

    client, app = seeded
    counts = []
    for size in (2, 50):
        with statements(app) as seen:
            data = await client.data(LIST_DEEP, {"n": size})
        assert len(data["oneFormApplications"]["edges"]) == size
        assert all(e["node"]["approvals"] for e in data["oneFormApplications"]["edges"])
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 4, counts  # page, approvals, count (+ a tenant lookup)
