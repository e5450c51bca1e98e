"""Recommendations: what a member could learn next, ranked by a fixed, documented rule.

Candidates: the PUBLISHED items visible to the member (service.visible) that it has never
enrolled in (enrolled ones are already in its own list, completed or not), leaving out items
whose categories name other branch categories than the member's, cohorts (CLASS) that have
ended, and full cohorts.

Score of a candidate (higher first; ties by id, oldest first):

- +3 when the item's categories name the member's branch category (an item for all categories,
  with none named, gets nothing here: it suits everyone, not this branch in particular);
- +1 for each of its tags that an item the member completed also carries;
- +1 when its section is the one the member completed most items in (ties between sections:
  the first in the order COURSE, MICRO_CLASS, TOPIC, BOOK, CLASS);
- +0.5 when it was published within the last 90 days (NEW_FOR).

Each recommendation carries its reasons, one per term that scored. The rule reads the member's
completions and the candidates in two queries; the candidates are the visible catalogue,
a few hundred items at most, ranked in Python.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db import Db
from server.learning.models import ItemState, LearningEnrolment, LearningItem, Section
from server.learning.service import ITEM_COLUMNS, ITEM_TENANT_COLUMNS, SECTION_LABELS, visible
from server.sql import AnyRow, AnySelect, memoized
from tenants.models import Tenant
from tenants.scope import Scope

LI, E = LearningItem, LearningEnrolment
CATEGORY_POINTS, TAG_POINTS, SECTION_POINTS, NEW_POINTS = 3.0, 1.0, 1.0, 0.5
NEW_FOR = timedelta(days=90)
SECTION_ORDER = list(Section)
SECTION_NAMES = SECTION_LABELS


@dataclass(frozen=True, slots=True)
class Recommendation:
    item: AnyRow
    score: float
    reasons: list[str]


@memoized
def _candidates(scope: Scope) -> AnySelect:
    enrolled = exists().where(E.item_id == LI.id, E.member_id == bindparam("member_id"))
    return (
        select(*ITEM_COLUMNS, *ITEM_TENANT_COLUMNS)
        .join(Tenant, Tenant.path == LI.tenant_path)
        .where(
            LI.state == ItemState.PUBLISHED.value,
            visible(scope, LI.tenant_path),
            ~enrolled,
        )
        .order_by(LI.id)
    )


@memoized
def _completed() -> AnySelect:
    return (
        select(LI.section, LI.tags)
        .join(E, and_(E.item_id == LI.id, E.member_id == bindparam("member_id")))
        .where(E.completed_at.is_not(None))
    )


def favourite_section(sections: list[str]) -> str | None:
    """The section with most completions; ties go to the first in SECTION_ORDER."""
    if not sections:
        return None
    counts = Counter(sections)
    return max(SECTION_ORDER, key=lambda s: (counts.get(s.value, 0), -SECTION_ORDER.index(s)))


def rank(
    candidates: list[AnyRow],
    *,
    category: str,
    completed: list[tuple[str, list[str]]],
    today: date,
    now: datetime,
) -> list[Recommendation]:
    """The rule of the module docstring, over rows already read (pure, tested directly)."""
    learned_tags = {t for _, tags in completed for t in tags}
    top = favourite_section([s for s, _ in completed])
    ranked: list[Recommendation] = []
    for row in candidates:
        categories = json.loads(row.categories)
        if categories and category not in categories:
            continue  # meant for other kinds of branch
        if row.section == Section.CLASS.value:
            if row.ends_on is not None and row.ends_on < today:
                continue
            if row.capacity is not None and row.enrolled >= row.capacity:
                continue
        score, reasons = 0.0, []
        if category in categories:
            score += CATEGORY_POINTS
            reasons.append("适合本支部类别")
        shared = [t for t in json.loads(row.tags) if t in learned_tags]
        if shared:
            score += TAG_POINTS * len(shared)
            reasons.append("与已学内容相关：" + "、".join(shared))
        if top is not None and row.section == str(top):
            score += SECTION_POINTS
            reasons.append(f"您常学的栏目：{SECTION_NAMES[Section(row.section)]}")
        if row.published_at is not None and row.published_at > now - NEW_FOR:
            score += NEW_POINTS
            reasons.append("新上线")
        ranked.append(Recommendation(row, score, reasons))
    ranked.sort(key=lambda r: (-r.score, r.item.id))
    return ranked


async def recommend(
    db: Db | AsyncConnection,
    *,
    scope: Scope,
    member_id: int,
    category: str,
    today: date,
    now: datetime,
    limit: int,
) -> list[Recommendation]:
    params = {"member_id": member_id}
    candidates = list((await db.execute(_candidates(scope), params)).all())
    completed = [
        (r.section, json.loads(r.tags)) for r in (await db.execute(_completed(), params)).all()
    ]
    ranked = rank(candidates, category=category, completed=completed, today=today, now=now)
    return ranked[:limit]
