"""One-form services: departments and staff, service types, applications fanned out to their
departments' approvals, the decisions, the lists and the duration report.

Rules (docs/one_form.md tells them to users):

- Departments, their staff and the service types are district-level reference data: only a
  holder of ONE_FORM write over the district's root tenant (the SUPER admin) changes them.
  Whoever has ONE_FORM read anywhere reads them.
- Staff are plain rows (department, username): a department's staff decide its approvals; no
  Casbin role per user (per-user rows make Casbin slow, ARCHITECTURE.md).
- Submitting fans out at once: one PENDING approval per department of the type, inserted in
  one statement in the submission's transaction; none waits for another.
- Status: PENDING while any approval is pending and none rejected; REJECTED as soon as one
  department rejects (the others' pending approvals become WITHDRAWN, and can no longer be
  decided); COMPLETED when every department has approved. Completion (or rejection) time and
  the duration in seconds from submission are stored on the application.
- A decision is taken once: a second one is BAD_USER_INPUT naming the approval's state.
  Decisions on one application are serialised by a lock on the application's row (SELECT ...
  FOR UPDATE on PostgreSQL; SQLite has one writer at a time), so that when the last two
  departments decide at the same moment the application is completed exactly once.
- The decision that closes an application (completed or rejected) emits one BRANCH_ACTIVITY
  feed event at the application's tenant, without personal data (service type, status,
  duration): the command center sees one-form services move.

Writers run in the caller's transaction and never commit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit import service as audit
from server.auth.models import User
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import TENANT_FACTS, Event, emit, tenant_facts
from server.feed.models import FeedKind
from server.one_form import forms
from server.one_form.models import (
    ApplicationStatus,
    ApprovalStatus,
    OneFormApplication,
    OneFormApproval,
    OneFormDepartment,
    OneFormServiceDepartment,
    OneFormServiceType,
    OneFormStaff,
)
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, newest_first, page_params
from tenants.models import Tenant
from tenants.scope import Scope

D, ST, SD, A, AP, S = (
    OneFormDepartment,
    OneFormServiceType,
    OneFormServiceDepartment,
    OneFormApplication,
    OneFormApproval,
    OneFormStaff,
)
MAX_NOTE = 500
CODE_LENGTH = 40

Reader = Db | AsyncConnection


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes, for the audit log."""

    principal: str
    client: str | None
    now: datetime


async def _audit(conn: AsyncConnection, actor: Actor, entries: list[audit.Entry]) -> None:
    await audit.append(conn, entries, now=actor.now)


def _entry(actor: Actor, action: str, path: str | None, subject: str, **detail: Any) -> audit.Entry:
    return audit.Entry(
        principal=actor.principal,
        action=action,
        tenant_path=path,
        subject=subject,
        client_address=actor.client,
        detail=detail,
    )


async def district_path(db: Reader) -> str:
    """The root tenant's path: where district-level reference data belongs."""
    path = await db.scalar(
        select(Tenant.path).where(Tenant.parent_id.is_(None)).order_by(Tenant.id)
    )
    return str(path) if path is not None else "/"


def _check_code(code: str, argument: str) -> str:
    code = code.strip()
    if not code or len(code) > CODE_LENGTH or not all(c.isalnum() or c in "-_." for c in code):
        raise BadUserInput(
            f"a code is 1 to {CODE_LENGTH} letters, digits, '-', '_' or '.'", argument=argument
        )
    return code


def refuse_nul(text: str, argument: str) -> str:
    """PostgreSQL stores no NUL in text: refused here, naming the field, rather than failing
    in the database (INTERNAL_SERVER_ERROR there, and only there: SQLite takes it)."""
    if "\0" in text:
        raise BadUserInput(f"{argument} must not contain NUL characters", argument=argument)
    return text


def _check_name(name: str, argument: str, limit: int) -> str:
    name = refuse_nul(name, argument).strip()
    if not name or len(name) > limit:
        raise BadUserInput(f"{argument} must be 1 to {limit} characters", argument=argument)
    return name


# -- departments and staff ----------------------------------------------------------------------

DEPARTMENT_COLUMNS = (D.id, D.code, D.name)


@memoized
def _departments(after: bool, by_ids: bool) -> AnySelect:
    stmt = select(*DEPARTMENT_COLUMNS)
    if by_ids:
        return stmt.where(D.id.in_(bindparam("ids", expanding=True))).order_by(D.id)
    return keyset(stmt, D.id, after=after)


async def list_departments(db: Reader, *, after_id: int | None, limit: int) -> Sequence[AnyRow]:
    return (
        await db.execute(_departments(after_id is not None, False), page_params(after_id, limit))
    ).all()


async def count_departments(db: Reader) -> int:
    return int(await db.scalar(select(func.count()).select_from(D)) or 0)


async def departments_by_ids(db: Reader, ids: Sequence[int]) -> Sequence[AnyRow]:
    return (await db.execute(_departments(False, True), {"ids": list(ids)})).all()


async def create_department(
    conn: AsyncConnection, *, code: str, name: str, actor: Actor, path: str
) -> int:
    code = _check_code(code, "code")
    name = _check_name(name, "name", 60)
    if await conn.scalar(select(D.id).where(D.code == code)) is not None:
        raise BadUserInput(f"there is already a department {code!r}", argument="code")
    try:
        pk: int = (
            await conn.execute(
                insert(D).values(code=code, name=name, created_at=actor.now).returning(D.id)
            )
        ).scalar_one()
    except IntegrityError:  # the same code created meanwhile by a concurrent request
        raise BadUserInput(f"there is already a department {code!r}", argument="code") from None
    await _audit(conn, actor, [_entry(actor, "one_form.department.create", path, code, name=name)])
    return pk


async def department_id(db: Reader, code: str, *, argument: str) -> int:
    pk = await db.scalar(select(D.id).where(D.code == code))
    if pk is None:
        raise BadUserInput(f"there is no department {code!r}", argument=argument)
    return int(pk)


@memoized
def _staff(after: bool) -> AnySelect:
    stmt = select(S.id, S.username, S.created_at, S.created_by).where(
        S.department_id == bindparam("department_id")
    )
    return keyset(stmt, S.id, after=after)


async def list_staff(
    db: Reader, *, department_id: int, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    params = page_params(after_id, limit, department_id=department_id)
    return (await db.execute(_staff(after_id is not None), params)).all()


async def count_staff(db: Reader, *, department_id: int) -> int:
    return int(
        await db.scalar(select(func.count()).select_from(S).where(S.department_id == department_id))
        or 0
    )


async def add_staff(
    conn: AsyncConnection, *, department: str, username: str, actor: Actor, path: str
) -> None:
    dept = await department_id(conn, department, argument="department")
    if await conn.scalar(select(User.id).where(User.username == username)) is None:
        raise BadUserInput(f"there is no account {username!r}", argument="username")
    existing = await conn.scalar(
        select(S.id).where(S.department_id == dept, S.username == username)
    )
    if existing is not None:
        raise BadUserInput(f"{username} already acts for {department}", argument="username")
    try:
        await conn.execute(
            insert(S).values(
                department_id=dept,
                username=username,
                created_at=actor.now,
                created_by=actor.principal,
            )
        )
    except IntegrityError:  # added meanwhile by a concurrent request
        raise BadUserInput(
            f"{username} already acts for {department}", argument="username"
        ) from None
    await _audit(
        conn, actor, [_entry(actor, "one_form.staff.add", path, username, department=department)]
    )


async def remove_staff(
    conn: AsyncConnection, *, department: str, username: str, actor: Actor, path: str
) -> None:
    dept = await department_id(conn, department, argument="department")
    gone = await conn.execute(delete(S).where(S.department_id == dept, S.username == username))
    if not gone.rowcount:
        raise BadUserInput(f"{username} does not act for {department}", argument="username")
    await _audit(
        conn, actor, [_entry(actor, "one_form.staff.remove", path, username, department=department)]
    )


async def staff_department_ids(db: Reader, username: str) -> list[int]:
    rows = await db.execute(
        select(S.department_id).where(S.username == username).order_by(S.department_id)
    )
    return [r[0] for r in rows]


# -- service types ------------------------------------------------------------------------------

TYPE_COLUMNS = (ST.id, ST.code, ST.name, ST.description, ST.fields, ST.materials, ST.active)


@memoized
def _types(active_only: bool, after: bool, by_code: bool) -> AnySelect:
    stmt = select(*TYPE_COLUMNS)
    if by_code:
        return stmt.where(ST.code == bindparam("code"))
    if active_only:
        stmt = stmt.where(ST.active.is_(True))
    return keyset(stmt, ST.id, after=after)


async def list_types(
    db: Reader, *, active_only: bool, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _types(active_only, after_id is not None, False)
    return (await db.execute(stmt, page_params(after_id, limit))).all()


async def count_types(db: Reader, *, active_only: bool) -> int:
    stmt = select(func.count()).select_from(ST)
    if active_only:
        stmt = stmt.where(ST.active.is_(True))
    return int(await db.scalar(stmt) or 0)


async def type_by_code(db: Reader, code: str) -> AnyRow | None:
    return (await db.execute(_types(False, False, True), {"code": code})).first()


@memoized
def _type_departments() -> AnySelect:
    return (
        select(SD.type_id, *DEPARTMENT_COLUMNS)
        .join(D, D.id == SD.department_id)
        .where(SD.type_id.in_(bindparam("ids", expanding=True)))
        .order_by(SD.type_id, D.id)
    )


async def departments_of_types(db: Reader, type_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """The departments each type needs, for a page of types in one query."""
    out: dict[int, list[AnyRow]] = {t: [] for t in type_ids}
    if type_ids:
        for row in await db.execute(_type_departments(), {"ids": sorted(set(type_ids))}):
            out[row.type_id].append(row)
    return out


async def create_type(
    conn: AsyncConnection,
    *,
    code: str,
    name: str,
    description: str,
    form: forms.Form,
    departments: Sequence[str],
    actor: Actor,
    path: str,
) -> int:
    code = _check_code(code, "code")
    name = _check_name(name, "name", 100)
    if len(refuse_nul(description, "description")) > 2000:
        raise BadUserInput("description must be at most 2000 characters", argument="description")
    if not departments:
        raise BadUserInput("a service type needs at least one department", argument="departments")
    if len(set(departments)) != len(departments):
        raise BadUserInput("a department is listed twice", argument="departments")
    rows = (await conn.execute(select(D.id, D.code).where(D.code.in_(list(departments))))).all()
    known = {r.code: r.id for r in rows}
    for dept in departments:
        if dept not in known:
            raise BadUserInput(f"there is no department {dept!r}", argument="departments")
    if await conn.scalar(select(ST.id).where(ST.code == code)) is not None:
        raise BadUserInput(f"there is already a service type {code!r}", argument="code")
    try:
        pk: int = (
            await conn.execute(
                insert(ST)
                .values(
                    code=code,
                    name=name,
                    description=description.strip(),
                    fields=form.fields_json(),
                    materials=form.materials_json(),
                    active=True,
                    created_at=actor.now,
                    updated_at=actor.now,
                )
                .returning(ST.id)
            )
        ).scalar_one()
    except IntegrityError:  # the same code declared meanwhile by a concurrent request
        raise BadUserInput(f"there is already a service type {code!r}", argument="code") from None
    await conn.execute(
        insert(SD), [{"type_id": pk, "department_id": known[d]} for d in departments]
    )
    entry = _entry(
        actor,
        "one_form.type.create",
        path,
        code,
        name=name,
        departments=list(departments),
        fields=[f.key for f in form.fields],
        materials=[m.key for m in form.materials],
    )
    await _audit(conn, actor, [entry])
    return pk


async def set_type_active(
    conn: AsyncConnection, *, code: str, active: bool, actor: Actor, path: str
) -> None:
    done = await conn.execute(
        update(ST).where(ST.code == code).values(active=active, updated_at=actor.now)
    )
    if not done.rowcount:
        raise BadUserInput(f"there is no service type {code!r}", argument="code")
    await _audit(conn, actor, [_entry(actor, "one_form.type.active", path, code, active=active)])


# -- submitting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applicant:
    tenant_id: int
    path: str
    member_id: int | None
    name: str


async def submit(
    conn: AsyncConnection,
    *,
    type_code: str,
    applicant: Applicant,
    values: Any,
    materials: Sequence[forms.Attachment],
    actor: Actor,
) -> int:
    """Check the submission against the type's form, store it, and fan it out: one PENDING
    approval per department, all inserted at once. Returns the application's id."""
    kind = await type_by_code(conn, type_code)
    if kind is None or not kind.active:
        raise BadUserInput(f"there is no open service type {type_code!r}", argument="serviceType")
    form = forms.load(kind.fields, kind.materials)
    checked = forms.check_values(form, values)
    attachments = forms.check_materials(form, materials)
    departments = (await departments_of_types(conn, [kind.id]))[kind.id]
    pk: int = (
        await conn.execute(
            insert(A)
            .values(
                service_type_id=kind.id,
                tenant_id=applicant.tenant_id,
                applicant_member_id=applicant.member_id,
                applicant_name=applicant.name,
                submitted_by=actor.principal,
                values=json.dumps(checked, ensure_ascii=False),
                materials=json.dumps([a.as_json() for a in attachments], ensure_ascii=False),
                status=ApplicationStatus.PENDING.value,
                submitted_at=actor.now,
            )
            .returning(A.id)
        )
    ).scalar_one()
    # The fan-out: every department's approval at once, in one statement.
    await conn.execute(
        insert(AP),
        [
            {
                "application_id": pk,
                "department_id": d.id,
                "status": ApprovalStatus.PENDING.value,
                "created_at": actor.now,
            }
            for d in departments
        ],
    )
    entry = _entry(
        actor,
        "one_form.submit",
        applicant.path,
        str(pk),
        serviceType=kind.code,
        departments=[d.code for d in departments],
        materials=[a.key for a in attachments],
    )
    await _audit(conn, actor, [entry])
    return pk


# -- deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    approval_id: int
    application_id: int
    status: ApplicationStatus  # the application's, after the decision
    completed: bool  # this decision closed the application
    event: Event | None = None  # the feed event of the closing, to publish after the commit


def chinese_duration(seconds: int) -> str:
    """A duration as the command center reads it: the two largest units, 1天4小时, 3小时20分钟,
    45分钟, 不到1分钟 (whole units, rounded down)."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"
    return f"{minutes}分钟" if minutes else "不到1分钟"


@memoized
def _closing_facts() -> AnySelect:
    return (
        select(ST.code, ST.name, *TENANT_FACTS)
        .select_from(A)
        .join(ST, ST.id == A.service_type_id)
        .join(Tenant, Tenant.id == A.tenant_id)
        .where(A.id == bindparam("id"))
    )


async def _emit_closing(
    conn: AsyncConnection,
    *,
    application_id: int,
    status: ApplicationStatus,
    duration: int,
    now: datetime,
) -> Event:
    """The command center's news of a closed application: its service type and time taken,
    at its tenant; nothing about the applicant (no name, no values, no branch)."""
    row = (await conn.execute(_closing_facts(), {"id": application_id})).one()
    if status is ApplicationStatus.COMPLETED:
        title = f"一件事办结：{row.name}（用时 {chinese_duration(duration)}）"
    else:
        title = f"一件事退回：{row.name}"
    return await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=title,
        tenant=tenant_facts(row),
        occurred_at=now,
        data={
            "source": "one_form",
            "application": application_id,
            "serviceType": row.code,
            "status": status.value,
            "durationSeconds": duration,
        },
    )


async def approval_for_staff(db: Reader, *, approval_id: int, username: str) -> AnyRow | None:
    """The approval, with its application's tenant path, if `username` acts for its
    department; None otherwise (absent and not yours look the same)."""
    stmt = (
        select(
            AP.id, AP.application_id, AP.department_id, D.code.label("department_code"), Tenant.path
        )
        .join(D, D.id == AP.department_id)
        .join(A, A.id == AP.application_id)
        .join(Tenant, Tenant.id == A.tenant_id)
        .where(AP.id == approval_id)
        .where(AP.department_id.in_(select(S.department_id).where(S.username == username)))
    )
    return (await db.execute(stmt)).first()


async def decide(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    approve: bool,
    note: str | None,
    actor: Actor,
) -> Decision:
    """Record one department's decision and derive the application's status."""
    note = refuse_nul(note or "", "note").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise BadUserInput(f"note must be at most {MAX_NOTE} characters", argument="note")
    if not approve and note is None:
        raise BadUserInput("a rejection needs a note telling the applicant why", argument="note")
    # The application's row lock serialises the decisions on it (PostgreSQL; SQLite writes one
    # at a time anyway): the last two approvals cannot both see the other one still pending.
    app = (
        await conn.execute(
            select(A.id, A.submitted_at).where(A.id == found.application_id).with_for_update()
        )
    ).one()
    new = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    done = await conn.execute(
        update(AP)
        .where(AP.id == found.id, AP.status == ApprovalStatus.PENDING.value)
        .values(status=new.value, note=note, decided_by=actor.principal, decided_at=actor.now)
    )
    if not done.rowcount:
        state = await conn.scalar(select(AP.status).where(AP.id == found.id))
        raise BadUserInput(
            f"this approval is already {state}: a department decides once",
            argument="id",
            state=state,
        )
    duration = max(0, int((actor.now - app.submitted_at).total_seconds()))
    closing = and_(A.id == app.id, A.status == ApplicationStatus.PENDING.value)
    closed = {"completed_at": actor.now, "duration_seconds": duration}
    completed = False
    if not approve:
        # Guarded by the status like a completion (under the lock no other decision can have
        # closed it: its other approvals would no longer be pending, this one included).
        moved = await conn.execute(
            update(A).where(closing).values(status=ApplicationStatus.REJECTED.value, **closed)
        )
        await conn.execute(
            update(AP)
            .where(AP.application_id == app.id, AP.status == ApprovalStatus.PENDING.value)
            .values(status=ApprovalStatus.WITHDRAWN.value, decided_at=actor.now)
        )
        status, completed = ApplicationStatus.REJECTED, bool(moved.rowcount)
    else:
        left = await conn.scalar(
            select(func.count())
            .select_from(AP)
            .where(AP.application_id == app.id, AP.status != ApprovalStatus.APPROVED.value)
        )
        status = ApplicationStatus.PENDING
        if left == 0:
            # Guarded by the status: only one decision ever moves it out of PENDING.
            moved = await conn.execute(
                update(A).where(closing).values(status=ApplicationStatus.COMPLETED.value, **closed)
            )
            completed = bool(moved.rowcount)
            status = ApplicationStatus.COMPLETED
    entries = [
        _entry(
            actor,
            "one_form.approve" if approve else "one_form.reject",
            found.path,
            str(found.id),
            application=app.id,
            department=found.department_code,
            **({"note": note} if note else {}),
        )
    ]
    if completed:
        entries.append(
            _entry(
                actor,
                "one_form.complete" if approve else "one_form.rejected",
                found.path,
                str(app.id),
                status=status.value,
                durationSeconds=duration,
            )
        )
    await _audit(conn, actor, entries)
    event = None
    if completed:
        # Only the decision that moved the application out of PENDING gets here: one event
        # per application, also when the last two decisions race (they take turns on the lock).
        event = await _emit_closing(
            conn, application_id=app.id, status=status, duration=duration, now=actor.now
        )
    return Decision(found.id, app.id, status, completed, event)


# -- reading applications -----------------------------------------------------------------------

APPLICATION_COLUMNS = (
    A.id,
    A.service_type_id,
    ST.code.label("type_code"),
    ST.name.label("type_name"),
    ST.fields.label("type_fields"),  # where the personal fields are, to mask them
    A.tenant_id,
    Tenant.path.label("t_path"),
    Tenant.name.label("t_name"),
    A.applicant_member_id,
    A.applicant_name,
    A.submitted_by,
    A.values,
    A.materials,
    A.status,
    A.submitted_at,
    A.completed_at,
    A.duration_seconds,
)


def _applications(scope: Scope | None, kind: bool, status: bool) -> AnySelect:
    stmt = (
        select(*APPLICATION_COLUMNS)
        .join(ST, ST.id == A.service_type_id)
        .join(Tenant, Tenant.id == A.tenant_id)
    )
    if scope is None:  # the applicant's own
        stmt = stmt.where(A.applicant_member_id == bindparam("member_id"))
    else:
        stmt = stmt.where(scope.predicate(Tenant.path))
    if kind:
        stmt = stmt.where(A.service_type_id == bindparam("type_id"))
    if status:
        stmt = stmt.where(A.status == bindparam("status"))
    return stmt


@memoized
def _application_page(scope: Scope | None, kind: bool, status: bool, after: bool) -> AnySelect:
    stmt = _applications(scope, kind, status)
    # Newest first: ids grow with submission.
    return newest_first(stmt, A.id, after=after)


@memoized
def _application_count(scope: Scope | None, kind: bool, status: bool) -> AnySelect:
    return counted(_applications(scope, kind, status))


@dataclass(frozen=True, slots=True)
class Filters:
    scope: Scope | None = None  # None: the member's own
    member_id: int | None = None
    type_id: int | None = None
    status: ApplicationStatus | None = None

    def params(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "type_id": self.type_id,
            "status": None if self.status is None else self.status.value,
        }

    @property
    def shape(self) -> tuple[Scope | None, bool, bool]:
        return self.scope, self.type_id is not None, self.status is not None


async def list_applications(
    db: Reader, filters: Filters, *, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _application_page(*filters.shape, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, **filters.params()))).all()


async def count_applications(db: Reader, filters: Filters) -> int:
    return int(await db.scalar(_application_count(*filters.shape), filters.params()))


@memoized
def _application_by_id() -> AnySelect:
    return _applications(Scope.everything(), False, False).where(A.id == bindparam("id"))


async def application_by_id(db: Reader, pk: int) -> AnyRow | None:
    return (await db.execute(_application_by_id(), {"id": pk})).first()


APPROVAL_COLUMNS = (
    AP.id,
    AP.application_id,
    AP.department_id,
    D.code.label("department_code"),
    D.name.label("department_name"),
    AP.status,
    AP.note,
    AP.decided_by,
    AP.decided_at,
    AP.created_at,
)


@memoized
def _approvals_of() -> AnySelect:
    return (
        select(*APPROVAL_COLUMNS)
        .join(D, D.id == AP.department_id)
        .where(AP.application_id.in_(bindparam("ids", expanding=True)))
        .order_by(AP.application_id, AP.id)
    )


async def approvals_of(db: Reader, application_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """Each application's approvals, for a page of applications in one query."""
    out: dict[int, list[AnyRow]] = {a: [] for a in application_ids}
    if application_ids:
        for row in await db.execute(_approvals_of(), {"ids": sorted(set(application_ids))}):
            out[row.application_id].append(row)
    return out


# -- the departments' work queue ------------------------------------------------------------------


def _queue(department: bool) -> AnySelect:
    stmt = (
        select(*APPROVAL_COLUMNS)
        .join(D, D.id == AP.department_id)
        .where(AP.status == bindparam("status"))
        .where(
            AP.department_id.in_(select(S.department_id).where(S.username == bindparam("username")))
        )
    )
    if department:
        stmt = stmt.where(AP.department_id == bindparam("department_id"))
    return stmt


@memoized
def _queue_page(department: bool, after: bool) -> AnySelect:
    stmt = _queue(department)
    # Oldest first: approvals are created with their application, so id order is arrival order.
    return keyset(stmt, AP.id, after=after)


@memoized
def _queue_count(department: bool) -> AnySelect:
    return counted(_queue(department))


async def work_queue(
    db: Reader,
    *,
    username: str,
    status: ApprovalStatus,
    department_id: int | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    params = page_params(
        after_id, limit, username=username, status=status.value, department_id=department_id
    )
    return (
        await db.execute(_queue_page(department_id is not None, after_id is not None), params)
    ).all()


async def count_work_queue(
    db: Reader, *, username: str, status: ApprovalStatus, department_id: int | None
) -> int:
    params = {"username": username, "status": status.value, "department_id": department_id}
    return int(await db.scalar(_queue_count(department_id is not None), params))


@memoized
def _applications_by_ids() -> AnySelect:
    return _applications(Scope.everything(), False, False).where(
        A.id.in_(bindparam("ids", expanding=True))
    )


async def applications_by_ids(db: Reader, ids: Sequence[int]) -> dict[int, AnyRow]:
    if not ids:
        return {}
    rows = await db.execute(_applications_by_ids(), {"ids": sorted(set(ids))})
    return {r.id: r for r in rows}


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypeFigures:
    type_id: int
    code: str
    name: str
    submitted: int
    completed: int
    rejected: int
    pending: int
    average_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None


def median(values: Sequence[int]) -> float | None:
    """The middle value of sorted `values` (the mean of the two middle ones for an even count)."""
    n = len(values)
    if n == 0:
        return None
    mid = n // 2
    return float(values[mid]) if n % 2 else (values[mid - 1] + values[mid]) / 2


def percentile(values: Sequence[int], p: float) -> float | None:
    """Nearest-rank percentile of sorted `values`: the smallest value with at least p% of the
    values at or below it."""
    if not values:
        return None
    rank = max(1, math.ceil(p / 100 * len(values)))
    return float(values[rank - 1])


@memoized
def _report_counts(scope: Scope) -> AnySelect:
    return (
        select(A.service_type_id, A.status, func.count())
        .join(Tenant, Tenant.id == A.tenant_id)
        .where(scope.predicate(Tenant.path))
        .where(A.submitted_at >= bindparam("since"), A.submitted_at < bindparam("until"))
        .group_by(A.service_type_id, A.status)
    )


@memoized
def _report_durations(scope: Scope) -> AnySelect:
    return (
        select(A.service_type_id, A.duration_seconds)
        .join(Tenant, Tenant.id == A.tenant_id)
        .where(scope.predicate(Tenant.path))
        .where(A.submitted_at >= bindparam("since"), A.submitted_at < bindparam("until"))
        .where(A.status == ApplicationStatus.COMPLETED.value)
        .order_by(A.service_type_id, A.duration_seconds)
    )


async def report(
    db: Reader, *, scope: Scope, since: datetime, until: datetime
) -> list[TypeFigures]:
    """Per service type (every type, in id order), the applications submitted in [since,
    until) within the scope: counts by status, and the durations to completion of the
    completed ones (average, median, 90th percentile, in seconds). Rejected applications have
    a duration too, but it is time to refusal, not to completion: left out."""
    params = {"since": since, "until": until}
    counts: dict[int, dict[str, int]] = {}
    for type_id, status, n in await db.execute(_report_counts(scope), params):
        counts.setdefault(type_id, {})[status] = n
    durations: dict[int, list[int]] = {}
    for type_id, seconds in await db.execute(_report_durations(scope), params):
        durations.setdefault(type_id, []).append(seconds)
    types = (await db.execute(select(ST.id, ST.code, ST.name).order_by(ST.id))).all()
    out: list[TypeFigures] = []
    for t in types:
        c = counts.get(t.id, {})
        d = durations.get(t.id, [])
        out.append(
            TypeFigures(
                type_id=t.id,
                code=t.code,
                name=t.name,
                submitted=sum(c.values()),
                completed=c.get(ApplicationStatus.COMPLETED.value, 0),
                rejected=c.get(ApplicationStatus.REJECTED.value, 0),
                pending=c.get(ApplicationStatus.PENDING.value, 0),
                average_seconds=sum(d) / len(d) if d else None,
                median_seconds=median(d),
                p90_seconds=percentile(d, 90),
            )
        )
    return out
