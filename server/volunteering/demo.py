"""The demo district's service centers: 178 party-mass service centers (党群服务中心) and 24
community service centers (社区便民服务中心), as in the reference district.

Rule (deterministic from `seed`): per district, every town has a party-mass center, and the
rest of the party-mass centers go to villages drawn at random; the community centers go to
residential communities (villages named 社区) drawn at random, then to other villages if there
are too few communities. The reference district has 243 town and village points; a district of
another size gets the two totals scaled by its points (`small`: 8 points, 6 + 1 centers), so the
district scale is exact: 178 + 24.

Wishes and services, so that the lists and counts show something from the start (about 1.5
wishes and 0.3 services per center): wishes in every state, posted over the last four months.
A claimer is a member of a branch in the center's subtree (who can see the wish); a completed
wish is linked to one of the claimer's branch's own demo VOLUNTEER_SERVICE activities (each
activity serves one wish at most) and completed when it took place: the link the application
makes when a member completes a wish. Wishes still OPEN have no passed deadline. Services are
upcoming, OPEN, with a few sign-ups of members who can see them.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table

from server.volunteering.models import (
    CenterKind,
    MicroWish,
    ServiceCenter,
    VolunteerService,
    VolunteerSignup,
)
from tenants.demo import GIVEN, SURNAMES, DemoData

DISTRICT_TZ = ZoneInfo("Asia/Shanghai")  # where the demo's office hours are
SEED_OFFSET = 9103  # this module's own stream: other hooks' draws do not shift it
REFERENCE_POINTS = 243
PARTY_MASS = 178
COMMUNITY = 24
STREETS = ("人民路", "解放路", "东山路", "市府大道", "中山路", "建设路", "青年路", "海门路")

Row = dict[str, Any]


def _totals(points: int) -> tuple[int, int]:
    if points == REFERENCE_POINTS:
        return PARTY_MASS, COMMUNITY
    return (
        max(1, round(PARTY_MASS * points / REFERENCE_POINTS)),
        max(1, round(COMMUNITY * points / REFERENCE_POINTS)),
    )


def center_rows(data: DemoData, *, seed: int, as_of: date) -> list[Row]:
    rng = random.Random(seed * 100_003 + SEED_OFFSET)
    rows: list[Row] = []
    by_id = {t["id"]: t for t in data.tenants}

    def add(tenant: Row, kind: CenterKind) -> None:
        name = tenant["name"]
        if kind is CenterKind.PARTY_MASS:
            label = f"{name}党群服务中心"
        else:
            label = f"{name}便民服务中心" if name.endswith("社区") else f"{name}社区便民服务中心"
        town = by_id.get(tenant["parent_id"]) if tenant["level"] == "VILLAGE" else None
        where = (town["name"] if town else "") + name
        opened = as_of - timedelta(days=rng.randint(200, 3000))
        rows.append(
            {
                "id": len(rows) + 1,
                "tenant_id": tenant["id"],
                "kind": kind.value,
                "name": label,
                "address": f"{where}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                "phone": f"0576-8{rng.randint(0, 9_999_999):07d}",
                "created_at": datetime.combine(opened, time(9), tzinfo=UTC),
            }
        )

    districts = [t for t in data.tenants if t["level"] == "DISTRICT"]
    for district in districts:
        towns = [t for t in data.tenants if t["parent_id"] == district["id"]]
        town_ids = {t["id"] for t in towns}
        villages = [t for t in data.tenants if t["parent_id"] in town_ids]
        party_mass, community = _totals(len(towns) + len(villages))
        chosen = towns[:party_mass] + rng.sample(villages, max(0, party_mass - len(towns)))
        for tenant in sorted(chosen, key=lambda t: t["id"]):
            add(tenant, CenterKind.PARTY_MASS)
        communities = [v for v in villages if v["name"].endswith("社区")]
        others = [v for v in villages if not v["name"].endswith("社区")]
        picked = rng.sample(communities, min(community, len(communities)))
        picked += rng.sample(others, community - len(picked))
        for tenant in sorted(picked, key=lambda t: t["id"]):
            add(tenant, CenterKind.COMMUNITY)
    return rows


# (category, title, description) of the demo wishes.
WISHES = (
    ("DAILY_NEEDS", "代购米面油", "独居老人行动不便，希望每月有人代购米面油。"),
    ("HEALTH", "陪同就医复查", "腿脚不便，需要有人陪同去医院复查。"),
    ("HEALTH", "代购降压药", "慢性病长期服药，希望帮忙到药店代购。"),
    ("EDUCATION", "一套课外读物", "孩子读小学四年级，想要一套课外读物。"),
    ("EDUCATION", "一个新书包", "困难家庭学生，书包已经破旧。"),
    ("ELDERLY_CARE", "上门理发", "高龄老人希望有人上门理发。"),
    ("CHILDREN", "辅导暑期作业", "留守儿童希望有人辅导暑期作业。"),
    ("HOUSEHOLD", "修理漏水水管", "厨房水管漏水，家中无人会修。"),
    ("HOUSEHOLD", "更换老化电线", "老房子电线老化，存在安全隐患。"),
    ("CULTURE", "一台收音机", "老人喜欢听戏，希望有一台收音机。"),
)
SERVICES = (
    ("ENVIRONMENT", "海滩清洁志愿服务", "海滨浴场"),
    ("ELDERLY_CARE", "敬老院慰问演出", "区社会福利院"),
    ("HEALTH", "义诊进社区", "社区广场"),
    ("ENVIRONMENT", "垃圾分类宣传", "农贸市场门口"),
    ("CULTURE", "红色故事宣讲", "党群服务中心报告厅"),
)
# State of a demo wish and its weight.
STATES = (
    ("OPEN", 35),
    ("CLAIMED", 20),
    ("COMPLETED", 15),
    ("RATED", 25),
    ("WITHDRAWN", 3),
    ("CANCELLED", 2),
)
COMMENTS = ("非常感谢党员同志！", "服务很周到。", "解决了大问题，谢谢。", "态度很好，很及时。")


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _at(day: date, rng: random.Random) -> datetime:
    """A moment in the district's office hours (8:00-17:45 Asia/Shanghai), stored in UTC."""
    local = time(rng.randint(8, 17), rng.choice((0, 15, 30, 45)))
    return datetime.combine(day, local, tzinfo=DISTRICT_TZ).astimezone(UTC)


def _wish(rng: random.Random, wish_id: int, center: Row, as_of: date) -> Row:
    category, title, description = rng.choice(WISHES)
    state = rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES])[0]
    return {
        "id": wish_id,
        "center_id": center["id"],
        "requester_name": _name(rng),
        "requester_phone": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
        "title": title,
        "description": description,
        "category": category,
        "deadline": None,
        "state": state,
        "posted_by": "demo",
        "posted_at": _at(as_of - timedelta(days=rng.randint(3, 120)), rng),
        "claimer_id": None,
        "claimed_at": None,
        "completed_at": None,
        "completion_note": None,
        "activity_id": None,
        "rating": None,
        "rating_comment": None,
        "rated_at": None,
        "closed_at": None,
        "close_reason": None,
    }


def wish_and_service_rows(
    data: DemoData, centers: list[Row], *, seed: int, as_of: date
) -> tuple[list[Row], list[Row], list[Row]]:
    """(wishes, services, sign-ups) at the given centers."""
    rng = random.Random(seed * 100_003 + SEED_OFFSET + 1)
    paths = {t["id"]: t["path"] for t in data.tenants}
    branch_path = {b["id"]: paths[b["tenant_id"]] for b in data.branches}
    members_of: dict[int, list[int]] = {}
    for m in data.members:
        members_of.setdefault(m["branch_id"], []).append(m["id"])
    # The demo's own volunteer-service activities, by branch; each serves one wish at most.
    volunteering: dict[int, list[Row]] = {}
    for a in data.activities:
        if a["kind"] == "VOLUNTEER_SERVICE":
            volunteering.setdefault(a["branch_id"], []).append(a)
    used: set[int] = set()
    wishes: list[Row] = []
    services: list[Row] = []
    signups: list[Row] = []
    now = datetime.combine(as_of, time(8), tzinfo=UTC)
    # Demo completions lie before the seed's day (its activities run up to 20:00 of it).
    midnight = datetime.combine(as_of, time(0), tzinfo=UTC)
    for center in centers:
        path = paths[center["tenant_id"]]
        branches = sorted(
            b for b, p in branch_path.items() if p.startswith(path) and b in members_of
        )
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            row = _wish(rng, len(wishes) + 1, center, as_of)
            posted = row["posted_at"]
            if row["state"] in ("COMPLETED", "RATED"):
                done = [
                    (b, a)
                    for b in branches
                    for a in volunteering.get(b, ())
                    if a["id"] not in used
                    and posted + timedelta(days=1) < a["occurred_at"] < midnight
                ]
                if done:
                    branch, activity = rng.choice(done)
                    used.add(activity["id"])
                    row |= {
                        "claimer_id": rng.choice(members_of[branch]),
                        "claimed_at": posted + (activity["occurred_at"] - posted) / 2,
                        "completed_at": activity["occurred_at"],
                        "completion_note": "已完成，群众表示满意。",
                        "activity_id": activity["id"],
                    }
                    if row["state"] == "RATED":
                        row |= {
                            "rating": rng.choice((4, 5, 5, 5)),
                            "rating_comment": rng.choice(COMMENTS),
                            "rated_at": min(now, activity["occurred_at"] + timedelta(days=1)),
                        }
                else:  # no volunteer activity of the subtree to show for it: still open
                    row["state"] = "OPEN"
            if row["state"] == "CLAIMED":
                if branches:
                    row["claimer_id"] = rng.choice(members_of[rng.choice(branches)])
                    row["claimed_at"] = posted + timedelta(hours=rng.randint(2, 48))
                else:
                    row["state"] = "OPEN"
            if row["state"] in ("WITHDRAWN", "CANCELLED"):
                row["closed_at"] = posted + timedelta(days=rng.randint(1, 3))
                row["close_reason"] = (
                    "家属已帮忙解决" if row["state"] == "WITHDRAWN" else "重复发布"
                )
            if row["state"] in ("OPEN", "CLAIMED") and rng.random() < 0.5:
                row["deadline"] = as_of + timedelta(days=rng.randint(7, 60))
            wishes.append(row)
        if rng.random() < 0.3:
            category, title, place = rng.choice(SERVICES)
            starts = _at(as_of + timedelta(days=rng.randint(3, 40)), rng)
            capacity = rng.choice((10, 15, 20, 30))
            people = sorted({m for b in branches for m in members_of[b]})
            takers = sorted(rng.sample(people, min(len(people), rng.randint(0, capacity // 2))))
            service_id = len(services) + 1
            services.append(
                {
                    "id": service_id,
                    "center_id": center["id"],
                    "title": title,
                    "description": f"{center['name']}组织{title}，欢迎党员报名参加。",
                    "category": category,
                    "place": place,
                    "starts_at": starts,
                    "ends_at": starts + timedelta(hours=rng.choice((2, 3, 4))),
                    "capacity": capacity,
                    "signed_up": len(takers),
                    "state": "OPEN",
                    "initiated_by": "demo",
                    "initiated_at": now - timedelta(days=rng.randint(1, 10)),
                    "completed_at": None,
                    "completion_note": None,
                    "rated_at": None,
                    "closed_at": None,
                    "close_reason": None,
                }
            )
            signups += [
                {
                    "id": len(signups) + i + 1,
                    "service_id": service_id,
                    "member_id": member_id,
                    "signed_up_at": now - timedelta(hours=rng.randint(1, 200)),
                    "attended": None,
                    "activity_id": None,
                    "rating": None,
                    "rating_comment": None,
                }
                for i, member_id in enumerate(takers)
            ]
    return wishes, services, signups


def volunteering_rows(data: DemoData, *, seed: int, as_of: date) -> list[tuple[Table, list[Row]]]:
    """The seed's tables of this module, in insert order."""
    centers = center_rows(data, seed=seed, as_of=as_of)
    wishes, services, signups = wish_and_service_rows(data, centers, seed=seed, as_of=as_of)
    return [
        (ServiceCenter.__table__, centers),  # type: ignore[list-item]
        (MicroWish.__table__, wishes),  # type: ignore[list-item]
        (VolunteerService.__table__, services),  # type: ignore[list-item]
        (VolunteerSignup.__table__, signups),  # type: ignore[list-item]
    ]
