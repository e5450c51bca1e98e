"""The standard templates every installation starts with (version 1 of each), seeded by
`ehome seed`. Weights are the customary point shares; scoring normalises them anyway."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from server.assessments.models import RuleKind, TargetKind
from server.assessments.specs import IndicatorSpec, indicator_rows

S, Y, C = RuleKind.SCORE_RANGE, RuleKind.YES_NO, RuleKind.COUNT


@dataclass(frozen=True, slots=True)
class StandardTemplate:
    code: str
    name: str
    target: TargetKind
    indicators: tuple[IndicatorSpec, ...]


def _group(code: str, name: str, weight: float, *leaves: IndicatorSpec) -> list[IndicatorSpec]:
    group = IndicatorSpec(code, name, weight)
    return [group, *(replace(leaf, parent=code) for leaf in leaves)]


def _score(code: str, name: str, weight: float, top: float = 10) -> IndicatorSpec:
    return IndicatorSpec(code, name, weight, rule=S, min=0, max=top)


def _yes(code: str, name: str, weight: float) -> IndicatorSpec:
    return IndicatorSpec(code, name, weight, rule=Y)


def _count(code: str, name: str, weight: float, per_unit: float, cap: float) -> IndicatorSpec:
    return IndicatorSpec(code, name, weight, rule=C, per_unit=per_unit, cap=cap)


FORTRESS_STAR = StandardTemplate(
    "fortress_star",
    "堡垒指数（支部星级评定）",
    TargetKind.BRANCH,
    (
        *_group(
            "organisation",
            "组织建设",
            25,
            _yes("committee_complete", "支委班子配备齐全", 10),
            _yes("election_on_time", "按期换届", 5),
            _score("standardisation", "标准化规范化建设", 10),
        ),
        *_group(
            "activities",
            "活动开展",
            20,
            _count("three_one", "“三会一课”落实", 10, per_unit=1, cap=10),
            _count("theme_day", "主题党日开展", 10, per_unit=1, cap=12),
        ),
        *_group(
            "member_management",
            "党员管理",
            20,
            _score("development", "党员发展质量", 8),
            _yes("dues_collected", "党费按时收缴", 6),
            _score("education", "党员教育管理", 6),
        ),
        *_group(
            "public_service",
            "服务群众",
            15,
            _count("volunteer_events", "志愿服务活动", 8, per_unit=1, cap=8),
            _score("satisfaction", "群众满意度", 7, top=100),
        ),
        *_group(
            "results",
            "工作成效",
            20,
            _score("central_tasks", "中心工作完成情况", 12),
            _count("honours", "获得表彰", 8, per_unit=2, cap=8),
        ),
    ),
)

VANGUARD_INDEX = StandardTemplate(
    "vanguard_index",
    "先锋指数（党员积分）",
    TargetKind.MEMBER,
    (
        *_group(
            "learning",
            "学习",
            20,
            _count("study_sessions", "参加集中学习", 12, per_unit=1, cap=12),
            _count("online_study", "在线学习积分", 8, per_unit=0.5, cap=8),
        ),
        *_group(
            "activities",
            "活动",
            20,
            _count("meetings", "参加组织生活", 12, per_unit=1, cap=12),
            _count("theme_days", "参加主题党日", 8, per_unit=1, cap=8),
        ),
        *_group(
            "volunteering",
            "志愿服务",
            20,
            _count("volunteer_hours", "志愿服务时长（小时）", 20, per_unit=0.5, cap=20),
        ),
        *_group(
            "dues",
            "党费",
            15,
            _yes("dues_on_time", "按时足额交纳党费", 15),
        ),
        *_group(
            "evaluation",
            "评议",
            25,
            _score("peer_review", "民主评议得分", 15, top=100),
            _score("branch_review", "支部评价", 10, top=100),
        ),
    ),
)

CIVIL_SERVANT_ANNUAL = StandardTemplate(
    "civil_servant_annual",
    "公务员年度考核",
    TargetKind.PERSON,
    (
        *_group(
            "morality",
            "德",
            20,
            _score("political_quality", "政治素质", 10),
            _score("professional_ethics", "职业道德", 10),
        ),
        *_group(
            "ability",
            "能",
            20,
            _score("professional_skill", "业务能力", 10),
            _score("problem_solving", "解决问题能力", 10),
        ),
        *_group(
            "diligence",
            "勤",
            15,
            _score("attendance", "出勤与工作作风", 15),
        ),
        *_group(
            "performance",
            "绩",
            35,
            _score("tasks_done", "工作任务完成情况", 25, top=100),
            _count("commendations", "受到嘉奖", 10, per_unit=5, cap=10),
        ),
        *_group(
            "integrity",
            "廉",
            10,
            _yes("no_violation", "无违纪违规", 10),
        ),
    ),
)

STANDARD_TEMPLATES = (FORTRESS_STAR, VANGUARD_INDEX, CIVIL_SERVANT_ANNUAL)


def standard_rows(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Template rows and indicator rows, ids assigned, for the bulk seed."""
    templates: list[dict[str, Any]] = []
    indicators: list[dict[str, Any]] = []
    for template_id, t in enumerate(STANDARD_TEMPLATES, start=1):
        templates.append(
            {
                "id": template_id,
                "code": t.code,
                "version": 1,
                "name": t.name,
                "target_kind": t.target,
                "created_at": now,
            }
        )
        indicators += indicator_rows(
            t.indicators, template_id=template_id, first_id=len(indicators) + 1
        )
    return templates, indicators
