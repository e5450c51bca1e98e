"""One-form services (一件事) over GraphQL.

Queries: oneFormDepartments, oneFormStaff, oneFormServiceTypes, oneFormServiceType,
myOneFormApplications, oneFormApplications, myOneFormDepartments, oneFormWorkQueue,
oneFormReport. Mutations: createOneFormDepartment, addOneFormStaff, removeOneFormStaff,
createOneFormServiceType, setOneFormServiceTypeActive, submitOneFormApplication,
decideOneFormApproval.

Who may do what (rules in server/one_form/service.py, for users in docs/one_form.md):
reference data (departments, staff, service types) is read under ONE_FORM read and changed
only under ONE_FORM write over the district's root tenant; a member applies for itself, an
admin with ONE_FORM write applies on a resident's behalf at a tenant of its subtree; admins
list the applications of their subtree (ONE_FORM write); a department's staff (rows of
one_form_staff, not Casbin roles) decide its approvals and see them in their work queue.
Personal data (Viewer): PHONE and ID_NUMBER values are masked but for the applicant and the
staff still deciding; staff do not see which account applied; every read of `values` by
anyone but the applicant is audited (one_form.read).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import cursor, global_id, id_of
from schema.pagination import PageArgs
from schema.permissions import Can, SignedIn, allow
from schema.types import Counter, PageInfo
from server.audit import service as audit
from server.branches.models import Branch
from server.errors import BadUserInput
from server.members.models import Member
from server.one_form import forms, service
from server.one_form.forms import FieldType
from server.one_form.models import ApplicationStatus, ApprovalStatus
from server.sql import AnyRow
from tenants.models import Tenant
from tenants.scope import Scope

strawberry.enum(
    FieldType,
    name="OneFormFieldType",
    description="What a form field holds (docs/one_form.md). PHONE and ID_NUMBER are personal "
    "data: masked but for the applicant and the staff still deciding.",
)
strawberry.enum(
    ApplicationStatus,
    name="OneFormApplicationStatus",
    description="PENDING while a department is deciding and none rejected; REJECTED as soon "
    "as one rejects; COMPLETED when all approved.",
)
strawberry.enum(
    ApprovalStatus,
    name="OneFormApprovalStatus",
    description="One department's decision; WITHDRAWN: closed undecided because another "
    "department rejected the application.",
)

MAX_REPORT_DAYS = 3660


# -- types -------------------------------------------------------------------------------------


@strawberry.type(name="OneFormDepartment", description="A department that approves (区民政局…).")
class DepartmentNode:
    id: strawberry.ID
    code: str
    name: str


@strawberry.type(name="OneFormStaff", description="An account acting for a department.")
class StaffNode:
    id: strawberry.ID
    username: str
    created_at: datetime
    created_by: str


@strawberry.type(name="OneFormField", description="One field of a service type's form.")
class FieldNode:
    key: str = strawberry.field(description="The key its value goes under in `values`.")
    label: str
    type: FieldType
    required: bool
    options: list[str] = strawberry.field(description="The allowed values of a CHOICE field.")
    max_length: int | None = strawberry.field(
        description=f"TEXT only; {forms.DEFAULT_MAX_LENGTH} when null."
    )


@strawberry.type(name="OneFormMaterial", description="A material every application must list.")
class MaterialNode:
    key: str
    label: str


@strawberry.type(name="OneFormServiceType", description="A service: one form, several departments.")
class ServiceTypeNode:
    id: strawberry.ID
    code: str
    name: str
    description: str
    active: bool = strawberry.field(description="Open for applications.")
    fields: list[FieldNode]
    materials: list[MaterialNode]
    departments: list[DepartmentNode] = strawberry.field(
        description="Every one approves each application, in parallel."
    )


@strawberry.type(name="OneFormMaterialFile", description="A listed material (metadata only).")
class MaterialFileNode:
    key: str
    name: str
    content_type: str
    size: int = strawberry.field(description="Bytes.")


@strawberry.type(name="OneFormApproval", description="One department's part of an application.")
class ApprovalNode:
    id: strawberry.ID
    department: DepartmentNode
    status: ApprovalStatus
    note: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    application: OneFormApplicationNode | None = strawberry.field(
        description="The application (in the work queue; null inside an application)."
    )


@strawberry.type(name="OneFormApplication", description="One submission of a service's form.")
class OneFormApplicationNode:
    id: strawberry.ID
    service_type_code: str
    service_type_name: str
    tenant_id: strawberry.ID = strawberry.field(description="The tenant it belongs to.")
    tenant_name: str
    applicant_name: str
    applicant_member_id: strawberry.ID | None = strawberry.field(
        description="The applicant member; null on a resident's behalf, and for department "
        "staff (who need the form, not the account)."
    )
    submitted_by: str | None = strawberry.field(
        description="The account that submitted it; shown to the applicant and to admins of "
        "its tenant, null for department staff."
    )
    materials: list[MaterialFileNode]
    status: ApplicationStatus
    submitted_at: datetime
    completed_at: datetime | None = strawberry.field(
        description="When it was completed or rejected."
    )
    duration_seconds: int | None = strawberry.field(
        description="From submission to completion (or rejection)."
    )
    approvals: list[ApprovalNode] = strawberry.field(description="One per department.")
    pk: strawberry.Private[int]
    path: strawberry.Private[str]
    shown_values: strawberry.Private[dict[str, Any]]
    unmasked: strawberry.Private[bool]
    audited: strawberry.Private[bool]

    @strawberry.field(
        description="Field key → value, as checked. PHONE and ID_NUMBER values are masked "
        "(138****5678) for anyone but the applicant and the staff of a department still "
        "deciding the application. Every read by anyone but the applicant is audited "
        "(one_form.read)."
    )
    def values(self, info: Info[Context, None]) -> JSON:
        if self.audited:
            ctx = info.context
            ctx.audit(
                audit.Entry(
                    principal=ctx.actor(),
                    action="one_form.read",
                    tenant_path=self.path,
                    subject=str(self.pk),
                    client_address=ctx.client_address,
                    detail={"application": self.pk, "unmasked": self.unmasked},
                )
            )
        return self.shown_values  # type: ignore[return-value]


@strawberry.type(name="OneFormDepartmentEdge")
class DepartmentEdge:
    cursor: str
    node: DepartmentNode


@strawberry.type(name="OneFormDepartmentConnection")
class DepartmentConnection:
    edges: list[DepartmentEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="OneFormStaffEdge")
class StaffEdge:
    cursor: str
    node: StaffNode


@strawberry.type(name="OneFormStaffConnection")
class StaffConnection:
    edges: list[StaffEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="OneFormServiceTypeEdge")
class ServiceTypeEdge:
    cursor: str
    node: ServiceTypeNode


@strawberry.type(name="OneFormServiceTypeConnection")
class ServiceTypeConnection:
    edges: list[ServiceTypeEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class OneFormApplicationEdge:
    cursor: str
    node: OneFormApplicationNode


@strawberry.type
class OneFormApplicationConnection:
    edges: list[OneFormApplicationEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="OneFormApprovalEdge")
class ApprovalEdge:
    cursor: str
    node: ApprovalNode


@strawberry.type(name="OneFormApprovalConnection")
class ApprovalConnection:
    edges: list[ApprovalEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type(name="OneFormTypeFigures", description="One service type's figures.")
class TypeFiguresNode:
    service_type_code: str
    service_type_name: str
    submitted: int
    completed: int
    rejected: int
    pending: int
    average_duration_seconds: float | None = strawberry.field(
        description="Mean time from submission to completion of the completed ones."
    )
    median_duration_seconds: float | None
    p90_duration_seconds: float | None = strawberry.field(
        description="Nearest-rank 90th percentile."
    )


@strawberry.type(name="OneFormReport")
class ReportNode:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    types: list[TypeFiguresNode] = strawberry.field(description="Every service type, in id order.")


# -- inputs ------------------------------------------------------------------------------------


@strawberry.input(name="OneFormFieldInput")
class FieldInput:
    key: str
    label: str
    type: FieldType
    required: bool = False
    options: list[str] | None = None
    max_length: int | None = None


@strawberry.input(name="OneFormMaterialInput")
class MaterialInput:
    key: str
    label: str


@strawberry.input
class CreateOneFormServiceTypeInput:
    code: str
    name: str
    fields: list[FieldInput]
    departments: list[str] = strawberry.field(description="Department codes.")
    description: str = ""
    materials: list[MaterialInput] = strawberry.field(default_factory=list)


@strawberry.input(name="OneFormMaterialFileInput")
class MaterialFileInput:
    key: str
    name: str
    content_type: str
    size: int


@strawberry.input
class SubmitOneFormApplicationInput:
    service_type: str = strawberry.field(description="The service type's code.")
    values: JSON = strawberry.field(description="Field key → value (see OneFormField).")
    materials: list[MaterialFileInput] = strawberry.field(default_factory=list)
    tenant: strawberry.ID | None = strawberry.field(
        default=None,
        description="Admins only, with applicantName: submit on a resident's behalf at this "
        "tenant of your subtree. A member leaves both out and applies for itself.",
    )
    applicant_name: str | None = None


# -- mapping -----------------------------------------------------------------------------------


def department_node(row: Any) -> DepartmentNode:
    return DepartmentNode(id=global_id("OneFormDepartment", row.id), code=row.code, name=row.name)


def type_node(row: AnyRow, departments: Sequence[AnyRow]) -> ServiceTypeNode:
    form = forms.load(row.fields, row.materials)
    return ServiceTypeNode(
        id=global_id("OneFormServiceType", row.id),
        code=row.code,
        name=row.name,
        description=row.description,
        active=row.active,
        fields=[
            FieldNode(
                key=f.key,
                label=f.label,
                type=f.type,
                required=f.required,
                options=list(f.options),
                max_length=f.max_length,
            )
            for f in form.fields
        ],
        materials=[MaterialNode(key=m.key, label=m.label) for m in form.materials],
        departments=[department_node(d) for d in departments],
    )


def approval_node(row: AnyRow, application: OneFormApplicationNode | None = None) -> ApprovalNode:
    return ApprovalNode(
        id=global_id("OneFormApproval", row.id),
        department=DepartmentNode(
            id=global_id("OneFormDepartment", row.department_id),
            code=row.department_code,
            name=row.department_name,
        ),
        status=ApprovalStatus(row.status),
        note=row.note,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        created_at=row.created_at,
        application=application,
    )


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who reads applications, for what each may see of one (docs/one_form.md, "Personal
    data"): the applicant member sees its own whole; the account that submitted it (on a
    resident's behalf) and the staff of a department whose approval is still pending see the
    personal fields (PHONE, ID_NUMBER) unmasked; everyone else sees them masked. Admins of the
    application's tenant (and the applicant) see which account submitted it; staff do not."""

    subject: str | None
    member_id: int | None
    departments: frozenset[int]  # the departments the account acts for
    admin: Scope  # ONE_FORM write

    def own(self, row: AnyRow) -> bool:
        return self.member_id is not None and self.member_id == row.applicant_member_id

    def unmasked(self, row: AnyRow, approvals: Sequence[AnyRow]) -> bool:
        deciding = any(
            a.department_id in self.departments and a.status == ApprovalStatus.PENDING.value
            for a in approvals
        )
        return self.own(row) or self.subject == row.submitted_by or deciding


async def viewer(ctx: Context, *, staff: bool = True) -> Viewer:
    """The viewer; `staff=False` skips looking up its departments (its own applications)."""
    principal = ctx.require_principal()
    username = _username(ctx)
    departments = (
        frozenset(await service.staff_department_ids(ctx.db, username))
        if staff and username is not None
        else frozenset()
    )
    return Viewer(
        principal.subject,
        principal.member_id,
        departments,
        ctx.scope(Resource.ONE_FORM, Action.WRITE),
    )


@functools.lru_cache(maxsize=256)
def _form(fields_json: str) -> forms.Form:
    return forms.load(fields_json, "[]")


def application_node(
    row: AnyRow, approvals: Sequence[AnyRow], viewer: Viewer
) -> OneFormApplicationNode:
    own = viewer.own(row)
    identity = own or viewer.admin.contains(row.t_path)
    unmasked = viewer.unmasked(row, approvals)
    values = json.loads(row.values)
    return OneFormApplicationNode(
        pk=row.id,
        path=row.t_path,
        shown_values=values if unmasked else forms.mask_values(_form(row.type_fields), values),
        unmasked=unmasked,
        audited=not own,
        id=global_id("OneFormApplication", row.id),
        service_type_code=row.type_code,
        service_type_name=row.type_name,
        tenant_id=global_id("Tenant", row.tenant_id),
        tenant_name=row.t_name,
        applicant_name=row.applicant_name,
        applicant_member_id=None
        if row.applicant_member_id is None or not identity
        else global_id("Member", row.applicant_member_id),
        submitted_by=row.submitted_by if identity else None,
        materials=[
            MaterialFileNode(
                key=m["key"], name=m["name"], content_type=m["contentType"], size=m["size"]
            )
            for m in json.loads(row.materials)
        ],
        status=ApplicationStatus(row.status),
        submitted_at=row.submitted_at,
        completed_at=row.completed_at,
        duration_seconds=row.duration_seconds,
        approvals=[approval_node(a) for a in approvals],
    )


def _page_info(edges: Sequence[Any], more: bool) -> PageInfo:
    return PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)


async def _applications_page(
    ctx: Context, rows: Sequence[AnyRow], page: PageArgs, counter: Counter, who: Viewer
) -> OneFormApplicationConnection:
    more, rows = len(rows) > page.first, rows[: page.first]
    approvals = await service.approvals_of(ctx.db, [r.id for r in rows])
    edges = [
        OneFormApplicationEdge(cursor=cursor(r.id), node=application_node(r, approvals[r.id], who))
        for r in rows
    ]
    return OneFormApplicationConnection(
        edges=edges, page_info=_page_info(edges, more), counter=counter
    )


def _actor(ctx: Context) -> service.Actor:
    return service.Actor(ctx.actor(), ctx.client_address, datetime.now(UTC))


async def _district(ctx: Context, what: str) -> str:
    """The district's path, when the caller holds ONE_FORM write over it; FORBIDDEN else."""
    path = await service.district_path(ctx.db)
    if not ctx.scope(Resource.ONE_FORM, Action.WRITE).contains(path):
        raise ctx.denied(what, path=path)
    return path


def _username(ctx: Context) -> str | None:
    principal = ctx.require_principal()
    return principal.name if principal.kind == "user" else None


async def _type_node(ctx: Context, code: str) -> ServiceTypeNode | None:
    row = await service.type_by_code(ctx.db, code)
    if row is None:
        return None
    return type_node(row, (await service.departments_of_types(ctx.db, [row.id]))[row.id])


async def _application(ctx: Context, pk: int) -> OneFormApplicationNode:
    row = await service.application_by_id(ctx.db, pk)
    assert row is not None
    return application_node(row, (await service.approvals_of(ctx.db, [pk]))[pk], await viewer(ctx))


# -- queries -----------------------------------------------------------------------------------


@strawberry.type
class OneFormQuery:
    @strawberry.field(
        description="The departments that approve one-form services, in id order.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.READ))],
    )
    async def one_form_departments(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> DepartmentConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        rows = await service.list_departments(ctx.db, after_id=page.after_id, limit=page.fetch)
        more, rows = len(rows) > page.first, rows[: page.first]
        edges = [DepartmentEdge(cursor=cursor(r.id), node=department_node(r)) for r in rows]
        return DepartmentConnection(
            edges=edges,
            page_info=_page_info(edges, more),
            counter=lambda: service.count_departments(ctx.db),
        )

    @strawberry.field(
        description="The accounts acting for a department (district ONE_FORM write).",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def one_form_staff(
        self,
        info: Info[Context, None],
        department: str,
        first: int | None = None,
        after: str | None = None,
    ) -> StaffConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        await _district(ctx, "read one-form department staff")
        dept = await service.department_id(ctx.db, department, argument="department")
        rows = await service.list_staff(
            ctx.db, department_id=dept, after_id=page.after_id, limit=page.fetch
        )
        more, rows = len(rows) > page.first, rows[: page.first]
        edges = [
            StaffEdge(
                cursor=cursor(r.id),
                node=StaffNode(
                    id=global_id("OneFormStaff", r.id),
                    username=r.username,
                    created_at=r.created_at,
                    created_by=r.created_by,
                ),
            )
            for r in rows
        ]
        return StaffConnection(
            edges=edges,
            page_info=_page_info(edges, more),
            counter=lambda: service.count_staff(ctx.db, department_id=dept),
        )

    @strawberry.field(
        description="The service types, in id order: open ones only unless includeInactive.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.READ))],
    )
    async def one_form_service_types(
        self,
        info: Info[Context, None],
        include_inactive: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> ServiceTypeConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        active_only = not include_inactive
        rows = await service.list_types(
            ctx.db, active_only=active_only, after_id=page.after_id, limit=page.fetch
        )
        more, rows = len(rows) > page.first, rows[: page.first]
        departments = await service.departments_of_types(ctx.db, [r.id for r in rows])
        edges = [
            ServiceTypeEdge(cursor=cursor(r.id), node=type_node(r, departments[r.id])) for r in rows
        ]
        return ServiceTypeConnection(
            edges=edges,
            page_info=_page_info(edges, more),
            counter=lambda: service.count_types(ctx.db, active_only=active_only),
        )

    @strawberry.field(
        description="One service type by its code (its form, to fill in); null if none.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.READ))],
    )
    async def one_form_service_type(
        self, info: Info[Context, None], code: str
    ) -> ServiceTypeNode | None:
        return await _type_node(info.context, code)

    @strawberry.field(
        description="Your own applications (a member), newest first, with each department's "
        "decision, note and time.",
        extensions=[allow(SignedIn())],
    )
    async def my_one_form_applications(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> OneFormApplicationConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        member_id = ctx.own_member("read one-form applications without a member record")
        filters = service.Filters(member_id=member_id)
        rows = await service.list_applications(
            ctx.db, filters, after_id=page.after_id, limit=page.fetch
        )
        return await _applications_page(
            ctx,
            rows,
            page,
            lambda: service.count_applications(ctx.db, filters),
            await viewer(ctx, staff=False),
        )

    @strawberry.field(
        description="Applications at the tenants of your subtree (ONE_FORM write), newest "
        "first; `under` narrows to a tenant's subtree, `serviceType` and `status` filter.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def one_form_applications(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        service_type: str | None = None,
        status: ApplicationStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> OneFormApplicationConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ONE_FORM, Action.WRITE)
        type_id = None
        if service_type is not None:
            kind = await service.type_by_code(ctx.db, service_type)
            if kind is None:
                raise BadUserInput(
                    f"there is no service type {service_type!r}", argument="serviceType"
                )
            type_id = kind.id
        filters = service.Filters(scope=scope, type_id=type_id, status=status)
        rows = await service.list_applications(
            ctx.db, filters, after_id=page.after_id, limit=page.fetch
        )
        return await _applications_page(
            ctx,
            rows,
            page,
            lambda: service.count_applications(ctx.db, filters),
            await viewer(ctx),
        )

    @strawberry.field(
        description="The departments you act for (empty if none).",
        extensions=[allow(SignedIn())],
    )
    async def my_one_form_departments(self, info: Info[Context, None]) -> list[DepartmentNode]:
        ctx = info.context
        username = _username(ctx)
        if username is None:
            return []
        ids = await service.staff_department_ids(ctx.db, username)
        return [department_node(r) for r in await service.departments_by_ids(ctx.db, ids)]

    @strawberry.field(
        description="Your departments' approvals in `status` (PENDING: the work queue), oldest "
        "first, each with its application; `department` narrows to one of yours. Empty for "
        "an account that acts for no department.",
        extensions=[allow(SignedIn())],
    )
    async def one_form_work_queue(
        self,
        info: Info[Context, None],
        department: str | None = None,
        status: ApprovalStatus = ApprovalStatus.PENDING,
        first: int | None = None,
        after: str | None = None,
    ) -> ApprovalConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        username = _username(ctx) or ""
        dept = (
            None
            if department is None
            else await service.department_id(ctx.db, department, argument="department")
        )
        rows = await service.work_queue(
            ctx.db,
            username=username,
            status=status,
            department_id=dept,
            after_id=page.after_id,
            limit=page.fetch,
        )
        more, rows = len(rows) > page.first, rows[: page.first]
        app_ids = [r.application_id for r in rows]
        apps = await service.applications_by_ids(ctx.db, app_ids)
        approvals = await service.approvals_of(ctx.db, app_ids)
        who = await viewer(ctx)
        edges = [
            ApprovalEdge(
                cursor=cursor(r.id),
                node=approval_node(
                    r,
                    application_node(apps[r.application_id], approvals[r.application_id], who),
                ),
            )
            for r in rows
        ]
        return ApprovalConnection(
            edges=edges,
            page_info=_page_info(edges, more),
            counter=lambda: service.count_work_queue(
                ctx.db, username=username, status=status, department_id=dept
            ),
        )

    @strawberry.field(
        description="Per service type, the applications submitted in [from, to) at the "
        "tenants of your subtree (`under` narrows it): counts by status and the time from "
        "submission to completion (average, median, 90th percentile, seconds).",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def one_form_report(
        self,
        info: Info[Context, None],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        under: strawberry.ID | None = None,
    ) -> ReportNode:
        ctx = info.context
        if from_.tzinfo is None or to.tzinfo is None:
            raise BadUserInput(
                "from and to need a time zone offset",
                argument="from" if from_.tzinfo is None else "to",
            )
        if to <= from_:
            raise BadUserInput("to must be after from", argument="to")
        if (to - from_).days > MAX_REPORT_DAYS:
            raise BadUserInput(f"a report covers at most {MAX_REPORT_DAYS} days", argument="to")
        scope = await ctx.scope_under(under, Resource.ONE_FORM, Action.WRITE)
        figures = await service.report(ctx.db, scope=scope, since=from_, until=to)
        return ReportNode(
            from_=from_,
            to=to,
            types=[
                TypeFiguresNode(
                    service_type_code=f.code,
                    service_type_name=f.name,
                    submitted=f.submitted,
                    completed=f.completed,
                    rejected=f.rejected,
                    pending=f.pending,
                    average_duration_seconds=f.average_seconds,
                    median_duration_seconds=f.median_seconds,
                    p90_duration_seconds=f.p90_seconds,
                )
                for f in figures
            ],
        )


# -- mutations ---------------------------------------------------------------------------------


@strawberry.type
class OneFormMutation:
    @strawberry.mutation(
        description="Add a department (district ONE_FORM write).",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def create_one_form_department(
        self, info: Info[Context, None], code: str, name: str
    ) -> DepartmentNode:
        ctx = info.context
        path = await _district(ctx, "manage one-form departments")
        async with ctx.runtime.write() as (conn, _outbox):
            pk = await service.create_department(
                conn, code=code, name=name, actor=_actor(ctx), path=path
            )
        return department_node((await service.departments_by_ids(ctx.db, [pk]))[0])

    @strawberry.mutation(
        description="Let an account act for a department: decide its approvals (district "
        "ONE_FORM write).",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def add_one_form_staff(
        self, info: Info[Context, None], department: str, username: str
    ) -> bool:
        ctx = info.context
        path = await _district(ctx, "manage one-form department staff")
        async with ctx.runtime.write() as (conn, _outbox):
            await service.add_staff(
                conn, department=department, username=username, actor=_actor(ctx), path=path
            )
        return True

    @strawberry.mutation(
        description="Stop an account acting for a department (district ONE_FORM write).",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def remove_one_form_staff(
        self, info: Info[Context, None], department: str, username: str
    ) -> bool:
        ctx = info.context
        path = await _district(ctx, "manage one-form department staff")
        async with ctx.runtime.write() as (conn, _outbox):
            await service.remove_staff(
                conn, department=department, username=username, actor=_actor(ctx), path=path
            )
        return True

    @strawberry.mutation(
        description="Declare a service type: its one form (fields, materials) and the "
        "departments that approve it (district ONE_FORM write). The form cannot be changed "
        "afterwards (applications were checked against it): close the type and declare "
        "another.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def create_one_form_service_type(
        self, info: Info[Context, None], input: CreateOneFormServiceTypeInput
    ) -> ServiceTypeNode:
        ctx = info.context
        path = await _district(ctx, "manage one-form service types")
        form = forms.declare(
            [
                forms.Field(
                    key=f.key,
                    label=f.label,
                    type=f.type,
                    required=f.required,
                    options=tuple(f.options or ()),
                    max_length=f.max_length,
                )
                for f in input.fields
            ],
            [forms.Material(m.key, m.label) for m in input.materials],
        )
        async with ctx.runtime.write() as (conn, _outbox):
            await service.create_type(
                conn,
                code=input.code,
                name=input.name,
                description=input.description,
                form=form,
                departments=input.departments,
                actor=_actor(ctx),
                path=path,
            )
        node = await _type_node(ctx, input.code.strip())
        assert node is not None
        return node

    @strawberry.mutation(
        description="Open or close a service type for applications (district ONE_FORM write); "
        "applications already submitted go on.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.WRITE))],
    )
    async def set_one_form_service_type_active(
        self, info: Info[Context, None], code: str, active: bool
    ) -> ServiceTypeNode:
        ctx = info.context
        path = await _district(ctx, "manage one-form service types")
        async with ctx.runtime.write() as (conn, _outbox):
            await service.set_type_active(
                conn, code=code, active=active, actor=_actor(ctx), path=path
            )
        node = await _type_node(ctx, code)
        assert node is not None
        return node

    @strawberry.mutation(
        description="Submit one application: the form's values and the materials' metadata. "
        "It goes to every department of the type at once. A member applies for itself; an "
        "admin (ONE_FORM write) applies on a resident's behalf with `tenant` and "
        "`applicantName`. Errors name the field: `values.<key>`, `materials.<key>`.",
        extensions=[allow(Can(Resource.ONE_FORM, Action.READ))],
    )
    async def submit_one_form_application(
        self, info: Info[Context, None], input: SubmitOneFormApplicationInput
    ) -> OneFormApplicationNode:
        ctx = info.context
        principal = ctx.require_principal()
        if input.tenant is not None:
            tenant_pk = id_of(input.tenant, "Tenant", "tenant")
            tenant = await ctx.loaders.tenant.load(tenant_pk)
            if tenant is None or not ctx.scope(Resource.ONE_FORM, Action.WRITE).contains(
                tenant.path
            ):
                raise ctx.denied(
                    "submit one-form applications there",
                    path=None if tenant is None else tenant.path,
                )
            name = service.refuse_nul(input.applicant_name or "", "applicantName").strip()
            if not name or len(name) > 60:
                raise BadUserInput(
                    "applicantName (1 to 60 characters) is required on a resident's behalf",
                    argument="applicantName",
                )
            applicant = service.Applicant(tenant_pk, tenant.path, None, name)
        else:
            if principal.kind != "user" or principal.member_id is None:
                raise ctx.denied("apply without a member record (give tenant and applicantName)")
            if input.applicant_name is not None:
                raise BadUserInput(
                    "applicantName goes with tenant, for an application on a resident's behalf",
                    argument="applicantName",
                )
            row = (
                await ctx.db.execute(
                    select(Member.name, Tenant.id, Tenant.path)
                    .join(Branch, Branch.id == Member.branch_id)
                    .join(Tenant, Tenant.id == Branch.tenant_id)
                    .where(Member.id == principal.member_id)
                )
            ).one()
            applicant = service.Applicant(row.id, row.path, principal.member_id, row.name)
        materials = [
            forms.Attachment(m.key, m.name, m.content_type, m.size) for m in input.materials
        ]
        async with ctx.runtime.write() as (conn, _outbox):
            pk = await service.submit(
                conn,
                type_code=input.service_type,
                applicant=applicant,
                values=input.values,
                materials=materials,
                actor=_actor(ctx),
            )
        return await _application(ctx, pk)

    @strawberry.mutation(
        description="Approve or reject, once, one of your department's approvals (a "
        "rejection needs a note). One rejection rejects the application and withdraws the "
        "other pending approvals; the last approval completes it. Returns the application.",
        extensions=[allow(SignedIn())],
    )
    async def decide_one_form_approval(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        approve: bool,
        note: str | None = None,
    ) -> OneFormApplicationNode:
        ctx = info.context
        pk = id_of(id, "OneFormApproval", "id")
        username = _username(ctx)
        async with ctx.runtime.write() as (conn, outbox):
            found = (
                None
                if username is None
                else await service.approval_for_staff(conn, approval_id=pk, username=username)
            )
            if found is None:
                raise ctx.denied("decide this one-form approval")
            decision = await service.decide(
                conn, found=found, approve=approve, note=note, actor=_actor(ctx)
            )
            if decision.event is not None:
                outbox.append(decision.event)
        return await _application(ctx, decision.application_id)
