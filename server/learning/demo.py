"""The demo district's learning catalogue and its members' enrolments.

- The catalogue: CATALOGUE's items published at the district (party history, theory,
  rural revitalisation, grass-roots governance...), a few more at the first towns and
  villages, and cohorts (CLASS) at the district and the first town, holding district items.
  About 60 items at district scale (fewer tenants, fewer local items at small scale). Some
  were published within the last 90 days (the recommendations' "new" boost), the others
  over the two years before `as_of`.
- Enrolments: about 15% of the members (4,500 at district scale) enrol in one to five items
  they see (published at their tenant or above); about 60% of those enrolments are completed,
  most within the last 365 days and some before (outside the learning-hours window); the rest
  are in progress. Cohorts' seat counters match their enrolments, under their capacities.
  Roughly 12,000 enrolment rows at district scale: a fraction of a second to insert.

Deterministic: one `random.Random` of the seed plus SEED_OFFSET, and `as_of`.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table

from server.learning.models import LearningClassItem, LearningEnrolment, LearningItem
from tenants.demo import DemoData
from tenants.paths import ancestors

SEED_OFFSET = 7103  # this module's own stream: other hooks' draws do not shift it
ENROLLING_SHARE = 0.15
COMPLETED_SHARE = 0.6
Row = dict[str, Any]

# (section, title, credit hours, categories ([] = all), tags)
CATALOGUE: list[tuple[str, str, float, list[str], list[str]]] = [
    ("COURSE", "中国共产党简史", 8, [], ["党史", "理论"]),
    ("COURSE", "习近平新时代中国特色社会主义思想概论", 10, [], ["理论", "新思想"]),
    ("COURSE", "党章党规党纪学习", 6, [], ["党章", "纪律"]),
    ("COURSE", "新时代党员先锋模范作用", 4, [], ["党性", "先锋"]),
    ("COURSE", "乡村振兴战略与实践", 6, ["RURAL"], ["乡村振兴", "三农"]),
    ("COURSE", "基层党组织建设规范化", 5, [], ["组织建设", "三会一课"]),
    ("COURSE", "机关党建与作风建设", 4, ["AGENCY"], ["作风", "机关党建"]),
    ("COURSE", "非公企业党建工作实务", 4, ["NON_PUBLIC"], ["非公党建", "企业"]),
    ("COURSE", "楼宇党建与区域化党建", 3, ["BUILDING"], ["楼宇党建", "区域化"]),
    ("COURSE", "红色物业与社区治理", 3, ["RED_PROPERTY"], ["红色物业", "社区治理"]),
    ("COURSE", "共同富裕示范区建设解读", 4, [], ["共同富裕", "浙江"]),
    ("COURSE", "全面从严治党专题", 4, [], ["纪律", "廉政"]),
    ("MICRO_CLASS", "一大代表的故事", 1, [], ["党史", "红色故事"]),
    ("MICRO_CLASS", "长征精神微讲堂", 1, [], ["党史", "长征"]),
    ("MICRO_CLASS", "三会一课怎么开", 1, [], ["三会一课", "组织建设"]),
    ("MICRO_CLASS", "党费收缴知多少", 0.5, [], ["党费", "组织建设"]),
    ("MICRO_CLASS", "主题党日活动设计", 1, [], ["主题党日", "组织建设"]),
    ("MICRO_CLASS", "农村电商助农增收", 1, ["RURAL"], ["乡村振兴", "电商"]),
    ("MICRO_CLASS", "垃圾分类我先行", 0.5, ["RED_PROPERTY", "RURAL"], ["社区治理", "环保"]),
    ("MICRO_CLASS", "廉洁从业警示教育", 1, [], ["廉政", "纪律"]),
    ("MICRO_CLASS", "大陈岛垦荒精神", 1, [], ["党史", "垦荒精神", "台州"]),
    ("MICRO_CLASS", "网络安全与保密常识", 1, ["AGENCY"], ["保密", "安全"]),
    ("MICRO_CLASS", "新就业群体党建", 1, ["NON_PUBLIC", "BUILDING"], ["非公党建", "新业态"]),
    ("TOPIC", "党的二十大精神专题", 6, [], ["理论", "新思想"]),
    ("TOPIC", "学习贯彻党的二十届三中全会精神", 6, [], ["理论", "改革"]),
    ("TOPIC", "庆祝建党105周年", 3, [], ["党史", "纪念"]),
    ("TOPIC", "“八八战略”在浙江", 4, [], ["浙江", "理论"]),
    ("TOPIC", "“千万工程”经验", 4, ["RURAL"], ["乡村振兴", "浙江"]),
    ("TOPIC", "枫桥经验与基层治理", 3, [], ["社区治理", "基层治理"]),
    ("TOPIC", "党纪学习教育", 4, [], ["纪律", "廉政"]),
    ("BOOK", "《习近平谈治国理政》第四卷", 8, [], ["理论", "新思想"]),
    ("BOOK", "《中国共产党简史》", 6, [], ["党史"]),
    ("BOOK", "《之江新语》", 4, [], ["浙江", "理论"]),
    ("BOOK", "《红岩》", 3, [], ["红色经典", "党史"]),
    ("BOOK", "《习近平在浙江》", 5, [], ["浙江", "新思想"]),
    ("BOOK", "《乡村振兴干部读本》", 4, ["RURAL"], ["乡村振兴", "三农"]),
    ("BOOK", "《毛泽东选集》第一卷", 6, [], ["理论", "经典"]),
    ("BOOK", "《平语近人》", 3, [], ["新思想"]),
]
# Items local tenants publish: (section, title template, hours, tags); {name} is the tenant's.
LOCAL = [
    ("COURSE", "{name}党员冬训课程", 4, ["冬训", "组织建设"]),
    ("MICRO_CLASS", "{name}红色地标巡礼", 1, ["党史", "红色故事"]),
    ("TOPIC", "{name}乡村振兴擂台赛", 2, ["乡村振兴"]),
]
VILLAGE_LOCAL = [
    ("MICRO_CLASS", "{name}村规民约讲解", 0.5, ["社区治理"]),
    ("MICRO_CLASS", "{name}身边的优秀党员", 0.5, ["先锋", "红色故事"]),
]
LOCAL_TOWNS, LOCAL_VILLAGES = 4, 8


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(8, 21), rng.randint(0, 59)), tzinfo=UTC)


def _item(
    rows: list[Row],
    rng: random.Random,
    as_of: date,
    *,
    section: str,
    title: str,
    hours: float,
    categories: list[str],
    tags: list[str],
    path: str,
    days_ago: int,
    **cohort: Any,
) -> Row:
    published = _at(as_of - timedelta(days=days_ago), rng)
    row: Row = {
        "id": len(rows) + 1,
        "section": section,
        "title": title,
        "summary": f"{title}：面向党员的{hours:g}学时学习内容。",
        "credit_hours": float(hours),
        "categories": json.dumps(sorted(categories)),
        "tags": json.dumps(tags, ensure_ascii=False),
        "tenant_path": path,
        "state": "PUBLISHED",
        "starts_on": cohort.get("starts_on"),
        "ends_on": cohort.get("ends_on"),
        "capacity": cohort.get("capacity"),
        "enrolled": 0,
        "created_by": "admin",
        "created_at": published,
        "published_at": published,
        "updated_at": published,
    }
    rows.append(row)
    return row


def learning_rows(data: DemoData, *, seed: int, as_of: date) -> list[tuple[Table, list[Row]]]:
    rng = random.Random(seed + SEED_OFFSET)
    items: list[Row] = []
    district = data.tenants[0]
    towns = [t for t in data.tenants if t["level"] == "TOWN"]
    villages = [t for t in data.tenants if t["level"] == "VILLAGE"]
    for n, (section, title, hours, categories, tags) in enumerate(CATALOGUE):
        # Every fifth item is new (within 90 days), the rest over the last two years.
        days = rng.randint(3, 80) if n % 5 == 0 else rng.randint(100, 700)
        _item(
            items,
            rng,
            as_of,
            section=section,
            title=title,
            hours=hours,
            categories=categories,
            tags=tags,
            path=district["path"],
            days_ago=days,
        )
    for town in towns[:LOCAL_TOWNS]:
        for section, title, hours, tags in LOCAL:
            _item(
                items,
                rng,
                as_of,
                section=section,
                title=title.format(name=town["name"]),
                hours=hours,
                categories=[],
                tags=tags,
                path=town["path"],
                days_ago=rng.randint(10, 400),
            )
    for village in villages[:LOCAL_VILLAGES]:
        section, title, hours, tags = VILLAGE_LOCAL[village["id"] % len(VILLAGE_LOCAL)]
        _item(
            items,
            rng,
            as_of,
            section=section,
            title=title.format(name=village["name"]),
            hours=hours,
            categories=[],
            tags=tags,
            path=village["path"],
            days_ago=rng.randint(10, 400),
        )
    district_items = [r for r in items if r["tenant_path"] == district["path"]]
    cohorts = [
        ("2026年度入党积极分子培训班", district["path"], 300, 40, 60, 16),
        ("新任支部书记示范培训班", district["path"], 60, -20, 10, 12),
        ("青年党员理论学习班", district["path"], 80, 200, 150, 10),
    ]
    if towns:
        cohorts.append((f"{towns[0]['name']}党员骨干轮训班", towns[0]["path"], 40, 10, 30, 8))
    class_items: list[Row] = []
    for title, path, capacity, start_ago, length, hours in cohorts:
        starts = as_of - timedelta(days=start_ago)
        row = _item(
            items,
            rng,
            as_of,
            section="CLASS",
            title=title,
            hours=hours,
            categories=[],
            tags=["培训班", "组织建设"],
            path=path,
            days_ago=max(start_ago, 0) + 20,
            starts_on=starts,
            ends_on=starts + timedelta(days=length),
            capacity=capacity,
        )
        for position, inside in enumerate(rng.sample(district_items, 4), start=1):
            class_items.append(
                {
                    "id": len(class_items) + 1,
                    "class_id": row["id"],
                    "item_id": inside["id"],
                    "position": position,
                }
            )

    # What each tenant sees: its own items and those of the tenants above it.
    by_path: dict[str, list[Row]] = defaultdict(list)
    for row in items:
        by_path[row["tenant_path"]].append(row)
    tenant_path = {t["id"]: t["path"] for t in data.tenants}
    branch_path = {b["id"]: tenant_path[b["tenant_id"]] for b in data.branches}
    seen: dict[str, list[Row]] = {}
    enrolments: list[Row] = []
    completions = 0
    for member in data.members:
        if rng.random() >= ENROLLING_SHARE:
            continue
        path = branch_path[member["branch_id"]]
        if path not in seen:
            seen[path] = [r for p in [*ancestors(path), path] for r in by_path.get(p, [])]
        choices = seen[path]
        for row in rng.sample(choices, min(len(choices), rng.randint(1, 5))):
            if row["section"] == "CLASS":
                if row["enrolled"] >= row["capacity"] or row["starts_on"] > as_of:
                    continue
                row["enrolled"] += 1
            start = max(row["published_at"].date(), as_of - timedelta(days=540))
            span = max((as_of - start).days, 1)
            enrolled_on = start + timedelta(days=rng.randrange(span))
            done = rng.random() < COMPLETED_SHARE
            if done and completions % 10 == 0 and start <= as_of - timedelta(days=420):
                # Every tenth completion, of an item old enough, lies more than a year back
                # (finished 370-420 days ago): the learning hours leave it out.
                enrolled_on = as_of - timedelta(days=rng.randint(410, 420))
            enrolled_at = _at(enrolled_on, rng)
            finished = enrolled_at + timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 12))
            if done and finished.date() >= as_of:
                done = False
            completions += done
            enrolments.append(
                {
                    "id": len(enrolments) + 1,
                    "item_id": row["id"],
                    "member_id": member["id"],
                    "progress": 100 if done else rng.choice((0, 10, 25, 40, 60, 80, 95)),
                    "enrolled_at": enrolled_at,
                    "updated_at": finished if done else enrolled_at,
                    "completed_at": finished if done else None,
                    "credit_hours": row["credit_hours"] if done else None,
                }
            )
    return [
        (LearningItem.__table__, items),  # type: ignore[list-item]
        (LearningClassItem.__table__, class_items),  # type: ignore[list-item]
        (LearningEnrolment.__table__, enrolments),  # type: ignore[list-item]
    ]
