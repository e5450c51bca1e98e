"""The cadre archive over GraphQL: cadres, the indicator catalogue, a cadre's records, and
entering, reviewing (joint review) and answering records.

Records are the most sensitive data in ehome. A file is read under ARCHIVE read: admins in
their subtree (by the cadre's tenant), a member only its own file, and there only its VERIFIED
records. Evidence, attachments, review notes and responses are shown under ARCHIVE
read_sensitive (super and senior admins, and the cadre itself) and masked otherwise (junior
admins); every read that shows them is audited.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime

import strawberry
from strawberry.types import Info

from policies.rbac import Action, Resource
from schema.context import Context
from schema.ids import global_id, id_of
from schema.lazy import Lazy
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import (
    EDGES,
    Counter,
    MemberNode,
    Node,
    PageInfo,
    TenantNode,
    connection,
    tenant_from_facts,
)
from server.archives import service
from server.archives.models import (
    Dimension,
    Polarity,
    RecordContext,
    RecordSource,
    ReviewStatus,
    TagSystem,
)
from server.audit import service as audit
from server.errors import Forbidden
from server.sql import AnyRow

strawberry.enum(
    Dimension,
    name="ArchiveDimension",
    description="The five dimensions: political loyalty (政治忠诚), determination (政治定力), "
    "responsibility (政治担当), ability (政治能力), self-discipline (政治自律).",
)
strawberry.enum(
    RecordContext,
    name="ArchiveContext",
    description="At work (8小时内), outside work (8小时外), or a key moment (disaster relief, "
    "public safety, emergencies).",
)
strawberry.enum(Polarity, name="ArchivePolarity")
strawberry.enum(
    TagSystem,
    name="ArchiveTagSystem",
    description="Cultivation (培养), knowing people (识人), selection and appointment (选拔任用), "
    "strict management (从严管理), positive incentives (正向激励).",
)
strawberry.enum(
    RecordSource,
    name="ArchiveRecordSource",
    description="Democratic evaluation, assessment talk, daily supervision, community report.",
)
strawberry.enum(
    ReviewStatus,
    name="ArchiveReviewStatus",
    description="PENDING when entered; VERIFIED or REJECTED by a reviewer other than the "
    "author. Only VERIFIED records count.",
)


@strawberry.enum(name="ArchiveVerdict", description="A reviewer's verdict on a PENDING record.")
class Verdict(enum.StrEnum):
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


# -- types --------------------------------------------------------------------------------------


@strawberry.type(name="ArchiveTagCategory", description="One of the 25 tag categories.")
class TagCategoryNode:
    code: str
    name: str
    system: TagSystem


@strawberry.type(name="ArchiveIndicator", description="What a record is about.")
class IndicatorNode:
    id: strawberry.ID
    code: str
    name: str
    context: RecordContext
    polarity: Polarity
    dimension: Dimension
    tag_category: TagCategoryNode
    points: float = strawberry.field(
        description="The magnitude; a negative indicator subtracts it."
    )
    serious: bool = strawberry.field(description="A serious negative (may light RED at once).")


@strawberry.type(name="Cadre", description="A cadre's file: one per cadre, linked to a member.")
class CadreNode(Node):
    id: strawberry.ID
    name: str = strawberry.field(description="The member's name.")
    position: str = strawberry.field(description="职务")
    rank: str = strawberry.field(description="职级, e.g. 科员, 副科, 正科, 副处.")
    unit: str = strawberry.field(description="单位")
    tenant: TenantNode = strawberry.field(description="Where the cadre serves.")
    member: MemberNode | None = strawberry.field(
        description="The member, when you may read members there."
    )
    pk: strawberry.Private[int]


@strawberry.type(name="ArchiveAttachment", description="An attachment's metadata.")
class AttachmentNode:
    name: str
    content_type: str
    size: int = strawberry.field(description="Bytes.")
    sha256: str


@strawberry.type(name="ArchiveRecord", description="One entry in a cadre's file.")
class RecordNode:
    id: strawberry.ID
    cadre: CadreNode
    indicator: IndicatorNode
    source: RecordSource
    occurred_on: date
    status: ReviewStatus
    author: str
    created_at: datetime
    reviewer: str | None
    reviewed_at: datetime | None
    responded_at: datetime | None
    masked: bool = strawberry.field(
        description="True when evidence, attachments, review note and response are hidden from you."
    )
    evidence: str | None = strawberry.field(description="Sensitive: null when masked.")
    attachments: list[AttachmentNode] = strawberry.field(
        description="Sensitive: empty when masked."
    )
    review_note: str | None = strawberry.field(description="Sensitive: null when masked.")
    response: str | None = strawberry.field(
        description="The cadre's response, kept on file. Sensitive: null when masked."
    )


@strawberry.type
class CadreEdge:
    cursor: str
    node: CadreNode


@strawberry.type
class CadreConnection:
    edges: list[CadreEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class ArchiveIndicatorEdge:
    cursor: str
    node: IndicatorNode


@strawberry.type
class ArchiveIndicatorConnection:
    edges: list[ArchiveIndicatorEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class ArchiveRecordEdge:
    cursor: str
    node: RecordNode


@strawberry.type
class ArchiveRecordConnection:
    edges: list[ArchiveRecordEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[CadreConnection] = CadreEdge
EDGES[ArchiveIndicatorConnection] = ArchiveIndicatorEdge
EDGES[ArchiveRecordConnection] = ArchiveRecordEdge


@strawberry.input
class ArchiveAttachmentInput:
    name: str
    content_type: str = strawberry.field(description="A MIME type, e.g. application/pdf.")
    size: int = strawberry.field(description="Bytes, at most 50 MiB.")
    sha256: str = strawberry.field(description="The file's SHA-256, 64 hexadecimal digits.")


@strawberry.input
class CreateArchiveRecordInput:
    cadre_id: strawberry.ID
    indicator_code: str
    source: RecordSource
    occurred_on: date = strawberry.field(description="Not in the future, not before 2000.")
    evidence: str = strawberry.field(description="1 to 4,000 characters.")
    attachments: list[ArchiveAttachmentInput] = strawberry.field(
        default_factory=list, description="At most 10; metadata only."
    )


# -- rows to nodes ------------------------------------------------------------------------------


def cadre_node(row: AnyRow, ctx: Context) -> CadreNode:
    tenant = {
        "id": row.tenant_id,
        "parent_id": row.t_parent_id,
        "level": row.t_level,
        "code": row.t_code,
        "name": row.t_name,
        "path": row.t_path,
    }
    return CadreNode(
        id=global_id("Cadre", row.id),
        pk=row.id,
        name=row.name,
        position=row.position,
        rank=row.rank,
        unit=row.unit,
        tenant=tenant_from_facts(tenant, ctx.loaders),
        member=Lazy(ctx.loaders.member, row.member_id),  # type: ignore[arg-type]
    )


def indicator_node(row: AnyRow) -> IndicatorNode:
    return IndicatorNode(
        id=global_id("ArchiveIndicator", row.i_id),
        code=row.i_code,
        name=row.i_name,
        context=row.i_context,
        polarity=row.i_polarity,
        dimension=row.i_dimension,
        tag_category=TagCategoryNode(code=row.c_code, name=row.c_name, system=row.c_system),
        points=row.i_points,
        serious=row.i_serious,
    )


def record_node(row: AnyRow, cadre: CadreNode, *, unmasked: bool) -> RecordNode:
    return RecordNode(
        id=global_id("ArchiveRecord", row.id),
        cadre=cadre,
        indicator=indicator_node(row),
        source=row.source,
        occurred_on=row.occurred_on,
        status=row.status,
        author=row.author,
        created_at=row.created_at,
        reviewer=row.reviewer,
        reviewed_at=row.reviewed_at,
        responded_at=row.responded_at,
        masked=not unmasked,
        evidence=row.evidence if unmasked else None,
        attachments=(
            [
                AttachmentNode(
                    name=a.name, content_type=a.content_type, size=a.size, sha256=a.sha256
                )
                for a in service.attachments_of(row.attachments)
            ]
            if unmasked
            else []
        ),
        review_note=row.review_note if unmasked else None,
        response=row.response if unmasked else None,
    )


# -- who sees what ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """How the viewer sees one cadre's file."""

    own: bool  # the cadre itself: its VERIFIED records only
    unmasked: bool  # evidence, attachments, notes and responses shown (and audited)


def _is_own(ctx: Context, member_id: int) -> bool:
    principal = ctx.principal
    return principal is not None and principal.member_id == member_id


def view_of(ctx: Context, path: str, member_id: int) -> View | None:
    """None when the file lies outside what the viewer may read: the same as absent."""
    if not ctx.scope(Resource.ARCHIVE).admits(path, member=member_id):
        return None
    sensitive = ctx.scope(Resource.ARCHIVE, Action.READ_SENSITIVE)
    return View(own=_is_own(ctx, member_id), unmasked=sensitive.admits(path, member=member_id))


async def _none() -> int:
    return 0


def _audit_read(ctx: Context, cadre: AnyRow, count: int, *, own: bool) -> None:
    """One entry per operation and file that showed unmasked records."""
    if count:
        ctx.audit(
            audit.Entry(
                principal=ctx.actor(),
                action="archive.read",
                tenant_path=cadre.t_path,
                subject=str(cadre.id),
                client_address=ctx.client_address,
                detail={"cadre": cadre.id, "records": count, "own": own},
            )
        )


async def load_cadre(ctx: Context, pk: int) -> CadreNode | None:
    """The cadre's file, when the viewer may read it; None otherwise, as for one that does not
    exist. Query.cadre and Query.node both answer with it."""
    rows = await service.cadres_by_ids(ctx.db, scope=ctx.scope(Resource.ARCHIVE), ids=[pk])
    return cadre_node(rows[0], ctx) if rows else None


# -- queries ------------------------------------------------------------------------------------


@strawberry.type
class ArchiveQuery:
    @strawberry.field(
        description="Cadres whose files you may read (admins: by the cadre's tenant in their "
        "subtree; a member: its own file), in id order; `under` narrows to a tenant's subtree, "
        "`search` matches part of the name, unit or position.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def cadres(
        self,
        info: Info[Context, None],
        under: strawberry.ID | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CadreConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        scope = await ctx.scope_under(under, Resource.ARCHIVE)
        rows = await service.list_cadres(
            ctx.db, scope=scope, search=search, after_id=page.after_id, limit=page.fetch
        )
        return connection(
            CadreConnection,
            rows,
            page,
            lambda r: cadre_node(r, ctx),
            lambda: service.count_cadres(ctx.db, scope=scope, search=search),
        )

    @strawberry.field(
        description="One cadre's file, or null when there is none you may read.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def cadre(self, info: Info[Context, None], id: strawberry.ID) -> CadreNode | None:
        return await load_cadre(info.context, id_of(id, "Cadre", "id"))

    @strawberry.field(
        description="Your own cadre file, or null when you have none.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def my_cadre(self, info: Info[Context, None]) -> CadreNode | None:
        ctx = info.context
        member_id = ctx.require_principal().member_id
        if member_id is None:
            return None
        row = await service.cadre_of_member(ctx.db, member_id)
        if row is None or view_of(ctx, row.t_path, row.member_id) is None:
            return None
        return cadre_node(row, ctx)

    @strawberry.field(
        description="The indicator catalogue, in id order; filter by context, polarity or "
        "dimension.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def archive_indicators(
        self,
        info: Info[Context, None],
        context: RecordContext | None = None,
        polarity: Polarity | None = None,
        dimension: Dimension | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ArchiveIndicatorConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        rows = await service.list_indicators(
            ctx.db,
            context=context,
            polarity=polarity,
            dimension=dimension,
            after_id=page.after_id,
            limit=page.fetch,
        )
        return connection(
            ArchiveIndicatorConnection,
            rows,
            page,
            indicator_node,
            lambda: service.count_indicators(
                ctx.db, context=context, polarity=polarity, dimension=dimension
            ),
        )

    @strawberry.field(
        description="One cadre's records, newest entered first; `status` keeps one state. "
        "The cadre itself sees its VERIFIED records only; a file you may not read is empty. "
        "Evidence, attachments, review notes and responses are masked unless you may read "
        "them, and every read that shows them is audited.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def archive_records(
        self,
        info: Info[Context, None],
        cadre_id: strawberry.ID,
        status: ReviewStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> ArchiveRecordConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        pk = id_of(cadre_id, "Cadre", "cadreId")
        row = await service.cadre(ctx.db, pk)
        view = None if row is None else view_of(ctx, row.t_path, row.member_id)
        if (
            row is None
            or view is None
            or (view.own and status not in (None, ReviewStatus.VERIFIED))
        ):
            return connection(ArchiveRecordConnection, [], page, lambda r: r, _none)
        if view.own:
            status = ReviewStatus.VERIFIED
        rows = await service.list_records(
            ctx.db, cadre_id=pk, status=status, after_id=page.after_id, limit=page.fetch
        )
        if view.unmasked:
            _audit_read(ctx, row, min(len(rows), page.first), own=view.own)
        cadre = cadre_node(row, ctx)
        return connection(
            ArchiveRecordConnection,
            rows,
            page,
            lambda r: record_node(r, cadre, unmasked=view.unmasked),
            lambda: service.count_records(ctx.db, cadre_id=pk, status=status),
        )


# -- mutations ----------------------------------------------------------------------------------


@strawberry.type
class ArchiveMutation:
    @strawberry.mutation(
        description="Enter a record in a cadre's file (ARCHIVE write over the cadre's tenant; "
        "junior admins in their village). It is PENDING until another admin reviews it.",
        extensions=[allow(Can(Resource.ARCHIVE, Action.WRITE))],
    )
    async def create_archive_record(
        self, info: Info[Context, None], input: CreateArchiveRecordInput
    ) -> RecordNode:
        ctx = info.context
        pk = id_of(input.cadre_id, "Cadre", "cadreId")
        evidence = service.checked_text(
            input.evidence, argument="evidence", limit=service.EVIDENCE_MAX
        )
        occurred_on = service.checked_occurred_on(
            input.occurred_on, today=datetime.now(ctx.timezone).date()
        )
        attachments = service.checked_attachments(
            [
                service.Attachment(a.name, a.content_type, a.size, a.sha256)
                for a in input.attachments
            ]
        )
        principal = ctx.require_principal()
        async with ctx.runtime.write() as (conn, _outbox):
            row = await service.cadre(conn, pk)
            # Out of reach and absent are the same refusal; nobody keeps their own file.
            if (
                row is None
                or not ctx.scope(Resource.ARCHIVE, Action.WRITE).contains(row.t_path)
                or _is_own(ctx, row.member_id)
            ):
                path = None if row is None else row.t_path
                raise ctx.denied("enter records in that cadre's file", path=path)
            record_id = await service.create_record(
                conn,
                cadre=row,
                indicator_code=input.indicator_code.strip(),
                source=input.source,
                occurred_on=occurred_on,
                evidence=evidence,
                attachments=attachments,
                author=principal.name,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            made = await service.record(conn, record_id)
        assert made is not None
        view = view_of(ctx, row.t_path, row.member_id)
        return record_node(made, cadre_node(row, ctx), unmasked=bool(view and view.unmasked))

    @strawberry.mutation(
        description="Review a PENDING record: VERIFIED or REJECTED (with a note saying why). "
        "Joint review: the reviewer needs ARCHIVE write over the cadre's tenant and may not be "
        "the record's author, nor the cadre. A verified record rescores the cadre and "
        "re-evaluates its light.",
        extensions=[allow(Can(Resource.ARCHIVE, Action.WRITE))],
    )
    async def review_archive_record(
        self,
        info: Info[Context, None],
        record_id: strawberry.ID,
        verdict: Verdict,
        note: str | None = None,
    ) -> RecordNode:
        ctx = info.context
        pk = id_of(record_id, "ArchiveRecord", "recordId")
        if note is not None and note.strip():
            note = service.checked_text(note, argument="note", limit=service.NOTE_MAX)
        else:
            note = None
        principal = ctx.require_principal()
        async with ctx.runtime.write() as (conn, outbox):
            facts = await service.record_facts(conn, pk)
            if (
                facts is None
                or not ctx.scope(Resource.ARCHIVE, Action.WRITE).contains(facts.path)
                or _is_own(ctx, facts.member_id)
            ):
                path = None if facts is None else facts.path
                raise ctx.denied("review records of that cadre's file", path=path)
            if facts.author == principal.name:
                ctx.denied("review a record it entered (joint review)", path=facts.path)
                raise Forbidden("joint review: the author may not review its own record")
            events = await service.review_record(
                conn,
                facts=facts,
                verdict=ReviewStatus(verdict.value),
                note=note,
                reviewer=principal.name,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=(now := datetime.now(UTC)),
                # The scores' window ends on the district's date, as the daily pass's does.
                today=now.astimezone(ctx.runtime.timezone).date(),
            )
            outbox.extend(events)
            made = await service.record(conn, pk)
            cadre = await service.cadre(conn, facts.cadre_id)
        assert made is not None and cadre is not None
        view = view_of(ctx, cadre.t_path, cadre.member_id)
        return record_node(made, cadre_node(cadre, ctx), unmasked=bool(view and view.unmasked))

    @strawberry.mutation(
        description="The cadre's response to a VERIFIED record of its own file (1 to 2,000 "
        "characters), once; it stays on file with the record.",
        extensions=[allow(Can(Resource.ARCHIVE))],
    )
    async def respond_to_archive_record(
        self, info: Info[Context, None], record_id: strawberry.ID, response: str
    ) -> RecordNode:
        ctx = info.context
        pk = id_of(record_id, "ArchiveRecord", "recordId")
        text = service.checked_text(response, argument="response", limit=service.RESPONSE_MAX)
        async with ctx.runtime.write() as (conn, _outbox):
            facts = await service.record_facts(conn, pk)
            # Only the cadre, only what it can see of its file (VERIFIED records); anything
            # else is the same refusal as a record that does not exist.
            if (
                facts is None
                or not _is_own(ctx, facts.member_id)
                or facts.status is not ReviewStatus.VERIFIED
                or view_of(ctx, facts.path, facts.member_id) is None
            ):
                path = None if facts is None else facts.path
                raise ctx.denied("respond to that record", path=path)
            await service.respond(
                conn,
                facts=facts,
                response=text,
                actor=ctx.actor(),
                client=ctx.client_address,
                now=datetime.now(UTC),
            )
            made = await service.record(conn, pk)
            cadre = await service.cadre(conn, facts.cadre_id)
        assert made is not None and cadre is not None
        return record_node(made, cadre_node(cadre, ctx), unmasked=True)
