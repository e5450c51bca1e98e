"""Deterministic demo data: the reference district (Jiaojiang's scale), ten of them, or a small one.

Everything is drawn from one `random.Random(seed)` and a reference date `as_of`, so the same
seed and date give the same rows, ids included. The rows are plain dicts for bulk inserts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class ScaleSpec:
    districts: int
    towns_per_district: int
    villages_per_district: int
    branches_per_district: int
    members_per_district: int
    activities_per_branch: int


SCALES: dict[str, ScaleSpec] = {
    "small": ScaleSpec(1, 2, 6, 24, 240, 5),
    "district": ScaleSpec(1, 10, 233, 1600, 30000, 20),
    "city": ScaleSpec(10, 10, 233, 1600, 30000, 20),
}

# Taizhou's ten county-level divisions; the first is the reference district.
DISTRICTS = [
    ("椒江区", "331002"),
    ("黄岩区", "331003"),
    ("路桥区", "331004"),
    ("临海市", "331082"),
    ("温岭市", "331081"),
    ("玉环市", "331083"),
    ("天台县", "331023"),
    ("仙居县", "331024"),
    ("三门县", "331022"),
    ("台州湾新区", "331001"),
]
TOWNS = [
    "海门街道",
    "白云街道",
    "葭沚街道",
    "洪家街道",
    "下陈街道",
    "前所街道",
    "章安街道",
    "三甲街道",
    "大陈镇",
    "海虹街道",
]
PLACE_FIRST = "东西南北前后上下新大小高山水海岩洋桥塘湾岙港江沙石林竹梅桃杨柳清白红金"
PLACE_SECOND = "山岙头洋浦塘桥湾岭溪坑村园埠港门岸垟洲沙田庄圩殿"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余"
    "于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建国志文斌辉海燕晓宇鹏"
    "浩婷雪琳晨阳俊丹凯鑫欣亮佳慧思颖宏伟林峰春梅立新海波少华永胜德军益民"
)
BUREAUS = [
    "组织部",
    "宣传部",
    "统战部",
    "政法委",
    "发改局",
    "教育局",
    "科技局",
    "民政局",
    "司法局",
    "财政局",
    "人社局",
    "资规分局",
    "住建局",
    "交通局",
    "农业农村局",
    "商务局",
    "文广旅体局",
    "卫健局",
    "应急管理局",
    "市场监管局",
    "审计局",
    "统计局",
    "医保分局",
    "信访局",
]
INDUSTRIES = ["机电", "模具", "医化", "缝制设备", "汽摩配", "塑料", "水产", "物流", "电子", "建材"]
BUILDINGS = ["商务中心", "金融大厦", "中央广场", "科技园", "国际大厦", "时代广场"]
ACTIVITY_KINDS = [
    ("BRANCH_MEETING", "支部党员大会", 3),
    ("COMMITTEE_MEETING", "支委会", 3),
    ("GROUP_MEETING", "党小组会", 3),
    ("PARTY_LECTURE", "党课", 2),
    ("THEME_DAY", "主题党日", 4),
    ("VOLUNTEER_SERVICE", "志愿服务", 2),
    ("STUDY_SESSION", "集中学习", 2),
]
TOPICS = [
    "学习贯彻党的二十大精神",
    "党章党规学习",
    "红色根脉教育",
    "共同富裕实践",
    "基层治理大家谈",
    "安全生产专题",
    "乡村振兴调研",
    "党史学习",
    "廉政教育",
    "为民办实事",
]
EDUCATION = [
    ("PRIMARY", 5),
    ("JUNIOR_HIGH", 15),
    ("SENIOR_HIGH", 18),
    ("VOCATIONAL", 10),
    ("COLLEGE", 20),
    ("BACHELOR", 25),
    ("MASTER", 6),
    ("DOCTORATE", 1),
]
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(region: str, birth: date, nth: int, female: bool) -> str:
    """A resident ID number with a valid GB 11643 check digit (fake people, real format).

    `nth` counts the people of this region, birth date and sex before this one: the order code
    is odd for men and even for women, so the nth of each is unique (up to 499 of them)."""
    if not 0 <= nth < 499:
        raise ValueError("at most 499 people of one sex share a region and birth date")
    order = 2 * nth + (2 if female else 1)
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return body + check


@dataclass
class DemoData:
    tenants: list[Row] = field(default_factory=list)
    branches: list[Row] = field(default_factory=list)
    members: list[Row] = field(default_factory=list)
    activities: list[Row] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "tenants": len(self.tenants),
            "branches": len(self.branches),
            "members": len(self.members),
            "activities": len(self.activities),
        }


def _split(
    total: int,
    parts: int,
    rng: random.Random,
    spread: float = 0.3,
    *,
    skewed: bool = False,
    floor: int = 1,
) -> list[int]:
    """`total` split into `parts` positive shares that sum exactly. Shares vary by about
    ±spread, or, `skewed`, log-normally: a few large branches, many small ones, as in life."""
    if skewed:
        weights = [rng.lognormvariate(0, spread) for _ in range(parts)]
    else:
        weights = [1 + rng.uniform(-spread, spread) for _ in range(parts)]
    scale = total / sum(weights)
    shares = [max(floor, int(w * scale)) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % parts] += 1
    while sum(shares) > total:  # the floor can overshoot: trim the largest
        shares[shares.index(max(shares))] -= 1
    return shares


def _weighted(rng: random.Random, items: list[tuple[str, int]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _place_names(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    names: list[str] = []
    while len(names) < count:
        stem = rng.choice(PLACE_FIRST) + rng.choice(PLACE_SECOND)
        if stem not in seen:
            seen.add(stem)
            names.append(stem)
    return names


class _Builder:
    def __init__(self, spec: ScaleSpec, seed: int, as_of: date) -> None:
        self.spec, self.as_of = spec, as_of
        self.rng = random.Random(seed)
        self.data = DemoData()
        self._births: dict[tuple[str, date, bool], int] = {}

    def build(self) -> DemoData:
        for d in range(self.spec.districts):
            self._district(d)
        return self.data

    def _tenant(self, parent: Row | None, level: str, segment: str, name: str) -> Row:
        row = {
            "id": len(self.data.tenants) + 1,
            "parent_id": parent["id"] if parent else None,
            "level": level,
            "code": (parent["code"] if parent else "") + segment,
            "name": name,
            "path": (parent["path"] if parent else "/") + segment + "/",
        }
        self.data.tenants.append(row)
        return row

    def _district(self, index: int) -> None:
        rng, spec = self.rng, self.spec
        name, region = DISTRICTS[index % len(DISTRICTS)]
        district = self._tenant(None, "DISTRICT", f"d{index + 1:02d}", name)
        towns = [
            self._tenant(district, "TOWN", f"t{t + 1:02d}", TOWNS[t % len(TOWNS)])
            for t in range(spec.towns_per_district)
        ]
        villages: list[Row] = []
        number = 0
        for town, count in zip(
            towns, _split(spec.villages_per_district, len(towns), rng), strict=True
        ):
            for stem in _place_names(rng, count):
                number += 1
                kind = "社区" if rng.random() < 0.3 else "村"
                villages.append(self._tenant(town, "VILLAGE", f"v{number:03d}", stem + kind))

        # Most branches sit in villages and communities; agencies at the district and the towns;
        # enterprises and office buildings in the towns.
        n = spec.branches_per_district
        at_district = max(1, n // 40)
        at_towns = max(len(towns), n // 5)
        at_villages = n - at_district - at_towns
        slots: list[tuple[Row, str, str]] = []
        for i in range(at_district):
            bureau = BUREAUS[i % len(BUREAUS)]
            suffix = "机关党支部" if i < len(BUREAUS) else f"第{i // len(BUREAUS) + 1}党支部"
            slots.append((district, "AGENCY", f"{name}{bureau}{suffix}"))
        for i in range(at_towns):
            town = towns[i % len(towns)]
            kind = rng.choices(["AGENCY", "NON_PUBLIC", "BUILDING"], weights=[3, 5, 2])[0]
            nth = i // len(towns) + 1
            label = {
                "AGENCY": f"{town['name']}机关第{nth}党支部",
                "NON_PUBLIC": f"台州{rng.choice(PLACE_FIRST)}{rng.choice(PLACE_SECOND)}"
                f"{rng.choice(INDUSTRIES)}有限公司党支部",
                "BUILDING": f"{town['name']}{rng.choice(BUILDINGS)}楼宇联合党支部",
            }[kind]
            slots.append((town, kind, label))
        for village, count in zip(
            villages, _split(at_villages, len(villages), rng, 0.6), strict=True
        ):
            community = village["name"].endswith("社区")
            for k in range(count):
                kind = "RED_PROPERTY" if community and k > 0 else "RURAL"
                label = f"{village['name']}{'红色物业' if kind == 'RED_PROPERTY' else ''}" + (
                    "党支部" if k == 0 else f"第{k + 1}党支部"
                )
                slots.append((village, kind, label))

        # A branch needs at least three members (Party Constitution, art. 30).
        members_each = _split(
            spec.members_per_district, len(slots), rng, 0.75, skewed=True, floor=3
        )
        for (tenant, category, label), headcount in zip(slots, members_each, strict=True):
            self._branch(tenant, category, label, headcount, region)

    def _branch(self, tenant: Row, category: str, name: str, headcount: int, region: str) -> None:
        rng = self.rng
        branch = {
            "id": len(self.data.branches) + 1,
            "tenant_id": tenant["id"],
            "name": name,
            "category": category,
            "established_on": self.as_of - timedelta(days=rng.randint(365, 365 * 40)),
            "secretary": _person_name(rng),
        }
        self.data.branches.append(branch)
        for _ in range(headcount):
            self._member(branch["id"], region)
        self._activities(branch["id"], headcount)

    def _born_alike(self, region: str, birth: date, female: bool) -> int:
        """How many people of this region, birth date and sex were generated before."""
        key = (region, birth, female)
        nth = self._births.get(key, 0)
        self._births[key] = nth + 1
        return nth

    def _member(self, branch_id: int, region: str) -> None:
        rng, as_of = self.rng, self.as_of
        member_id = len(self.data.members) + 1
        female = rng.random() < 0.32
        birth = as_of - timedelta(days=rng.randint(20 * 365, 85 * 365))
        earliest = birth + timedelta(days=18 * 365 + 5)
        joined = earliest + timedelta(days=rng.randint(0, max(0, (as_of - earliest).days - 1)))
        self.data.members.append(
            {
                "id": member_id,
                "branch_id": branch_id,
                "name": _person_name(rng),
                "gender": "FEMALE" if female else "MALE",
                "birth_date": birth,
                "joined_on": joined,
                "phone": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
                "id_number": id_number(
                    region, birth, self._born_alike(region, birth, female), female
                ),
                "status": "PROBATIONARY" if (as_of - joined).days < 365 else "FULL",
                "education": _weighted(rng, EDUCATION),
            }
        )

    def _activities(self, branch_id: int, headcount: int) -> None:
        rng = self.rng
        kinds = [(k, w) for k, _, w in ACTIVITY_KINDS]
        labels = {k: label for k, label, _ in ACTIVITY_KINDS}
        count = max(1, round(self.spec.activities_per_branch * rng.uniform(0.6, 1.4)))
        for _ in range(count):
            day = self.as_of - timedelta(days=rng.randint(0, 364))
            at = datetime.combine(day, time(rng.randint(8, 20), rng.choice((0, 30))), tzinfo=UTC)
            kind = _weighted(rng, kinds)
            self.data.activities.append(
                {
                    "id": len(self.data.activities) + 1,
                    "branch_id": branch_id,
                    "kind": kind,
                    "title": f"{day.month}月{labels[kind]}：{rng.choice(TOPICS)}",
                    "occurred_at": at,
                    "attendance": rng.randint(max(1, headcount // 2), max(1, headcount)),
                }
            )


def generate(scale: str, *, seed: int = 1, as_of: date | None = None) -> DemoData:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    return _Builder(SCALES[scale], seed, as_of or date.today()).build()


def demo_accounts(
    data: DemoData, *, seed: int = 1, members: int = 20
) -> Iterator[tuple[str, int | None]]:
    """(username, member id) of the demo accounts: the district and every town and village
    (`admin`, `admin.<code>`), and `m.<member id>` for a few members."""
    for tenant in data.tenants:
        yield (
            (
                "admin"
                if tenant["level"] == "DISTRICT" and tenant["id"] == 1
                else f"admin.{tenant['code']}"
            ),
            None,
        )
    rng = random.Random(seed)
    for member in sorted(
        rng.sample(data.members, min(members, len(data.members))), key=lambda m: m["id"]
    ):
        yield f"m.{member['id']}", member["id"]


_ADMIN_OF_LEVEL = {"DISTRICT": "SUPER_ADMIN", "TOWN": "SENIOR_ADMIN", "VILLAGE": "JUNIOR_ADMIN"}


def demo_bindings(data: DemoData, *, seed: int = 1) -> Iterator[tuple[str, str, str]]:
    """(username, role, tenant path) for each demo account: admins at their tenant, members
    at their branch's tenant."""
    paths = {t["id"]: t["path"] for t in data.tenants}
    levels = {t["id"]: t["level"] for t in data.tenants}
    codes = {t["code"]: t["id"] for t in data.tenants}
    branch_tenant = {b["id"]: b["tenant_id"] for b in data.branches}
    member_branch = {m["id"]: m["branch_id"] for m in data.members}
    for username, member_id in demo_accounts(data, seed=seed):
        if member_id is not None:
            yield username, "MEMBER", paths[branch_tenant[member_branch[member_id]]]
        else:
            tenant = 1 if username == "admin" else codes[username.removeprefix("admin.")]
            yield username, _ADMIN_OF_LEVEL[levels[tenant]], paths[tenant]
