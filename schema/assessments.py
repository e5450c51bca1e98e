"""Query.assessmentTemplates: the versioned indicator trees assessments score against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import strawberry
from strawberry.types import Info

from policies.rbac import Resource
from schema.context import Context
from schema.ids import global_id
from schema.lookahead import Lookahead
from schema.pagination import PageArgs
from schema.permissions import Can, allow
from schema.types import EDGES, Counter, PageInfo, connection
from server.assessments import service
from server.assessments.models import RuleKind, TargetKind
from server.sql import AnyRow

strawberry.enum(
    TargetKind,
    name="AssessmentTarget",
    description="What a template assesses: a branch, a party member, or a person (staff).",
)
strawberry.enum(
    RuleKind,
    name="IndicatorRule",
    description="SCORE_RANGE: a score in [min, max]; YES_NO: met or not; "
    "COUNT: perUnit points per occurrence, up to cap.",
)


@strawberry.type(
    name="Indicator",
    description="One node of a template's indicator tree. A group has children and no rule; "
    "its score is the weighted mean of its children's. Sibling weights need not sum to 1: "
    "scoring normalises them.",
)
class IndicatorNode:
    id: strawberry.ID
    code: str
    name: str
    weight: float
    rule: RuleKind | None
    min: float | None
    max: float | None
    per_unit: float | None
    cap: float | None
    children: list[IndicatorNode]


@strawberry.type(
    name="AssessmentTemplate",
    description="One version of a template; a version never changes once written.",
)
class AssessmentTemplateNode:
    id: strawberry.ID
    code: str
    version: int
    name: str
    target_kind: TargetKind
    indicators: list[IndicatorNode] = strawberry.field(
        description="The top-level indicators, in order, each with its children."
    )


@strawberry.type
class AssessmentTemplateEdge:
    cursor: str
    node: AssessmentTemplateNode


@strawberry.type
class AssessmentTemplateConnection:
    edges: list[AssessmentTemplateEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field(description="How many match, over all pages.")
    async def total_count(self) -> int:
        return await self.counter()


EDGES[AssessmentTemplateConnection] = AssessmentTemplateEdge


def indicator_trees(rows: Sequence[AnyRow]) -> dict[int, list[IndicatorNode]]:
    """Each template's top-level indicators, children attached; rows come in position order
    and parents precede their children (service.new_version and the seed both ensure it)."""
    nodes: dict[int, IndicatorNode] = {}
    roots: dict[int, list[IndicatorNode]] = defaultdict(list)
    for r in rows:
        node = IndicatorNode(
            id=global_id("Indicator", r.id),
            code=r.code,
            name=r.name,
            weight=r.weight,
            rule=r.rule,
            min=r.min_score,
            max=r.max_score,
            per_unit=r.per_unit,
            cap=r.cap,
            children=[],
        )
        nodes[r.id] = node
        siblings = roots[r.template_id] if r.parent_id is None else nodes[r.parent_id].children
        siblings.append(node)
    return roots


@strawberry.type
class AssessmentQuery:
    @strawberry.field(
        description="Assessment templates in id order: the latest version of each code, or "
        "every version with `allVersions`; `code` picks one template.",
        extensions=[allow(Can(Resource.ASSESSMENT))],
    )
    async def assessment_templates(
        self,
        info: Info[Context, None],
        code: str | None = None,
        all_versions: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> AssessmentTemplateConnection:
        ctx = info.context
        page = PageArgs.parse(first, after)
        rows = await service.list_templates(
            ctx.db, code=code, all_versions=all_versions, after_id=page.after_id, limit=page.fetch
        )
        # The page's indicators in one query, and only when the query reads them.
        trees: dict[int, list[IndicatorNode]] = {}
        if Lookahead.of(info)["edges"]["node"].has("indicators"):
            shown = [r.id for r in rows[: page.first]]
            trees = indicator_trees(await service.indicators_of(ctx.db, shown))
        return connection(
            AssessmentTemplateConnection,
            rows,
            page,
            lambda r: AssessmentTemplateNode(
                id=global_id("AssessmentTemplate", r.id),
                code=r.code,
                version=r.version,
                name=r.name,
                target_kind=r.target_kind,
                indicators=trees.get(r.id, []),
            ),
            lambda: service.count_templates(ctx.db, code=code, all_versions=all_versions),
        )
