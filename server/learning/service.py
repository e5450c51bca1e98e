"""e-Learning: publishing the catalogue, members' enrolments, progress and completions, learning
hours, all read within a Scope.

Rules (also in docs/learning.md):

- Visibility. A PUBLISHED item is visible to a viewer whose scope lies within the item's tenant
  (a district course reaches every member of the district) or contains it (a village's item is
  visible to the admins of its town and district): `visible()` in SQL, `sees()` in Python,
  the same rule. DRAFT and WITHDRAWN items are visible only to the admins who may write where
  they are published.
- Publishing. An admin creates items at a tenant where it has LEARNING write (its subtree);
  DRAFT, or PUBLISHED at once. DRAFT → PUBLISHED ↔ WITHDRAWN, each move a guarded UPDATE (of
  two concurrent moves one wins). Every publication is one BRANCH_ACTIVITY feed event at the
  item's tenant. Withdrawing stops new enrolments; enrolled members may still finish, and
  completions keep their hours. A cohort holds only PUBLISHED items published at or above it.
- Enrolment. A member enrols in a visible PUBLISHED item; enrolling again returns the same
  enrolment (idempotent). A cohort (CLASS) takes enrolments until its end date and up to its
  capacity: the seat counter is raised by one conditional UPDATE (`enrolled < capacity`), which
  PostgreSQL re-checks on the locked row and SQLite runs one writer at a time, so concurrent
  enrolments never pass it.
- Progress is a whole percentage 0-100 and never goes back (a cohort takes none before its
  first day): a lower value than the recorded one is BAD_USER_INPUT (`percent`), the same one
  again changes nothing. A withdrawn item takes progress only from those enrolled in it
  (schema/learning.py refuses anyone else as if it were absent). Reaching 100 completes the
  item: `completed_at` is set and the item's credit hours are copied onto the enrolment, once
  (one enrolment per member and item, and a completed one takes no more progress).
- Learning hours: the credit hours of the completions of the last 365 days
  (server/assessments/ratings.learning_hours); a completion refreshes the member's Vanguard
  Index (ratings.after_learning).

Writers run in the caller's transaction and never commit; every change is audited.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import QueryableAttribute

from server.assessments import ratings
from server.audit import service as audit
from server.branches.models import Branch, BranchCategory
from server.db import Db
from server.errors import BadUserInput
from server.feed.events import TENANT_FACTS, Event, emit, tenant_facts
from server.feed.models import FeedKind
from server.learning.models import (
    ItemState,
    LearningClassItem,
    LearningEnrolment,
    LearningItem,
    Section,
)
from server.members.models import Member
from server.sql import AnyRow, AnySelect, counted, keyset, memoized, newest_first, page_params
from tenants.models import Tenant
from tenants.paths import ROOT, ancestors, is_within
from tenants.scope import Scope

LI, E, CI = LearningItem, LearningEnrolment, LearningClassItem
WINDOW = ratings.WINDOW
NORM_HOURS = ratings.LEARNING_NORM_HOURS
MAX_TITLE, MAX_SUMMARY, MAX_TAGS, MAX_TAG = 120, 2000, 10, 20
MAX_HOURS, MAX_CAPACITY, MAX_CLASS_ITEMS = 200.0, 10_000, 50

ITEM_COLUMNS = (
    LI.id,
    LI.section,
    LI.title,
    LI.summary,
    LI.credit_hours,
    LI.categories,
    LI.tags,
    LI.tenant_path,
    LI.state,
    LI.starts_on,
    LI.ends_on,
    LI.capacity,
    LI.enrolled,
    LI.created_by,
    LI.created_at,
    LI.published_at,
    LI.updated_at,
)
# The tenant an item is published to, JOINed by path (prefixed, as schema.types reads them).
ITEM_TENANT_COLUMNS = (
    Tenant.id.label("t_id"),
    Tenant.parent_id.label("t_parent_id"),
    Tenant.level.label("t_level"),
    Tenant.path.label("t_path"),
    Tenant.code.label("t_code"),
    Tenant.name.label("t_name"),
)
# An enrolment's own columns, prefixed: the row's plain columns are its item's.
ENROLMENT_COLUMNS = (
    E.id.label("e_id"),
    E.member_id.label("e_member_id"),
    E.progress.label("e_progress"),
    E.enrolled_at.label("e_enrolled_at"),
    E.updated_at.label("e_updated_at"),
    E.completed_at.label("e_completed_at"),
    E.credit_hours.label("e_credit_hours"),
)

PathColumn = ColumnElement[str] | QueryableAttribute[str]


# -- visibility ---------------------------------------------------------------------------------


def _above(scope: Scope) -> list[str]:
    """The tenants above the scope's subtrees: what is published there reaches into them."""
    return sorted({a for root in scope.roots if root != ROOT for a in ancestors(root)})


def visible(scope: Scope, path: PathColumn) -> ColumnElement[bool]:
    """Published at or below the scope's subtrees, or above them."""
    if scope.is_empty or not scope.roots:
        return false()
    above = _above(scope)
    inside = scope.predicate(path)
    return or_(inside, path.in_(above)) if above else inside


def sees(scope: Scope, path: str) -> bool:
    """`visible` in Python, for one item."""
    return scope.contains(path) or path in _above(scope)


def catalogue(read: Scope, write: Scope) -> ColumnElement[bool]:
    """What a viewer finds in the catalogue: visible PUBLISHED items, and the drafts and
    withdrawn items where it may write."""
    published = and_(LI.state == ItemState.PUBLISHED.value, visible(read, LI.tenant_path))
    if write.is_empty or not write.roots:
        return published
    unpublished = and_(LI.state != ItemState.PUBLISHED.value, write.predicate(LI.tenant_path))
    return or_(published, unpublished)


# -- checking input -----------------------------------------------------------------------------


def _text(value: str, argument: str, limit: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise BadUserInput(f"{argument} must not be empty", argument=argument)
    if len(value) > limit:
        raise BadUserInput(
            f"{argument} is at most {limit} characters, got {len(value)}", argument=argument
        )
    if "\x00" in value:
        # PostgreSQL stores no NUL in text: refused here rather than failing in the database.
        raise BadUserInput(f"{argument} must not contain NUL characters", argument=argument)
    return value


def checked_tags(tags: Sequence[str]) -> list[str]:
    kept: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if not tag or len(tag) > MAX_TAG or "\x00" in tag:
            raise BadUserInput(f"each tag has 1 to {MAX_TAG} characters, no NUL", argument="tags")
        if tag not in kept:
            kept.append(tag)
    if len(kept) > MAX_TAGS:
        raise BadUserInput(f"at most {MAX_TAGS} tags, got {len(kept)}", argument="tags")
    return kept


def checked_hours(hours: float) -> float:
    # Checked after rounding to the stored 2 decimals: 0.001 would otherwise award 0 hours.
    rounded = round(hours, 2)
    if not 0 < rounded <= MAX_HOURS:
        raise BadUserInput(
            f"creditHours must be at least 0.01 and at most {MAX_HOURS:g}, got {hours:g}",
            argument="creditHours",
        )
    return rounded


def checked_percent(percent: int) -> int:
    if not 0 <= percent <= 100:
        raise BadUserInput(f"percent must be between 0 and 100, got {percent}", argument="percent")
    return percent


# -- publishing ---------------------------------------------------------------------------------

SECTION_LABELS = {
    Section.COURSE: "课程",
    Section.MICRO_CLASS: "微课",
    Section.TOPIC: "专题",
    Section.BOOK: "书籍",
    Section.CLASS: "班级",
}


async def _published_event(
    conn: AsyncConnection, *, item_id: int, section: str, title: str, place: AnyRow, now: datetime
) -> Event:
    """The BRANCH_ACTIVITY event of a publication, at the item's tenant (no branch: the item is
    offered to the whole subtree), so the command center sees new learning as it goes out.
    `place` selected TENANT_FACTS."""
    return await emit(
        conn,
        kind=FeedKind.BRANCH_ACTIVITY,
        title=f"发布学习内容：{title}",
        tenant=tenant_facts(place),
        occurred_at=now,
        data={
            "source": "learning_publish",
            "item": item_id,
            "section": section,
            "section_label": SECTION_LABELS[Section(section)],
            "title": title,
        },
    )


async def _class_items(
    conn: AsyncConnection, class_path: str, item_ids: Sequence[int]
) -> list[int]:
    """A cohort's items: PUBLISHED non-CLASS items published at the cohort's tenant or above
    it, so that whoever sees the cohort sees its items. An absent item, a draft (another
    admin's, perhaps, above the caller) and one published elsewhere get the same refusal: a
    class must not show, nor its refusal tell, what its creator cannot see."""
    ids = list(dict.fromkeys(item_ids))
    if len(ids) > MAX_CLASS_ITEMS:
        raise BadUserInput(f"a class holds at most {MAX_CLASS_ITEMS} items", argument="itemIds")
    if not ids:
        return []
    rows = {
        r.id: r
        for r in await conn.execute(
            select(LI.id, LI.section, LI.tenant_path, LI.state).where(LI.id.in_(ids))
        )
    }
    for pk in ids:
        row = rows.get(pk)
        if (
            row is None
            or row.state != ItemState.PUBLISHED.value
            or not is_within(class_path, row.tenant_path)
        ):
            raise BadUserInput(
                f"item {pk} cannot be put in this class: it must be published at the class's "
                "tenant or above",
                argument="itemIds",
            )
        if row.section == Section.CLASS.value:
            raise BadUserInput("a class cannot hold another class", argument="itemIds")
    return ids


async def create_item(
    conn: AsyncConnection,
    *,
    tenant_path: str,
    section: Section,
    title: str,
    summary: str,
    credit_hours: float,
    categories: Sequence[BranchCategory],
    tags: Sequence[str],
    starts_on: date | None,
    ends_on: date | None,
    capacity: int | None,
    item_ids: Sequence[int],
    publish: bool,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> int:
    """A new item at `tenant_path` (the caller checked it may write there); its id. Published
    at once, it puts its BRANCH_ACTIVITY event in `outbox`."""
    title = _text(title, "title", MAX_TITLE)
    summary = _text(summary, "summary", MAX_SUMMARY, required=False)
    hours = checked_hours(credit_hours)
    kept_tags = checked_tags(tags)
    kinds = sorted({str(c) for c in categories})
    if section == Section.CLASS:
        if capacity is None or not 1 <= capacity <= MAX_CAPACITY:
            raise BadUserInput(
                f"a class needs a capacity of 1 to {MAX_CAPACITY}", argument="capacity"
            )
        if starts_on is None:
            raise BadUserInput("a class needs a start date", argument="startsOn")
        if ends_on is None:
            raise BadUserInput("a class needs an end date", argument="endsOn")
        if ends_on < starts_on:
            raise BadUserInput("endsOn must not be before startsOn", argument="endsOn")
        members = await _class_items(conn, tenant_path, item_ids)
    else:
        for argument, value in (
            ("capacity", capacity),
            ("startsOn", starts_on),
            ("endsOn", ends_on),
        ):
            if value is not None:
                raise BadUserInput(f"only a CLASS has {argument}", argument=argument)
        if item_ids:
            raise BadUserInput("only a CLASS holds items", argument="itemIds")
        members = []
    state = ItemState.PUBLISHED if publish else ItemState.DRAFT
    pk: int = (
        await conn.execute(
            insert(LI)
            .values(
                section=section.value,
                title=title,
                summary=summary,
                credit_hours=hours,
                categories=json.dumps(kinds),
                tags=json.dumps(kept_tags, ensure_ascii=False),
                tenant_path=tenant_path,
                state=state.value,
                starts_on=starts_on,
                ends_on=ends_on,
                capacity=capacity,
                enrolled=0,
                created_by=actor,
                created_at=now,
                published_at=now if publish else None,
                updated_at=now,
            )
            .returning(LI.id)
        )
    ).scalar_one()
    if members:
        await conn.execute(
            insert(CI),
            [
                {"class_id": pk, "item_id": item, "position": n}
                for n, item in enumerate(members, start=1)
            ],
        )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="learning.item.create",
                tenant_path=tenant_path,
                subject=str(pk),
                client_address=client,
                detail={
                    "section": section.value,
                    "title": title,
                    "credit_hours": hours,
                    "state": state.value,
                    "items": members,
                },
            )
        ],
        now=now,
    )
    if publish:
        place = (await conn.execute(select(*TENANT_FACTS).where(Tenant.path == tenant_path))).one()
        outbox.append(
            await _published_event(
                conn, item_id=pk, section=section.value, title=title, place=place, now=now
            )
        )
    return pk


# Allowed moves: to PUBLISHED from a draft or a withdrawn item, to WITHDRAWN from a published one.
MOVES = {
    ItemState.PUBLISHED: (ItemState.DRAFT, ItemState.WITHDRAWN),
    ItemState.WITHDRAWN: (ItemState.PUBLISHED,),
}


async def set_state(
    conn: AsyncConnection,
    *,
    item: AnyRow,
    state: ItemState,
    actor: str,
    client: str | None,
    now: datetime,
    outbox: list[Event],
) -> None:
    """Move `item` (a row of `item()`) to `state`; a publication puts its BRANCH_ACTIVITY event
    in `outbox`."""
    if ItemState(item.state) not in MOVES[state]:
        raise BadUserInput(
            f"a {item.state} item cannot become {state.value}", argument="id", state=item.state
        )
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if state == ItemState.PUBLISHED and item.published_at is None:
        values["published_at"] = now
    # Guarded by the state read: of two concurrent moves only one finds the row as it was
    # (PostgreSQL re-checks the condition on the locked row), so one audit entry, one event.
    moved = await conn.execute(
        update(LI).where(LI.id == item.id, LI.state == item.state).values(**values)
    )
    if moved.rowcount != 1:
        raise BadUserInput(
            f"the item changed meanwhile: it is no longer {item.state}", argument="id"
        )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="learning.item.publish"
                if state == ItemState.PUBLISHED
                else "learning.item.withdraw",
                tenant_path=item.tenant_path,
                subject=str(item.id),
                client_address=client,
                detail={"from": item.state, "to": state.value},
            )
        ],
        now=now,
    )
    if state == ItemState.PUBLISHED:
        outbox.append(
            await _published_event(
                conn,
                item_id=item.id,
                section=item.section,
                title=item.title,
                place=item,
                now=now,
            )
        )


# -- enrolling and progress ---------------------------------------------------------------------


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(E)


async def enrolment(conn: AsyncConnection | Db, *, item_id: int, member_id: int) -> AnyRow | None:
    params = {"item_id": item_id, "member_id": member_id}
    return (await conn.execute(_own_by_item(), params)).first()


async def enrol(
    conn: AsyncConnection,
    *,
    item: AnyRow,
    member_id: int,
    member_path: str,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> bool:
    """Enrol the member in a visible item (the caller checked it sees it); whether a new
    enrolment was made (False: it was enrolled already)."""
    if item.state != ItemState.PUBLISHED.value:
        raise BadUserInput("the item is withdrawn: it takes no new enrolments", argument="itemId")
    if await enrolment(conn, item_id=item.id, member_id=member_id) is not None:
        return False
    if item.section == Section.CLASS.value and item.ends_on is not None and item.ends_on < today:
        raise BadUserInput("the class has ended", argument="itemId", reason="CLASS_ENDED")
    made = (
        await conn.execute(
            _insert_ignoring_duplicates(conn)
            .values(
                item_id=item.id,
                member_id=member_id,
                progress=0,
                enrolled_at=now,
                updated_at=now,
                completed_at=None,
                credit_hours=None,
            )
            .on_conflict_do_nothing(index_elements=["item_id", "member_id"])
            .returning(E.id)
        )
    ).scalar()
    if made is None:  # a concurrent request of the same member enrolled it first
        return False
    if item.section == Section.CLASS.value:
        # One conditional UPDATE: a full class refuses, and the raise rolls the enrolment back.
        seated = await conn.execute(
            update(LI)
            .where(LI.id == item.id, LI.enrolled < LI.capacity)
            .values(enrolled=LI.enrolled + 1)
        )
        if seated.rowcount != 1:
            raise BadUserInput(
                f"the class is full ({item.capacity} places)",
                argument="itemId",
                reason="CLASS_FULL",
            )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="learning.enrol",
                tenant_path=member_path,
                subject=str(made),
                client_address=client,
                detail={"item": item.id, "member": member_id},
            )
        ],
        now=now,
    )
    return True


async def record_progress(
    conn: AsyncConnection,
    *,
    item: AnyRow,
    member_id: int,
    member_path: str,
    percent: int,
    today: date,
    actor: str,
    client: str | None,
    now: datetime,
) -> bool:
    """Record the member's progress on an item it is enrolled in; whether it completed it now."""
    percent = checked_percent(percent)
    found = await enrolment(conn, item_id=item.id, member_id=member_id)
    if found is None:
        raise BadUserInput("enrol in the item first", argument="itemId", reason="NOT_ENROLLED")
    starts_on = item.starts_on if item.section == Section.CLASS.value else None
    if starts_on is not None and starts_on > today and percent > found.e_progress:
        # A cohort is studied from its first day (the district's): no hours for a class
        # completed before it began.
        raise BadUserInput(
            f"the class starts on {starts_on.isoformat()}",
            argument="itemId",
            reason="CLASS_NOT_STARTED",
        )
    if found.e_completed_at is not None:
        if percent == 100:
            return False  # completing again changes nothing: the hours were awarded once
        raise BadUserInput("the item is completed already", argument="percent")
    if percent < found.e_progress:
        raise BadUserInput(
            f"progress never goes back: it is {found.e_progress}%, got {percent}%",
            argument="percent",
        )
    if percent == found.e_progress:
        return False
    completes = percent == 100
    values: dict[str, Any] = {"progress": percent, "updated_at": now}
    if completes:
        values |= {"completed_at": now, "credit_hours": item.credit_hours}
    # Guarded: of two concurrent completions only one finds the row still open.
    changed = await conn.execute(
        update(E)
        .where(E.id == found.e_id, E.completed_at.is_(None), E.progress <= percent)
        .values(**values)
    )
    if changed.rowcount != 1:
        return False
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="learning.complete" if completes else "learning.progress",
                tenant_path=member_path,
                subject=str(found.e_id),
                client_address=client,
                detail={
                    "item": item.id,
                    "member": member_id,
                    "from": found.e_progress,
                    "to": percent,
                }
                | ({"credit_hours": item.credit_hours} if completes else {}),
            )
        ],
        now=now,
    )
    if completes:
        await ratings.after_learning(conn, member_id, now)
    return completes


# -- reading the catalogue ----------------------------------------------------------------------


def _with_tenant(stmt: AnySelect) -> AnySelect:
    return stmt.join(Tenant, Tenant.path == LI.tenant_path)


async def item(db: Db | AsyncConnection, item_id: int) -> AnyRow | None:
    """One item with its tenant, whatever its state: the caller decides who sees it."""
    stmt = _with_tenant(select(*ITEM_COLUMNS, *ITEM_TENANT_COLUMNS)).where(LI.id == item_id)
    return (await db.execute(stmt)).first()


def _catalogue(read: Scope, write: Scope, section: bool, state: bool) -> AnySelect:
    stmt = _with_tenant(select(*ITEM_COLUMNS, *ITEM_TENANT_COLUMNS)).where(catalogue(read, write))
    if section:
        stmt = stmt.where(LI.section == bindparam("section"))
    if state:
        stmt = stmt.where(LI.state == bindparam("state"))
    return stmt


@memoized
def _items(read: Scope, write: Scope, section: bool, state: bool, after: bool) -> AnySelect:
    stmt = _catalogue(read, write, section, state)
    # Newest first: ids grow with creation and never shift under new inserts.
    return newest_first(stmt, LI.id, after=after)


@memoized
def _count_items(read: Scope, write: Scope, section: bool, state: bool) -> AnySelect:
    return counted(_catalogue(read, write, section, state))


def _item_filters(section: Section | None, state: ItemState | None) -> dict[str, Any]:
    return {
        "section": None if section is None else section.value,
        "state": None if state is None else state.value,
    }


async def items(
    db: Db,
    *,
    read: Scope,
    write: Scope,
    section: Section | None,
    state: ItemState | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = _items(read, write, section is not None, state is not None, after_id is not None)
    params = page_params(after_id, limit, **_item_filters(section, state))
    return (await db.execute(stmt, params)).all()


async def count_items(
    db: Db, *, read: Scope, write: Scope, section: Section | None, state: ItemState | None
) -> int:
    stmt = _count_items(read, write, section is not None, state is not None)
    return int(await db.scalar(stmt, _item_filters(section, state)))


@memoized
def _class_members_stmt() -> AnySelect:
    return (
        _with_tenant(
            select(CI.class_id, *ITEM_COLUMNS, *ITEM_TENANT_COLUMNS).join(LI, LI.id == CI.item_id)
        )
        .where(CI.class_id.in_(bindparam("ids", expanding=True)))
        .order_by(CI.class_id, CI.position)
    )


async def class_items(db: Db, class_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """The items of each cohort, in order, in one query."""
    grouped: dict[int, list[AnyRow]] = {c: [] for c in class_ids}
    if class_ids:
        for row in await db.execute(_class_members_stmt(), {"ids": list(class_ids)}):
            grouped[row.class_id].append(row)
    return grouped


# -- reading enrolments -------------------------------------------------------------------------


def _enrolments() -> AnySelect:
    return _with_tenant(
        select(*ENROLMENT_COLUMNS, *ITEM_COLUMNS, *ITEM_TENANT_COLUMNS)
        .select_from(E)
        .join(LI, LI.id == E.item_id)
    )


@memoized
def _own_by_item() -> AnySelect:
    return _enrolments().where(
        E.item_id == bindparam("item_id"), E.member_id == bindparam("member_id")
    )


def _completed_filter(stmt: AnySelect, completed: bool | None) -> AnySelect:
    if completed is None:
        return stmt
    return stmt.where(E.completed_at.is_not(None) if completed else E.completed_at.is_(None))


def _own(completed: bool | None) -> AnySelect:
    return _completed_filter(_enrolments().where(E.member_id == bindparam("member_id")), completed)


@memoized
def _own_list(completed: bool | None, after: bool) -> AnySelect:
    stmt = _own(completed)
    return newest_first(stmt, E.id, after=after)


@memoized
def _own_count(completed: bool | None) -> AnySelect:
    return counted(_own(completed))


async def own_enrolments(
    db: Db, *, member_id: int, completed: bool | None, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """A member's enrolments, newest first, with their items."""
    stmt = _own_list(completed, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, member_id=member_id))).all()


async def count_own_enrolments(db: Db, *, member_id: int, completed: bool | None) -> int:
    return int(await db.scalar(_own_count(completed), {"member_id": member_id}))


def _scoped_enrolments(scope: Scope, item: bool, completed: bool | None) -> AnySelect:
    # By the member's place: an admin follows the members of its subtree, whatever the item.
    M, B = Member, Branch
    member_tenant = Tenant.__table__.alias("mt")
    stmt = (
        _enrolments()
        .join(M, M.id == E.member_id)
        .join(B, B.id == M.branch_id)
        .join(member_tenant, member_tenant.c.id == B.tenant_id)
        .add_columns(member_tenant.c.path.label("m_path"), M.branch_id.label("m_branch_id"))
        .where(scope.predicate(member_tenant.c.path, member=E.member_id))
    )
    if item:
        stmt = stmt.where(E.item_id == bindparam("item_id"))
    return _completed_filter(stmt, completed)


@memoized
def _scoped_list(scope: Scope, item: bool, completed: bool | None, after: bool) -> AnySelect:
    stmt = _scoped_enrolments(scope, item, completed)
    return newest_first(stmt, E.id, after=after)


@memoized
def _scoped_count(scope: Scope, item: bool, completed: bool | None) -> AnySelect:
    return counted(_scoped_enrolments(scope, item, completed))


async def enrolments(
    db: Db,
    *,
    scope: Scope,
    item_id: int | None,
    completed: bool | None,
    after_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Enrolments of the members within the scope, newest first."""
    stmt = _scoped_list(scope, item_id is not None, completed, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, item_id=item_id))).all()


async def count_enrolments(
    db: Db, *, scope: Scope, item_id: int | None, completed: bool | None
) -> int:
    stmt = _scoped_count(scope, item_id is not None, completed)
    return int(await db.scalar(stmt, {"item_id": item_id}))


# -- learning hours -----------------------------------------------------------------------------


def since(now: datetime) -> datetime:
    return now - WINDOW


async def hours_of(db: Db | AsyncConnection, *, member_id: int, now: datetime) -> float:
    return (await ratings.learning_hours(db, [member_id], now))[member_id]  # type: ignore[arg-type]


def _member_hours(scope: Scope) -> AnySelect:
    """Every member within the scope with its learning hours and completions in the window."""
    done = and_(
        E.member_id == Member.id, E.completed_at.is_not(None), E.completed_at > bindparam("since")
    )
    return (
        select(
            Member.id,
            Member.branch_id,
            func.coalesce(func.sum(E.credit_hours), 0.0).label("hours"),
            func.count(E.id).label("completions"),
        )
        .select_from(Member)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .outerjoin(E, done)
        .where(scope.predicate(Tenant.path, member=Member.id))
        .group_by(Member.id, Member.branch_id)
    )


@memoized
def _member_hours_list(scope: Scope, after: bool) -> AnySelect:
    stmt = _member_hours(scope)
    return keyset(stmt, Member.id, after=after)


@memoized
def _member_hours_count(scope: Scope) -> AnySelect:
    return (
        select(func.count())
        .select_from(Member)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, member=Member.id))
    )


async def member_hours(
    db: Db, *, scope: Scope, now: datetime, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _member_hours_list(scope, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, since=since(now)))).all()


async def count_member_hours(db: Db, *, scope: Scope) -> int:
    return int(await db.scalar(_member_hours_count(scope)))


@memoized
def _branch_hours_list(scope: Scope, after: bool) -> AnySelect:
    # The page of branches first, then the hours of their members only: summing every member
    # of the district for a page of 20 branches would grow with the district, not the page.
    page = (
        select(Branch.id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Branch.id))
    )
    if after:
        page = page.where(Branch.id > bindparam("after_id"))
    paged = page.order_by(Branch.id).limit(bindparam("limit")).cte("branch_page")
    per_member = (
        select(
            Member.id.label("member_id"),
            Member.branch_id.label("branch_id"),
            func.coalesce(func.sum(E.credit_hours), 0.0).label("hours"),
        )
        .select_from(paged)
        .join(Member, Member.branch_id == paged.c.id)
        .outerjoin(
            E,
            and_(
                E.member_id == Member.id,
                E.completed_at.is_not(None),
                E.completed_at > bindparam("since"),
            ),
        )
        .group_by(Member.id, Member.branch_id)
        .subquery()
    )
    return (
        select(
            Branch.id,
            Branch.name,
            Branch.tenant_id,
            func.count(per_member.c.member_id).label("members"),
            func.coalesce(func.sum(per_member.c.hours), 0.0).label("hours"),
            func.coalesce(func.sum(case((per_member.c.hours >= NORM_HOURS, 1), else_=0)), 0).label(
                "meeting_norm"
            ),
        )
        .select_from(paged)
        .join(Branch, Branch.id == paged.c.id)
        .outerjoin(per_member, per_member.c.branch_id == Branch.id)
        .group_by(Branch.id, Branch.name, Branch.tenant_id)
        .order_by(Branch.id)
    )


@memoized
def _branch_hours_count(scope: Scope) -> AnySelect:
    return (
        select(func.count())
        .select_from(Branch)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, branch=Branch.id))
    )


async def branch_hours(
    db: Db, *, scope: Scope, now: datetime, after_id: int | None, limit: int
) -> Sequence[AnyRow]:
    stmt = _branch_hours_list(scope, after_id is not None)
    return (await db.execute(stmt, page_params(after_id, limit, since=since(now)))).all()


async def count_branch_hours(db: Db, *, scope: Scope) -> int:
    return int(await db.scalar(_branch_hours_count(scope)))


# -- the member's place -------------------------------------------------------------------------


async def member_place(db: Db | AsyncConnection, member_id: int) -> AnyRow | None:
    """The member's branch category and tenant path."""
    return (
        await db.execute(
            select(Member.id, Member.branch_id, Branch.category, Tenant.path)
            .join(Branch, Branch.id == Member.branch_id)
            .join(Tenant, Tenant.id == Branch.tenant_id)
            .where(Member.id == member_id)
        )
    ).first()
