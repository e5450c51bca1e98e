"""Well-being screening: scoring a member's answers, storing results, reading them within a
Scope, and the overview counts without names.

Scoring (the published cut-offs of each scale, server/screening/scales.py):

- The score is the sum of the item values (each 0-3): PHQ-9 0-27, GAD-7 0-21.
- PHQ-9 bands: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe.
  GAD-7 bands: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
- Light of a band: minimal and mild → GREEN; moderate → YELLOW; moderately severe and severe
  → RED.
- Safety rule: on PHQ-9, any answer but "完全不会" (0) to item 9 (thoughts of being better off
  dead or of self-harm) makes the light RED whatever the total; the band stays the total's.

A result is personal: the member reads its own (with its answers); holders of a CARE role read
the results of the members in their subtree (never the answers); admins see only the overview.
Submitting opens no alert and emits no feed event: both are visible to admins, and would tell
them who screened RED.

Overview (counts of the latest result per member and scale, in a subtree): every non-zero
count below SUPPRESS_BELOW (3) is withheld (null, `suppressed`), and so is, in every sum
relation among the counts (respondents = Σ lights = Σ bands; a light = Σ its bands), another
count whenever exactly one is withheld, so that none can be recovered by subtraction (the
smallest non-zero one is chosen). Zeros are shown. Comparing overviews of nested subtrees, or
of one subtree over time, can still narrow a withheld count: the overview is for trends, and
reads it by subtree only.

Writers run in the caller's transaction and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit import service as audit
from server.branches.models import Branch
from server.branches.service import TENANT_COLUMNS
from server.db import Db
from server.errors import BadUserInput
from server.feed.models import Light
from server.members.models import Member
from server.members.service import BRANCH_COLUMNS
from server.members.service import COLUMNS as MEMBER_COLUMNS
from server.screening.models import ScreeningResult, ScreeningScale
from server.screening.scales import Band, Scale, from_row
from server.sql import AnyRow, AnySelect, counted, memoized, newest_first, page_params
from tenants.models import Tenant
from tenants.scope import Scope

R = ScreeningResult
SUPPRESS_BELOW = 3

# A result's own columns (prefixed: the member's columns are the row's plain ones, as
# schema.types.member_node reads them).
RESULT_COLUMNS = (
    R.id.label("r_id"),
    R.scale_id.label("r_scale_id"),
    R.answers.label("r_answers"),
    R.score.label("r_score"),
    R.band.label("r_band"),
    R.light.label("r_light"),
    R.taken_at.label("r_taken_at"),
)


# -- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    score: int
    band: Band
    light: Light
    safety: bool  # the safety rule made it RED


def evaluate(scale: Scale, answers: Sequence[int]) -> Outcome:
    """Score one filling-in, or BAD_USER_INPUT naming `answers` and the item at fault."""
    count = len(scale.items)
    if len(answers) != count:
        item = min(len(answers), count) + 1
        fault = "missing" if len(answers) < count else "extra"
        raise BadUserInput(
            f"{scale.code} has {count} items: give exactly one answer to each "
            f"(got {len(answers)}; the answer to item {item} is {fault})",
            argument="answers",
            item=item,
        )
    values = {o.value for o in scale.options}
    for item, value in enumerate(answers, start=1):
        if value not in values:
            raise BadUserInput(
                f"the answer to item {item} must be one of {sorted(values)}, got {value}",
                argument="answers",
                item=item,
            )
    score = sum(answers)
    band = next((b for b in scale.bands if b.min <= score <= b.max), None)
    if band is None:  # a scale whose bands do not cover its range: a data error, not input
        raise ValueError(f"{scale.code}: no band for score {score}")
    safety = any(answers[i - 1] != 0 for i in scale.safety_items)
    return Outcome(score, band, Light.RED if safety else band.light, safety)


# -- scales -------------------------------------------------------------------------------------


@memoized
def _scales(by_code: bool) -> AnySelect:
    S = ScreeningScale
    stmt = select(S.id, S.code, S.name, S.items, S.options, S.bands).order_by(S.id)
    return stmt.where(S.code == bindparam("code")) if by_code else stmt


async def scales(db: Db | AsyncConnection) -> list[Scale]:
    """Every scale, in id order: reference data, read by whoever may screen."""
    return [from_row(r) for r in (await db.execute(_scales(False))).all()]


async def scale_by_code(db: Db | AsyncConnection, code: str) -> Scale | None:
    row = (await db.execute(_scales(True), {"code": code})).first()
    return None if row is None else from_row(row)


# -- submitting ---------------------------------------------------------------------------------


async def submit(
    conn: AsyncConnection,
    *,
    member_id: int,
    scale_code: str,
    answers: Sequence[int],
    actor: str,
    client: str | None,
    now: datetime,
) -> int:
    """Store a member's own filling-in of a scale; its id. Audited without the answers."""
    scale = await scale_by_code(conn, scale_code)
    if scale is None:
        raise BadUserInput(f"there is no screening scale {scale_code!r}", argument="scaleCode")
    outcome = evaluate(scale, answers)
    result_id: int = (
        await conn.execute(
            insert(R)
            .values(
                member_id=member_id,
                scale_id=scale.id,
                answers=json.dumps(list(answers)),
                score=outcome.score,
                band=outcome.band.code,
                light=outcome.light.value,
                taken_at=now,
            )
            .returning(R.id)
        )
    ).scalar_one()
    path = await conn.scalar(
        select(Tenant.path)
        .join(Branch, Branch.tenant_id == Tenant.id)
        .join(Member, Member.branch_id == Branch.id)
        .where(Member.id == member_id)
    )
    await audit.append(
        conn,
        [
            audit.Entry(
                principal=actor,
                action="screening.submit",
                tenant_path=path,
                subject=str(result_id),
                client_address=client,
                # The scale only: the answers, score and light stay out of the log.
                detail={"scale": scale.code},
            )
        ],
        now=now,
    )
    return result_id


# -- reading results ----------------------------------------------------------------------------


def _scoped(scope: Scope, *, scale: bool, lights: bool) -> AnySelect:
    stmt = (
        select(*RESULT_COLUMNS, *MEMBER_COLUMNS, *BRANCH_COLUMNS, *TENANT_COLUMNS)
        .select_from(R)
        .join(Member, Member.id == R.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(scope.predicate(Tenant.path, member=R.member_id))
    )
    if scale:
        stmt = stmt.where(R.scale_id == bindparam("scale_id"))
    if lights:
        stmt = stmt.where(R.light.in_(bindparam("lights", expanding=True)))
    return stmt


@memoized
def _list(scope: Scope, scale: bool, lights: bool, after: bool, by_ids: bool) -> AnySelect:
    stmt = _scoped(scope, scale=scale, lights=lights)
    if by_ids:
        return stmt.where(R.id.in_(bindparam("ids", expanding=True))).order_by(R.id.desc())
    # Newest first: ids grow with submission time, and never shift under new inserts.
    return newest_first(stmt, R.id, after=after)


@memoized
def _count(scope: Scope, scale: bool, lights: bool) -> AnySelect:
    return counted(_scoped(scope, scale=scale, lights=lights))


def _filters(scale_id: int | None, lights: Sequence[Light] | None) -> dict[str, Any]:
    return {
        "scale_id": scale_id,
        "lights": None if lights is None else sorted({str(light) for light in lights}),
    }


async def list_results(
    db: Db | AsyncConnection,
    *,
    scope: Scope,
    scale_id: int | None = None,
    lights: Sequence[Light] | None = None,
    after_id: int | None = None,
    limit: int,
) -> Sequence[AnyRow]:
    """Results within the scope, newest first, with their member, branch and tenant."""
    stmt = _list(scope, scale_id is not None, lights is not None, after_id is not None, False)
    params = page_params(after_id, limit, **_filters(scale_id, lights))
    return (await db.execute(stmt, params)).all()


async def count_results(
    db: Db,
    *,
    scope: Scope,
    scale_id: int | None = None,
    lights: Sequence[Light] | None = None,
) -> int:
    stmt = _count(scope, scale_id is not None, lights is not None)
    return int(await db.scalar(stmt, _filters(scale_id, lights)))


async def results_by_ids(
    db: Db | AsyncConnection, *, scope: Scope, ids: Sequence[int]
) -> Sequence[AnyRow]:
    stmt = _list(scope, False, False, False, True)
    return (await db.execute(stmt, {"ids": list(ids)})).all()


# -- overview -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    count: int | None  # None when withheld
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Overview:
    scale: Scale
    respondents: Cell
    lights: list[tuple[Light, Cell]]
    bands: list[tuple[Band, Cell]]


@memoized
def _latest_counts(scope: Scope) -> AnySelect:
    latest = (
        select(
            R.band,
            R.light,
            func.row_number()
            .over(partition_by=R.member_id, order_by=(R.taken_at.desc(), R.id.desc()))
            .label("newest"),
        )
        .join(Member, Member.id == R.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .join(Tenant, Tenant.id == Branch.tenant_id)
        .where(R.scale_id == bindparam("scale_id"))
        .where(scope.predicate(Tenant.path, member=R.member_id))
        .subquery()
    )
    return (
        select(latest.c.light, latest.c.band, func.count())
        .where(latest.c.newest == 1)
        .group_by(latest.c.light, latest.c.band)
    )


def suppressed(
    cells: dict[str, int], relations: Sequence[tuple[str, Sequence[str]]], below: int
) -> set[str]:
    """The cells to withhold: every non-zero count under `below`, then, in every relation
    (total, parts), one more whenever exactly one is withheld (the smallest non-zero one),
    until no relation has exactly one: none can then be recovered by subtraction."""
    hidden = {k for k, v in cells.items() if 0 < v < below}
    changed = True
    while changed:
        changed = False
        for total, parts in relations:
            group = [total, *parts]
            if sum(k in hidden for k in group) != 1:
                continue
            shown = [k for k in group if k not in hidden and cells[k] > 0]
            if shown:  # none: the relation did not hold exactly (the safety rule)
                hidden.add(min(shown, key=lambda k: cells[k]))
                changed = True
    return hidden


async def overview(db: Db, *, scope: Scope, scale: Scale) -> Overview:
    """Counts of each member's latest result of `scale` within the scope, by light and band."""
    rows = (await db.execute(_latest_counts(scope), {"scale_id": scale.id})).all()
    cells: dict[str, int] = {"respondents": 0}
    cells |= {f"light:{light}": 0 for light in Light}
    cells |= {f"band:{b.code}": 0 for b in scale.bands}
    for light, band, count in rows:
        cells["respondents"] += count
        cells[f"light:{light}"] = cells.get(f"light:{light}", 0) + count
        cells[f"band:{band}"] = cells.get(f"band:{band}", 0) + count
    relations: list[tuple[str, list[str]]] = [
        ("respondents", [f"light:{light}" for light in Light]),
        ("respondents", [f"band:{b.code}" for b in scale.bands]),
    ]
    # A light is the sum of its bands, but for results the safety rule made RED: applying
    # these relations anyway only withholds more.
    for light in Light:
        parts = [f"band:{b.code}" for b in scale.bands if b.light is light]
        if parts:
            relations.append((f"light:{light}", parts))
    hidden = suppressed(cells, relations, SUPPRESS_BELOW)

    def cell(key: str) -> Cell:
        return Cell(None, True) if key in hidden else Cell(cells[key], False)

    return Overview(
        scale=scale,
        respondents=cell("respondents"),
        lights=[(light, cell(f"light:{light}")) for light in Light],
        bands=[(b, cell(f"band:{b.code}")) for b in scale.bands],
    )
