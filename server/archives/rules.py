"""The traffic-light rules: what makes a cadre's light YELLOW or RED.

A rule belongs to a subtree (`tenant_path`) and applies to every cadre whose tenant lies in it;
of all the active rules that apply, the worst light wins, and a cadre no rule fires for is
GREEN. Kinds:

- SERIOUS_NEGATIVE: a verified serious negative record dated in the rule's window;
- DIMENSION_BELOW: a dimension's score (cadre_scores) below `threshold` (one `dimension`, or
  any of the five when the rule names none);
- NEGATIVE_COUNT: at least `count` verified negative records dated in the window.

A record is in a rule's window when today - window_days < occurred_on (as for the scores).
The super admin sets the rules (ARCHIVE_RULE write); the district starts with three defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.archives.models import Dimension, LightRule, LightRuleKind
from server.audit import service as audit
from server.db import Db
from server.errors import BadUserInput
from server.feed.models import Light
from server.sql import AnyRow
from tenants.paths import ROOT, ancestors, is_within
from tenants.scope import Scope

SYSTEM = "system"
MAX_WINDOW_DAYS = 3650
RANK = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}
DIMENSION_NAMES = {
    Dimension.LOYALTY: "政治忠诚",
    Dimension.DETERMINATION: "政治定力",
    Dimension.RESPONSIBILITY: "政治担当",
    Dimension.ABILITY: "政治能力",
    Dimension.SELF_DISCIPLINE: "政治自律",
}


def default_rule_rows(district_path: str, now: datetime) -> list[dict[str, Any]]:
    """The district's default light rules, seeded with the demo district: a serious negative
    record in 365 days gives RED; any dimension under 60 YELLOW; three negative records in
    180 days YELLOW."""
    common = {
        "tenant_path": district_path,
        "active": True,
        "created_by": SYSTEM,
        "created_at": now,
        "dimension": None,
        "threshold": None,
        "count": None,
    }
    return [
        common
        | {"id": 1, "kind": LightRuleKind.SERIOUS_NEGATIVE, "light": "RED", "window_days": 365},
        common
        | {
            "id": 2,
            "kind": LightRuleKind.DIMENSION_BELOW,
            "light": "YELLOW",
            "threshold": 60.0,
            "window_days": 365,
        },
        common
        | {
            "id": 3,
            "kind": LightRuleKind.NEGATIVE_COUNT,
            "light": "YELLOW",
            "count": 3,
            "window_days": 180,
        },
    ]


# -- evaluating -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    tenant_path: str
    kind: LightRuleKind
    light: Light
    dimension: Dimension | None
    threshold: float | None
    count: int | None
    window_days: int

    @classmethod
    def of(cls, row: Any) -> Rule:
        return cls(
            id=row.id,
            tenant_path=row.tenant_path,
            kind=LightRuleKind(row.kind),
            light=Light(row.light),
            dimension=None if row.dimension is None else Dimension(row.dimension),
            threshold=row.threshold,
            count=row._mapping["count"],
            window_days=row.window_days,
        )

    def applies_to(self, path: str) -> bool:
        return is_within(path, self.tenant_path)


@dataclass(frozen=True, slots=True)
class Negative:
    """A verified negative record, as the rules read it."""

    occurred_on: date
    serious: bool


def _in_window(records: Iterable[Negative], days: int, today: date) -> list[Negative]:
    start = today - timedelta(days=days)
    return [r for r in records if r.occurred_on > start]


def _fmt(value: float) -> str:
    return f"{value:g}"


def fired(
    rule: Rule,
    *,
    scores: dict[Dimension, float] | None,
    negatives: Sequence[Negative],
    today: date,
) -> dict[str, Any] | None:
    """The reason the rule lights the cadre (JSON-ready), or None when it does not fire."""
    why: str | None = None
    if rule.kind is LightRuleKind.SERIOUS_NEGATIVE:
        serious = [r for r in _in_window(negatives, rule.window_days, today) if r.serious]
        if serious:
            why = f"{rule.window_days}天内有经核实的严重负面记录{len(serious)}条"
    elif rule.kind is LightRuleKind.DIMENSION_BELOW:
        if scores is not None and rule.threshold is not None:
            wanted = [rule.dimension] if rule.dimension else list(DIMENSION_NAMES)
            low = [d for d in wanted if scores[d] < rule.threshold]
            if low:
                parts = "、".join(f"{DIMENSION_NAMES[d]}{_fmt(scores[d])}分" for d in low)
                why = f"{parts}，低于{_fmt(rule.threshold)}分"
    elif rule.kind is LightRuleKind.NEGATIVE_COUNT:
        count = len(_in_window(negatives, rule.window_days, today))
        if rule.count is not None and count >= rule.count:
            why = f"{rule.window_days}天内经核实的负面记录{count}条（不少于{rule.count}条）"
    if why is None:
        return None
    return {"rule": rule.id, "kind": rule.kind.value, "light": rule.light.value, "why": why}


def verdict(
    rules: Iterable[Rule],
    *,
    path: str,
    scores: dict[Dimension, float] | None,
    negatives: Sequence[Negative],
    today: date,
) -> tuple[Light, list[dict[str, Any]]]:
    """The cadre's light: the worst of the active rules that apply to its tenant and fire
    (GREEN when none does), and the reasons, worst first."""
    reasons = [
        reason
        for rule in rules
        if rule.applies_to(path)
        and (reason := fired(rule, scores=scores, negatives=negatives, today=today)) is not None
    ]
    reasons.sort(key=lambda r: (-RANK[Light(r["light"])], r["rule"]))
    light = Light(reasons[0]["light"]) if reasons else Light.GREEN
    return light, reasons


async def active_rules(conn: AsyncConnection | Db) -> list[Rule]:
    rows = await conn.execute(
        select(LightRule.__table__).where(LightRule.active.is_(True)).order_by(LightRule.id)
    )
    return [Rule.of(row) for row in rows]


# -- reading and changing the rules ---------------------------------------------------------------


def visible(scope: Scope) -> Any:
    """The rules that bear on what the scope holds: those set inside it and those set above
    it (a town admin sees the district's rules, which apply to its cadres). A scope of single
    files (a member's) sees none: rules are the admins' configuration."""
    if not scope.roots:
        return false()
    above = sorted({a for root in scope.roots if root != ROOT for a in ancestors(root)})
    condition = scope.predicate(LightRule.tenant_path)
    return or_(condition, LightRule.tenant_path.in_(above)) if above else condition


async def list_rules(db: Db, *, scope: Scope) -> Sequence[AnyRow]:
    stmt = select(LightRule.__table__).where(visible(scope)).order_by(LightRule.id)
    return (await db.execute(stmt)).all()


async def rule(conn: AsyncConnection | Db, rule_id: int) -> AnyRow | None:
    stmt = select(LightRule.__table__).where(LightRule.id == rule_id)
    return (await conn.execute(stmt)).first()


def checked(
    *,
    kind: LightRuleKind,
    light: Light,
    dimension: Dimension | None,
    threshold: float | None,
    count: int | None,
    window_days: int,
) -> dict[str, Any]:
    """A new rule's values, or BAD_USER_INPUT naming the field that is wrong."""
    if light is Light.GREEN:
        raise BadUserInput("a rule gives YELLOW or RED (GREEN is no rule firing)", argument="light")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise BadUserInput(
            f"windowDays must be between 1 and {MAX_WINDOW_DAYS}", argument="windowDays"
        )
    if kind is LightRuleKind.DIMENSION_BELOW:
        if threshold is None or not 0 < threshold <= 100:
            raise BadUserInput(
                "DIMENSION_BELOW needs a threshold above 0 and at most 100", argument="threshold"
            )
    elif threshold is not None:
        raise BadUserInput("threshold applies to DIMENSION_BELOW only", argument="threshold")
    elif dimension is not None:
        raise BadUserInput("dimension applies to DIMENSION_BELOW only", argument="dimension")
    if kind is LightRuleKind.NEGATIVE_COUNT:
        if count is None or not 1 <= count <= 1000:
            raise BadUserInput("NEGATIVE_COUNT needs a count from 1 to 1000", argument="count")
    elif count is not None:
        raise BadUserInput("count applies to NEGATIVE_COUNT only", argument="count")
    return {
        "kind": kind,
        "light": light.value,
        "dimension": dimension,
        "threshold": threshold,
        "count": count,
        "window_days": window_days,
    }


def _described(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


async def create(
    conn: AsyncConnection,
    *,
    tenant_path: str,
    values: dict[str, Any],
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Store a checked rule (audited). Never commits."""
    rule_id = (
        await conn.execute(
            insert(LightRule)
            .values(
                tenant_path=tenant_path, active=True, created_by=actor, created_at=now, **values
            )
            .returning(LightRule.id)
        )
    ).scalar_one()
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.rule.create",
                tenant_path=tenant_path,
                subject=str(rule_id),
                client_address=client,
                detail=_described(values),
            )
        ],
        now=now,
    )
    return int(rule_id)


async def set_active(
    conn: AsyncConnection,
    *,
    found: AnyRow,
    active: bool,
    actor: str,
    client: str | None,
    now: datetime,
) -> None:
    """Switch a rule on or off (audited, also when it already was). Never commits."""
    await conn.execute(update(LightRule).where(LightRule.id == found.id).values(active=active))
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="archive.rule.set_active",
                tenant_path=found.tenant_path,
                subject=str(found.id),
                client_address=client,
                detail={"active": active, "was": bool(found.active)},
            )
        ],
        now=now,
    )
