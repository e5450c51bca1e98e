"""The cadre archive: reading cadres, the catalogue and records within a Scope; entering,
reviewing and answering records.

Readers take the request's `Db` and a Scope; writers run in the caller's transaction
(Runtime.write) and never commit. Who may do what is decided by the GraphQL layer
(schema/archives.py) from the facts these functions return; the rules that are about the record
itself (joint review, one response, only PENDING records are reviewed) live here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.archives import lights
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    Cadre,
    Dimension,
    Polarity,
    RecordContext,
    RecordSource,
    ReviewStatus,
)
from server.audit import service as audit
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import Event
from server.members.models import Member
from server.sql import (
    AnyRow,
    AnySelect,
    counted,
    keyset,
    like_pattern,
    memoized,
    newest_first,
    page_params,
)
from tenants.models import Tenant
from tenants.scope import Scope

I = ArchiveIndicator  # noqa: E741
R = ArchiveRecord
TC = ArchiveTagCategory

SEARCH_MAX = 50
EVIDENCE_MAX = 4000
NOTE_MAX = 2000
RESPONSE_MAX = 2000
ATTACHMENTS_MAX = 10
ATTACHMENT_BYTES_MAX = 50 * 1024 * 1024
ATTACHMENT_NAME_MAX = 255
EARLIEST = date(2000, 1, 1)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", re.I)

CADRE_COLUMNS = (
    Cadre.id,
    Cadre.member_id,
    Cadre.tenant_id,
    Cadre.position,
    Cadre.rank,
    Cadre.unit,
    Cadre.created_at,
    Member.name.label("name"),
    # The cadre's tenant, JOINed for the scope anyway: handed over as the `tenant` relation.
    Tenant.parent_id.label("t_parent_id"),
    Tenant.level.label("t_level"),
    Tenant.path.label("t_path"),
    Tenant.code.label("t_code"),
    Tenant.name.label("t_name"),
)
INDICATOR_COLUMNS = (
    I.id.label("i_id"),
    I.code.label("i_code"),
    I.name.label("i_name"),
    I.context.label("i_context"),
    I.polarity.label("i_polarity"),
    I.dimension.label("i_dimension"),
    I.points.label("i_points"),
    I.serious.label("i_serious"),
    TC.code.label("c_code"),
    TC.name.label("c_name"),
    TC.system.label("c_system"),
)
RECORD_COLUMNS = (
    R.id,
    R.cadre_id,
    R.source,
    R.occurred_on,
    R.evidence,
    R.attachments,
    R.status,
    R.author,
    R.created_at,
    R.reviewer,
    R.reviewed_at,
    R.review_note,
    R.response,
    R.responded_at,
    *INDICATOR_COLUMNS,
)


# -- cadres -----------------------------------------------------------------------------------


def _cadres(scope: Scope, search: bool) -> AnySelect:
    stmt = (
        select(*CADRE_COLUMNS)
        .join(Member, Member.id == Cadre.member_id)
        .join(Tenant, Tenant.id == Cadre.tenant_id)
        # Admins reach a file through the cadre's tenant; a member only its own file.
        .where(scope.predicate(Tenant.path, member=Cadre.member_id))
    )
    if search:
        pattern = bindparam("pattern", type_=String())
        stmt = stmt.where(
            or_(
                Member.name.like(pattern, escape="\\"),
                Cadre.unit.like(pattern, escape="\\"),
                Cadre.position.like(pattern, escape="\\"),
            )
        )
    return stmt


@memoized
def _cadre_page(scope: Scope, search: bool, after: bool) -> AnySelect:
    return keyset(_cadres(scope, search), Cadre.id, after=after)


@memoized
def _cadre_count(scope: Scope, search: bool) -> AnySelect:
    return counted(_cadres(scope, search))


@memoized
def _cadres_by_ids(scope: Scope) -> AnySelect:
    return _cadres(scope, False).where(Cadre.id.in_(bindparam("ids", expanding=True)))


_CADRE = (
    select(*CADRE_COLUMNS)
    .join(Member, Member.id == Cadre.member_id)
    .join(Tenant, Tenant.id == Cadre.tenant_id)
)
_CADRE_BY_ID = _CADRE.where(Cadre.id == bindparam("id"))
_CADRE_OF_MEMBER = _CADRE.where(Cadre.member_id == bindparam("member_id"))


def _pattern(search: str | None) -> str | None:
    if search is None or not search.strip():
        return None
    search = search.strip()
    if len(search) > SEARCH_MAX:
        raise BadUserInput(f"search is longer than {SEARCH_MAX} characters", argument="search")
    return like_pattern(search)


async def list_cadres(
    db: Db, *, scope: Scope, search: str | None = None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """Cadres in scope, in id order; `search` matches part of the name, unit or position."""
    pattern = _pattern(search)
    stmt = _cadre_page(scope, pattern is not None, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, pattern=pattern))).all()


async def count_cadres(db: Db, *, scope: Scope, search: str | None = None) -> int:
    pattern = _pattern(search)
    return int(await db.scalar(_cadre_count(scope, pattern is not None), {"pattern": pattern}))


async def cadres_by_ids(db: Db, *, scope: Scope, ids: Sequence[int]) -> Sequence[AnyRow]:
    if not ids:
        return []
    return (await db.execute(_cadres_by_ids(scope), {"ids": list(ids)})).all()


async def cadre(db: Db | AsyncConnection, cadre_id: int) -> AnyRow | None:
    """One cadre whatever the scope: the caller decides who may see or change it."""
    return (await db.execute(_CADRE_BY_ID, {"id": cadre_id})).first()


async def cadre_of_member(db: Db | AsyncConnection, member_id: int) -> AnyRow | None:
    return (await db.execute(_CADRE_OF_MEMBER, {"member_id": member_id})).first()


# -- the catalogue ----------------------------------------------------------------------------


def _indicators(context: bool, polarity: bool, dimension: bool) -> AnySelect:
    stmt = select(I.id, *INDICATOR_COLUMNS).join(TC, TC.id == I.tag_category_id)
    if context:
        stmt = stmt.where(I.context == bindparam("context"))
    if polarity:
        stmt = stmt.where(I.polarity == bindparam("polarity"))
    if dimension:
        stmt = stmt.where(I.dimension == bindparam("dimension"))
    return stmt


@memoized
def _indicator_page(context: bool, polarity: bool, dimension: bool, after: bool) -> AnySelect:
    return keyset(_indicators(context, polarity, dimension), I.id, after=after)


@memoized
def _indicator_count(context: bool, polarity: bool, dimension: bool) -> AnySelect:
    return counted(_indicators(context, polarity, dimension))


def _catalogue_params(
    context: RecordContext | None, polarity: Polarity | None, dimension: Dimension | None
) -> dict[str, Any]:
    # Enum columns are stored by name (native_enum=False): bind the enum members themselves.
    return {"context": context, "polarity": polarity, "dimension": dimension}


async def list_indicators(
    db: Db,
    *,
    context: RecordContext | None = None,
    polarity: Polarity | None = None,
    dimension: Dimension | None = None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """The catalogue (reference data: the same for every reader), in id order."""
    stmt = _indicator_page(
        context is not None, polarity is not None, dimension is not None, after_id is not None
    )
    params = page_params(after_id, limit, **_catalogue_params(context, polarity, dimension))
    return (await db.execute(stmt, params)).all()


async def count_indicators(
    db: Db,
    *,
    context: RecordContext | None = None,
    polarity: Polarity | None = None,
    dimension: Dimension | None = None,
) -> int:
    stmt = _indicator_count(context is not None, polarity is not None, dimension is not None)
    return int(await db.scalar(stmt, _catalogue_params(context, polarity, dimension)))


# -- records ----------------------------------------------------------------------------------


def _records(status: bool) -> AnySelect:
    stmt = (
        select(*RECORD_COLUMNS)
        .join(I, I.id == R.indicator_id)
        .join(TC, TC.id == I.tag_category_id)
        .where(R.cadre_id == bindparam("cadre_id"))
    )
    return stmt.where(R.status == bindparam("status")) if status else stmt


@memoized
def _record_page(status: bool, after: bool) -> AnySelect:
    # Newest first: the latest entered record leads; `after` continues with older ones.
    stmt = _records(status)
    return newest_first(stmt, R.id, after=after)


@memoized
def _record_count(status: bool) -> AnySelect:
    return counted(_records(status))


_RECORD_BY_ID = (
    select(*RECORD_COLUMNS)
    .join(I, I.id == R.indicator_id)
    .join(TC, TC.id == I.tag_category_id)
    .where(R.id == bindparam("id"))
)
_RECORD_FACTS = (
    select(
        R.id,
        R.cadre_id,
        R.status,
        R.author,
        R.response,
        Cadre.member_id,
        Tenant.path.label("path"),
    )
    .join(Cadre, Cadre.id == R.cadre_id)
    .join(Tenant, Tenant.id == Cadre.tenant_id)
    .where(R.id == bindparam("id"))
)


async def list_records(
    db: Db,
    *,
    cadre_id: int,
    status: ReviewStatus | None = None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """One cadre's records, newest entered first, with their indicator and its category. The
    caller has decided the viewer may read the cadre's file."""
    stmt = _record_page(status is not None, after_id is not None)
    params = page_params(after_id, limit, cadre_id=cadre_id, status=status)
    return (await db.execute(stmt, params)).all()


async def count_records(db: Db, *, cadre_id: int, status: ReviewStatus | None = None) -> int:
    stmt = _record_count(status is not None)
    return int(await db.scalar(stmt, {"cadre_id": cadre_id, "status": status}))


async def record(db: Db | AsyncConnection, record_id: int) -> AnyRow | None:
    return (await db.execute(_RECORD_BY_ID, {"id": record_id})).first()


async def record_facts(db: Db | AsyncConnection, record_id: int) -> AnyRow | None:
    """What deciding about a record needs: its cadre's member and tenant path, its status,
    its author and whether it has a response."""
    return (await db.execute(_RECORD_FACTS, {"id": record_id})).first()


# -- checking input ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def checked_text(value: str, *, argument: str, limit: int) -> str:
    """Trimmed text of 1 to `limit` characters, or BAD_USER_INPUT naming the argument."""
    text = value.strip()
    if not 1 <= len(text) <= limit:
        raise BadUserInput(f"{argument} must have 1 to {limit} characters", argument=argument)
    return text


def checked_occurred_on(value: date, *, today: date) -> date:
    if value > today:
        raise BadUserInput("occurredOn lies in the future", argument="occurredOn")
    if value < EARLIEST:
        raise BadUserInput(f"occurredOn lies before {EARLIEST.isoformat()}", argument="occurredOn")
    return value


def checked_attachments(items: Sequence[Attachment]) -> list[Attachment]:
    """Attachment metadata (the files live elsewhere): at most 10, each with a name, a MIME
    type, a size up to 50 MiB and the file's SHA-256 in hex."""
    if len(items) > ATTACHMENTS_MAX:
        raise BadUserInput(
            f"at most {ATTACHMENTS_MAX} attachments per record", argument="attachments"
        )
    checked = []
    for n, item in enumerate(items, start=1):
        name = item.name.strip()
        if not 1 <= len(name) <= ATTACHMENT_NAME_MAX or any(c in name for c in "/\\\0"):
            raise BadUserInput(
                f"attachment {n}: name must have 1 to {ATTACHMENT_NAME_MAX} characters and no "
                "path separators",
                argument="attachments",
            )
        if not _CONTENT_TYPE.fullmatch(item.content_type) or len(item.content_type) > 100:
            raise BadUserInput(
                f"attachment {n}: contentType must be a MIME type such as application/pdf",
                argument="attachments",
            )
        if not 0 < item.size <= ATTACHMENT_BYTES_MAX:
            raise BadUserInput(
                f"attachment {n}: size must be 1 byte to 50 MiB", argument="attachments"
            )
        digest = item.sha256.lower()
        if not _SHA256.fullmatch(digest):
            raise BadUserInput(
                f"attachment {n}: sha256 must be 64 hexadecimal digits", argument="attachments"
            )
        checked.append(Attachment(name, item.content_type.lower(), item.size, digest))
    return checked


def attachments_of(stored: str) -> list[Attachment]:
    return [
        Attachment(a["name"], a["content_type"], int(a["size"]), a["sha256"])
        for a in json.loads(stored or "[]")
    ]


# -- writing ----------------------------------------------------------------------------------


async def create_record(
    conn: AsyncConnection,
    *,
    cadre: AnyRow,
    indicator_code: str,
    source: RecordSource,
    occurred_on: date,
    evidence: str,
    attachments: Sequence[Attachment],
    author: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Enter a PENDING record in the cadre's file (input already checked), with its audit
    entry. An unknown indicator code is BAD_USER_INPUT."""
    indicator = (
        await conn.execute(
            select(I.id).where(I.code == bindparam("code")), {"code": indicator_code}
        )
    ).first()
    if indicator is None:
        raise BadUserInput(f"no indicator {indicator_code!r}", argument="indicatorCode")
    record_id: int = (
        await conn.execute(
            insert(R)
            .values(
                cadre_id=cadre.id,
                indicator_id=indicator.id,
                source=source,
                occurred_on=occurred_on,
                evidence=evidence,
                attachments=json.dumps([a.to_json() for a in attachments], ensure_ascii=False),
                status=ReviewStatus.PENDING,
                author=author,
                created_at=now,
            )
            .returning(R.id)
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.record.create",
                tenant_path=cadre.t_path,
                subject=str(record_id),
                client_address=client,
                # The evidence stays out of the log: it is as sensitive as the record.
                detail={
                    "cadre": cadre.id,
                    "indicator": indicator_code,
                    "source": source.value,
                    "attachments": len(attachments),
                },
            )
        ],
        now=now,
    )
    return record_id


async def review_record(
    conn: AsyncConnection,
    *,
    facts: AnyRow,
    verdict: ReviewStatus,
    note: str | None,
    reviewer: str,
    actor: str,
    client: str | None,
    now: datetime,
    today: date,
) -> list[Event]:
    """Make a PENDING record VERIFIED or REJECTED (the caller has checked the reviewer is not
    its author); a verified record rescores the cadre and re-evaluates its light in this
    transaction. Returns the events to publish after the commit."""
    if verdict is ReviewStatus.PENDING:
        raise BadUserInput("a verdict is VERIFIED or REJECTED", argument="verdict")
    if verdict is ReviewStatus.REJECTED and note is None:
        raise BadUserInput("a rejection needs a note saying why", argument="note")
    changed = await conn.execute(
        update(R)
        .where(R.id == facts.id, R.status == ReviewStatus.PENDING)
        .values(status=verdict, reviewer=reviewer, reviewed_at=now, review_note=note)
    )
    # Checked in the statement, not only before it: of two concurrent reviews, one wins.
    if changed.rowcount != 1:
        raise BadUserInput(
            "the record has been reviewed already: only PENDING records are reviewed",
            argument="recordId",
        )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.record.review",
                tenant_path=facts.path,
                subject=str(facts.id),
                client_address=client,
                detail={"cadre": facts.cadre_id, "verdict": verdict.value},
            )
        ],
        now=now,
    )
    if verdict is ReviewStatus.VERIFIED:
        return await lights.after_review(conn, facts.cadre_id, now, today=today)
    return []


async def respond(
    conn: AsyncConnection,
    *,
    facts: AnyRow,
    response: str,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Put the cadre's response on a VERIFIED record of its file, once."""
    changed = await conn.execute(
        update(R)
        .where(
            and_(
                R.id == facts.id,
                R.status == ReviewStatus.VERIFIED,
                R.response.is_(None),
            )
        )
        .values(response=response, responded_at=now)
    )
    if changed.rowcount != 1:
        raise BadUserInput("a response to this record is already on file", argument="recordId")
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.record.respond",
                tenant_path=facts.path,
                subject=str(facts.id),
                client_address=client,
                detail={"cadre": facts.cadre_id},
            )
        ],
        now=now,
    )
