"""Assessment templates on SQLite and PostgreSQL: the seeded standard templates and their
indicator trees, new versions that leave the old ones intact, validation of indicators, and
who may read templates."""

from __future__ import annotations

from typing import Any

import pytest

from server.assessments.models import RuleKind, TargetKind
from server.assessments.service import new_version
from server.assessments.specs import IndicatorSpec
from server.assessments.standard import STANDARD_TEMPLATES
from server.errors import BadUserInput
from tests.conftest import GraphQLClient

INDICATOR = "id code name weight rule min max perUnit cap"
TEMPLATES = (
    "query($code: String, $all: Boolean! = false) {"
    " assessmentTemplates(code: $code, allVersions: $all, first: 100) { totalCount edges { node {"
    f" code version name targetKind indicators {{ {INDICATOR} children {{ {INDICATOR} }} }}"
    " } } } }"
)


def nodes(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in data["assessmentTemplates"]["edges"]]


async def test_standard_templates_and_their_trees(client: GraphQLClient) -> None:
    got = {t["code"]: t for t in nodes(await client.data(TEMPLATES))}
    assert set(got) == {t.code for t in STANDARD_TEMPLATES}
    for standard in STANDARD_TEMPLATES:
        template = got[standard.code]
        assert (template["version"], template["name"]) == (1, standard.name)
        assert template["targetKind"] == standard.target.value
        groups = [s for s in standard.indicators if s.parent is None]
        assert [g["code"] for g in template["indicators"]] == [g.code for g in groups]
        for group, node in zip(groups, template["indicators"], strict=True):
            assert node["rule"] is None and node["children"]
            leaves = [s for s in standard.indicators if s.parent == group.code]
            assert [c["code"] for c in node["children"]] == [leaf.code for leaf in leaves]
            assert all(c["rule"] for c in node["children"])
    star = [g["name"] for g in got["fortress_star"]["indicators"]]
    assert star == ["组织建设", "活动开展", "党员管理", "服务群众", "工作成效"]
    vanguard = [g["name"] for g in got["vanguard_index"]["indicators"]]
    assert vanguard == ["学习", "活动", "志愿服务", "党费", "评议"]
    annual = [g["name"] for g in got["civil_servant_annual"]["indicators"]]
    assert annual == ["德", "能", "勤", "绩", "廉"]
    count_rule = next(
        c
        for g in got["vanguard_index"]["indicators"]
        for c in g["children"]
        if c["rule"] == "COUNT"
    )
    assert count_rule["perUnit"] > 0 and count_rule["cap"] is not None


REVISED = (
    IndicatorSpec("conduct", "品行", 2),
    IndicatorSpec("honest", "诚信", 1, parent="conduct", rule=RuleKind.YES_NO),
    IndicatorSpec("duty", "履职", 3, parent="conduct", rule=RuleKind.SCORE_RANGE, min=0, max=5),
    IndicatorSpec("output", "成果", 1, rule=RuleKind.COUNT, per_unit=2, cap=10),
)


async def test_a_new_version_keeps_the_old_one(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    before = nodes(await gql.data(TEMPLATES, {"code": "civil_servant_annual"}))
    async with app.state.runtime.engine.begin() as conn:
        made = await new_version(conn, "civil_servant_annual", REVISED)
    assert made.version == 2

    latest = nodes(await gql.data(TEMPLATES, {"code": "civil_servant_annual"}))
    assert [(t["version"], t["name"]) for t in latest] == [(2, "公务员年度考核")]
    tree = latest[0]["indicators"]
    assert [g["code"] for g in tree] == ["conduct", "output"]
    assert [c["code"] for c in tree[0]["children"]] == ["honest", "duty"]
    assert tree[1]["children"] == [] and tree[1]["perUnit"] == 2

    every = nodes(await gql.data(TEMPLATES, {"code": "civil_servant_annual", "all": True}))
    assert [t["version"] for t in every] == [1, 2]
    assert every[0] == before[0]  # version 1 untouched
    # The other templates' latest versions are still their first.
    assert {(t["code"], t["version"]) for t in nodes(await gql.data(TEMPLATES))} == {
        ("fortress_star", 1),
        ("vanguard_index", 1),
        ("civil_servant_annual", 2),
    }


async def test_a_new_code_starts_at_version_one(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    async with app.state.runtime.engine.begin() as conn:
        made = await new_version(
            conn, "village_review", REVISED, name="村级评议", target=TargetKind.BRANCH
        )
    assert made.version == 1
    got = nodes(await gql.data(TEMPLATES, {"code": "village_review"}))
    assert [(t["name"], t["targetKind"]) for t in got] == [("村级评议", "BRANCH")]


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (IndicatorSpec("r", "区间", 1, rule=RuleKind.SCORE_RANGE, min=5, max=5), "min < max"),
        (IndicatorSpec("c", "计数", 1, rule=RuleKind.COUNT, cap=3), "per_unit"),
        (IndicatorSpec("k", "无上限", 1, rule=RuleKind.COUNT, per_unit=1), "positive cap"),
        (IndicatorSpec("o", "孤儿", 1, parent="nowhere", rule=RuleKind.YES_NO), "unknown parent"),
        (IndicatorSpec("n", "无规则", 1), "needs a rule"),
    ],
)
async def test_invalid_indicators_are_refused(
    fresh: tuple[GraphQLClient, Any], spec: IndicatorSpec, why: str
) -> None:
    gql, app = fresh
    async with app.state.runtime.engine.begin() as conn:
        with pytest.raises(BadUserInput) as refused:
            await new_version(conn, "fortress_star", (*REVISED, spec))
    assert f"indicator {spec.code!r}" in refused.value.message
    assert why in refused.value.message
    assert refused.value.extensions["indicator"] == spec.code
    # Nothing was written: the latest version is still the first.
    got = nodes(await gql.data(TEMPLATES, {"code": "fortress_star", "all": True}))
    assert [t["version"] for t in got] == [1]


async def test_members_read_templates_anonymous_clients_do_not(client: GraphQLClient) -> None:
    member = await client.as_user("m.10")
    got = nodes(await member.data(TEMPLATES))
    assert {t["code"] for t in got} >= {t.code for t in STANDARD_TEMPLATES}
    error = await client.anonymous().error(TEMPLATES)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
