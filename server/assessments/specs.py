"""Indicator specifications, checked and turned into rows: shared by the seed (standard
templates) and by new_version (every later version)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.assessments.models import RuleKind
from server.errors import BadUserInput


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator; `parent` is the code of an indicator listed before it. A group (an
    indicator other indicators name as parent) has no rule; every leaf has one."""

    code: str
    name: str
    weight: float
    parent: str | None = None
    rule: RuleKind | None = None
    min: float | None = None
    max: float | None = None
    per_unit: float | None = None
    cap: float | None = None


def _bad(spec: IndicatorSpec, why: str) -> BadUserInput:
    return BadUserInput(
        f"indicator {spec.code!r}: {why}", argument="indicators", indicator=spec.code
    )


def check(specs: Sequence[IndicatorSpec]) -> None:
    """Raise BadUserInput naming the first indicator that is not well formed."""
    if not specs:
        raise BadUserInput("a template needs at least one indicator", argument="indicators")
    seen: set[str] = set()
    parents = {s.parent for s in specs if s.parent is not None}
    for spec in specs:
        if spec.code in seen:
            raise _bad(spec, "code used twice")
        # Parents listed first: rows are inserted in order, and a tree cannot then hold a cycle.
        if spec.parent is not None and spec.parent not in seen:
            raise _bad(spec, f"unknown parent {spec.parent!r} (list parents before children)")
        seen.add(spec.code)
        if spec.weight < 0:
            raise _bad(spec, "weight must not be negative")
        if spec.code in parents:
            if spec.rule is not None:
                raise _bad(spec, "a group scores from its children and takes no rule")
            continue
        match spec.rule:
            case None:
                raise _bad(spec, "a leaf indicator needs a rule")
            case RuleKind.SCORE_RANGE:
                if spec.min is None or spec.max is None or spec.min >= spec.max:
                    raise _bad(spec, "SCORE_RANGE needs min < max")
            case RuleKind.COUNT:
                if spec.per_unit is None or spec.per_unit <= 0:
                    raise _bad(spec, "COUNT needs a positive per_unit")
                # A count scores as a share of its cap: without one it has no top.
                if spec.cap is None or spec.cap <= 0:
                    raise _bad(spec, "COUNT needs a positive cap")
            case RuleKind.YES_NO:
                pass


def indicator_rows(
    specs: Sequence[IndicatorSpec], *, template_id: int, first_id: int | None = None
) -> list[dict[str, Any]]:
    """Checked rows for one template. With `first_id` the ids are assigned here (the bulk
    seed); without, parent_id holds the parent's code and the caller resolves it on insert."""
    check(specs)
    ids: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for position, spec in enumerate(specs):
        row: dict[str, Any] = {
            "template_id": template_id,
            "parent_id": spec.parent,
            "code": spec.code,
            "name": spec.name,
            "weight": spec.weight,
            "rule": spec.rule,
            "min_score": spec.min,
            "max_score": spec.max,
            "per_unit": spec.per_unit,
            "cap": spec.cap,
            "position": position,
        }
        if first_id is not None:
            row["id"] = ids[spec.code] = first_id + position
            row["parent_id"] = None if spec.parent is None else ids[spec.parent]
        rows.append(row)
    return rows
