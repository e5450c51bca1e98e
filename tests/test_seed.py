"""`server.seed.seed` on SQLite and PostgreSQL.

Proves that seeding a migrated empty database inserts exactly what the report says, refuses a
second run without changing anything, stores demo passwords that verify, leaves the id
sequences past the seeded ids (so the application can insert rows of its own), and reports
progress per table up to each table's total.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from server.archives.demo import archive_rows
from server.archives.rules import default_rule_rows
from server.assessments.standard import standard_rows
from server.auth.passwords import verify_password
from server.db import make_engine
from server.learning.demo import learning_rows
from server.lecturers.demo import lecturer_rows
from server.migrate import upgrade_async
from server.models import (
    Activity,
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    AssessmentIndicator,
    AssessmentTemplate,
    Branch,
    Cadre,
    CasbinRule,
    DuesEntry,
    LearningClassItem,
    LearningEnrolment,
    LearningItem,
    Lecturer,
    LecturerBooking,
    LecturerSlotHold,
    LightRule,
    Member,
    MicroWish,
    OneFormApplication,
    OneFormApproval,
    OneFormDepartment,
    OneFormServiceDepartment,
    OneFormServiceType,
    ScreeningScale,
    ServiceCenter,
    Tenant,
    TravelDeclaration,
    TravelRecord,
    User,
    Venue,
    VolunteerService,
    VolunteerSignup,
)
from server.one_form.demo import one_form_rows
from server.reminders.demo import reminder_rows
from server.screening.scales import scale_rows
from server.seed import AlreadySeeded, seed
from server.venues.demo import venue_rows
from server.volunteering.demo import volunteering_rows
from tenants.demo import generate
from tests.conftest import Databases

AS_OF = date(2025, 6, 30)
PASSWORD = "pw-seed-test"
SEED = 3
# In insert order: parents before children.
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        cast(Table, m.__table__)
        for m in (
            Tenant,
            Branch,
            Member,
            Activity,
            AssessmentTemplate,
            AssessmentIndicator,
            ArchiveTagCategory,
            ArchiveIndicator,
            Cadre,
            ArchiveRecord,
            LightRule,
            DuesEntry,
            TravelDeclaration,
            TravelRecord,
            ScreeningScale,
            LearningItem,
            LearningClassItem,
            LearningEnrolment,
            Lecturer,
            LecturerBooking,
            LecturerSlotHold,
            Venue,
            ServiceCenter,
            MicroWish,
            VolunteerService,
            VolunteerSignup,
            OneFormDepartment,
            OneFormServiceType,
            OneFormServiceDepartment,
            OneFormApplication,
            OneFormApproval,
            User,
            CasbinRule,
        )
    )
}


@dataclass
class Seeded:
    engine: AsyncEngine
    counts: dict[str, int]
    progress: list[tuple[str, int, int]] = field(default_factory=list)


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in TABLES.items()
        }


@pytest.fixture
async def seeded(databases: Databases, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Seeded]:
    """A freshly migrated database seeded at small scale, with every progress call recorded."""
    url = databases.empty()
    await upgrade_async(url)
    # Small chunks, so that each table is inserted (and reported) in several steps.
    monkeypatch.setattr("server.seed.CHUNK", 7)
    calls: list[tuple[str, int, int]] = []
    engine = make_engine(url)
    try:
        report = await seed(
            engine,
            scale="small",
            seed=SEED,
            as_of=AS_OF,
            demo_password=PASSWORD,
            progress=lambda table, done, total: calls.append((table, done, total)),
        )
        assert not report.skipped
        assert report.seconds >= 0
        yield Seeded(engine=engine, counts=report.counts, progress=calls)
    finally:
        await engine.dispose()


async def test_counts_match_the_report(seeded: Seeded) -> None:
    expected = generate("small", seed=SEED, as_of=AS_OF).counts()
    # The standard assessment templates, whatever the scale.
    templates, indicators = standard_rows(datetime.now(UTC))
    expected["assessment_templates"] = len(templates)
    expected["assessment_indicators"] = len(indicators)
    # One user per tenant plus the 20 member accounts.
    expected["users"] = expected["tenants"] + 20
    expected["casbin_rule"] = expected["users"]  # one role binding per demo account
    # The domains' own demo rows, as their hooks make them.
    data = generate("small", seed=SEED, as_of=AS_OF)
    hooks = [*archive_rows(data, seed=SEED), *reminder_rows(data, seed=SEED, as_of=AS_OF)]
    hooks += learning_rows(data, seed=SEED, as_of=AS_OF)
    hooks += lecturer_rows(data, seed=SEED, as_of=AS_OF)
    hooks += venue_rows(data, seed=SEED)
    hooks += volunteering_rows(data, seed=SEED, as_of=AS_OF)
    hooks += one_form_rows(data, seed=SEED, as_of=AS_OF)
    expected |= {table.name: len(rows) for table, rows in hooks}
    district = data.tenants[0]["path"]
    expected["light_rules"] = len(default_rule_rows(district, datetime.now(UTC)))
    expected["screening_scales"] = len(scale_rows())
    assert all(expected[name] > 0 for name in TABLES), expected
    assert seeded.counts == expected
    assert await table_counts(seeded.engine) == seeded.counts


async def test_seeding_again_is_refused_and_changes_nothing(seeded: Seeded) -> None:
    before = await table_counts(seeded.engine)
    with pytest.raises(AlreadySeeded):
        await seed(seeded.engine, scale="small", seed=SEED + 1, demo_password=PASSWORD)
    assert await table_counts(seeded.engine) == before


async def test_demo_passwords_verify(seeded: Seeded) -> None:
    async with seeded.engine.connect() as conn:
        rows = (await conn.execute(select(User.username, User.password_hash))).all()
    assert {"admin", "admin.d01t01"} <= {username for username, _ in rows}
    assert len(rows) == seeded.counts["users"]
    # Argon2 is slow on purpose: verify each distinct hash once rather than every row.
    for password_hash in {password_hash for _, password_hash in rows}:
        assert password_hash != PASSWORD  # stored hashed, never in the clear
        assert verify_password(password_hash, PASSWORD)
        assert not verify_password(password_hash, PASSWORD + "x")
        assert not verify_password(password_hash, "")


async def test_member_accounts_point_at_members(seeded: Seeded) -> None:
    async with seeded.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(User.username, Member.id).join(Member, User.member_id == Member.id)
            )
        ).all()
    assert len(rows) == 20
    assert all(username == f"m.{member_id}" for username, member_id in rows)


def _new_row(table: str, refs: dict[str, int]) -> dict[str, Any]:
    """A valid row for `table` without an id; `refs` holds the new ids of the tables before it."""
    now = datetime.now(UTC)
    match table:
        case "tenants":
            return {
                "parent_id": 1,
                "level": "TOWN",
                "code": "d01t99",
                "name": "新街道",
                "path": "/d01/t99/",
            }
        case "branches":
            return {
                "tenant_id": refs["tenants"],
                "name": "新支部",
                "category": "RURAL",
                "established_on": AS_OF,
                "secretary": "王伟",
            }
        case "members":
            return {
                "branch_id": refs["branches"],
                "name": "李娜",
                "gender": "FEMALE",
                "birth_date": date(1990, 1, 1),
                "joined_on": date(2015, 7, 1),
                "phone": "13800000000",
                "id_number": "33100219900101002X",
                "status": "FULL",
                "education": "BACHELOR",
            }
        case "activities":
            return {
                "branch_id": refs["branches"],
                "kind": "THEME_DAY",
                "title": "主题党日",
                "occurred_at": now,
                "attendance": 3,
            }
        case "assessment_templates":
            return {
                "code": "new_template",
                "version": 1,
                "name": "新模板",
                "target_kind": "BRANCH",
                "created_at": now,
            }
        case "assessment_indicators":
            return {
                "template_id": refs["assessment_templates"],
                "code": "new_indicator",
                "name": "新指标",
                "weight": 1.0,
                "rule": "YES_NO",
                "position": 0,
            }
        case "archive_tag_categories":
            return {"code": "NEW_CAT", "name": "新类别", "system": "CULTIVATION"}
        case "archive_indicators":
            return {
                "code": "NEW01",
                "name": "新指标",
                "context": "AT_WORK",
                "polarity": "POSITIVE",
                "dimension": "LOYALTY",
                "tag_category_id": refs["archive_tag_categories"],
                "points": 1.0,
                "serious": False,
            }
        case "cadres":
            return {
                "member_id": refs["members"],
                "tenant_id": refs["tenants"],
                "position": "科员",
                "rank": "科员",
                "unit": "新单位",
                "created_at": now,
            }
        case "archive_records":
            return {
                "cadre_id": refs["cadres"],
                "indicator_id": refs["archive_indicators"],
                "source": "DAILY_SUPERVISION",
                "occurred_on": AS_OF,
                "evidence": "证据",
                "attachments": "[]",
                "status": "PENDING",
                "author": "admin",
                "created_at": now,
            }
        case "light_rules":
            return {
                "tenant_path": "/d01/t99/",
                "kind": "NEGATIVE_COUNT",
                "light": "YELLOW",
                "count": 2,
                "window_days": 90,
                "active": True,
                "created_by": "admin",
                "created_at": now,
            }
        case "dues_ledger":
            return {"member_id": refs["members"], "month": "2025-06", "amount": 10.0}
        case "travel_declarations":
            return {
                "member_id": refs["members"],
                "destination": "新加坡",
                "departs_on": AS_OF,
                "returns_on": AS_OF,
                "status": "PENDING",
                "created_at": now,
            }
        case "travel_records":
            return {
                "member_id": refs["members"],
                "destination": "新加坡",
                "departed_on": AS_OF,
                "recorded_at": now,
            }
        case "screening_scales":
            return {
                "code": "NEW-1",
                "name": "新量表",
                "items": "[]",
                "options": "[]",
                "bands": "[]",
            }
        case "venues":
            return {
                "tenant_id": refs["tenants"],
                "kind": "MEETING_ROOM",
                "name": "新会议室",
                "address": "新地址",
                "capacity": 20,
                "opening_hours": '{"1":["09:00","17:00"]}',
                "closed_dates": "[]",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        case "service_centers":
            return {
                "tenant_id": refs["tenants"],
                "kind": "COMMUNITY",
                "name": "新便民服务中心",
                "address": "新地址",
                "phone": "0576-88888888",
                "created_at": now,
            }
        case "micro_wishes":
            return {
                "center_id": refs["service_centers"],
                "requester_name": "王某",
                "requester_phone": "13800000000",
                "title": "心愿",
                "description": "",
                "category": "OTHER",
                "state": "OPEN",
                "posted_by": "admin",
                "posted_at": now,
            }
        case "volunteer_services":
            return {
                "center_id": refs["service_centers"],
                "title": "服务",
                "description": "",
                "category": "OTHER",
                "place": "广场",
                "starts_at": now,
                "ends_at": now,
                "capacity": 5,
                "signed_up": 0,
                "state": "OPEN",
                "initiated_by": "admin",
                "initiated_at": now,
            }
        case "volunteer_signups":
            return {
                "service_id": refs["volunteer_services"],
                "member_id": refs["members"],
                "signed_up_at": now,
            }
        case "learning_items":
            return {
                "section": "COURSE",
                "title": "新课程",
                "summary": "",
                "credit_hours": 1.0,
                "categories": "[]",
                "tags": "[]",
                "tenant_path": "/d01/",
                "state": "DRAFT",
                "enrolled": 0,
                "created_by": "admin",
                "created_at": now,
                "updated_at": now,
            }
        case "learning_class_items":
            return {
                "class_id": refs["learning_items"],
                "item_id": refs["learning_items"],
                "position": 1,
            }
        case "learning_enrolments":
            return {
                "item_id": refs["learning_items"],
                "member_id": refs["members"],
                "progress": 0,
                "enrolled_at": now,
                "updated_at": now,
            }
        case "lecturers":
            return {
                "tenant_id": refs["tenants"],
                "name": "新讲师",
                "title": "讲师",
                "affiliation": "区委党校",
                "topics": "[]",
                "bio": "",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        case "lecturer_bookings":
            return {
                "lecturer_id": refs["lecturers"],
                "tenant_id": refs["tenants"],
                "topic": "党课",
                "day": AS_OF,
                "slot": "MORNING",
                "status": "REQUESTED",
                "booked_by": "user:admin",
                "created_at": now,
            }
        case "lecturer_slot_holds":
            return {
                "lecturer_id": refs["lecturers"],
                "day": AS_OF,
                "slot": "MORNING",
                "booking_id": refs["lecturer_bookings"],
            }
        case "one_form_departments":
            return {"code": "NEW", "name": "新部门", "created_at": now}
        case "one_form_service_types":
            return {
                "code": "NEW",
                "name": "新一件事",
                "description": "",
                "fields": "[]",
                "materials": "[]",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        case "one_form_type_departments":
            return {
                "type_id": refs["one_form_service_types"],
                "department_id": refs["one_form_departments"],
            }
        case "one_form_applications":
            return {
                "service_type_id": refs["one_form_service_types"],
                "tenant_id": refs["tenants"],
                "applicant_name": "王某",
                "submitted_by": "admin",
                "values": "{}",
                "materials": "[]",
                "status": "PENDING",
                "submitted_at": now,
            }
        case "one_form_approvals":
            return {
                "application_id": refs["one_form_applications"],
                "department_id": refs["one_form_departments"],
                "status": "PENDING",
                "created_at": now,
            }
        case "users":
            return {
                "username": "new.user",
                "password_hash": "x",
                "member_id": refs["members"],
                "is_active": True,
                "created_at": now,
            }
        case "casbin_rule":
            # Grants insert role bindings after the seed: their ids must not collide.
            return {"ptype": "g", "v0": "user:new.user", "v1": "MEMBER", "v2": "/d01/*"}
    raise AssertionError(f"no sample row for {table}")


async def test_new_rows_get_ids_past_the_seeded_ones(seeded: Seeded) -> None:
    # The seed chose the ids itself; on PostgreSQL the sequences must have been moved past them,
    # or the first insert by the application would collide with a seeded primary key.
    new_ids: dict[str, int] = {}
    async with seeded.engine.begin() as conn:
        for name, table in TABLES.items():
            highest = await conn.scalar(select(func.max(table.c.id)))
            assert highest == seeded.counts[name]
            result = await conn.execute(insert(table).values(_new_row(name, new_ids)))
            (new_id,) = result.inserted_primary_key or (None,)
            assert isinstance(new_id, int)
            assert new_id > highest, name
            new_ids[name] = new_id


async def test_progress_reaches_every_total(seeded: Seeded) -> None:
    by_table: dict[str, list[tuple[int, int]]] = {}
    for table, done, total in seeded.progress:
        by_table.setdefault(table, []).append((done, total))
    # Parents before children, the order the foreign keys need.
    assert list(by_table) == list(TABLES)
    for table, calls in by_table.items():
        done = [d for d, _ in calls]
        totals = {t for _, t in calls}
        assert totals == {seeded.counts[table]}, table
        assert done == sorted(set(done)), f"{table}: counts must only increase: {done}"
        assert done[-1] == seeded.counts[table]
        # CHUNK is 7 here: a step per 7 rows, so the larger tables take several steps.
        assert len(done) == -(-seeded.counts[table] // 7), table
