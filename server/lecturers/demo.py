"""The demo district's red lecturers (红色讲师库): 100 per district (the reference district's
register), fewer in the small test district, with a few of their bookings.

A fifth sit at the district (they serve every town and village), the others at towns and
villages, spread evenly. The first three lecturers of each district are linked to demo member
accounts (`m.<id>`, from tenants/demo.py), so a lecturer can sign in and accept or decline;
the link is by username, so a seed without demo accounts simply has nobody signed in as them.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table

from server.lecturers.models import BookingStatus, Lecturer, LecturerBooking, LecturerSlotHold, Slot
from tenants.demo import GIVEN, SURNAMES, DemoData, demo_accounts

SEED_OFFSET = 7919  # this module's own stream: other hooks' draws do not shift it
PER_DISTRICT = 100
PER_SMALL_DISTRICT = 12  # a district of fewer than 1,000 members (the test scale)
LINKED = 3
TITLES = (
    "党校教授",
    "党校副教授",
    "宣讲团成员",
    "老党员",
    "退休干部",
    "党史研究员",
    "先进典型",
    "第一书记",
    "劳动模范",
    "高校讲师",
)
AFFILIATIONS = (
    "区委党校",
    "区委宣传部",
    "区委组织部",
    "台州学院",
    "区党史研究室",
    "区关工委",
    "镇街党校",
    "村居党组织",
    "区退役军人事务局",
    "区总工会",
)
TOPICS = (
    "党史",
    "新中国史",
    "改革开放史",
    "理论宣讲",
    "党章党规",
    "基层治理",
    "乡村振兴",
    "红色故事",
    "廉政教育",
    "共同富裕",
    "志愿服务",
    "海洋经济",
)
BOOKING_TOPICS = ("学习党的二十大精神", "红色故事我来讲", "党史中的椒江", "基层治理经验谈")


def lecturer_rows(
    data: DemoData, *, seed: int, as_of: date
) -> list[tuple[Table, list[dict[str, Any]]]]:
    """(table, rows) in insert order: lecturers, bookings, held slots."""
    rng = random.Random(seed + SEED_OFFSET)
    now = datetime.combine(as_of, datetime.min.time(), UTC)
    accounts = [u for u, m in demo_accounts(data, seed=seed) if m is not None]
    lecturers: list[dict[str, Any]] = []
    districts = [t for t in data.tenants if t["level"] == "DISTRICT"]
    for district in districts:
        below = [
            t
            for t in data.tenants
            if t["path"].startswith(district["path"]) and t["id"] != district["id"]
        ]
        members = len(data.members) // max(1, len(districts))
        count = PER_DISTRICT if members >= 1000 else PER_SMALL_DISTRICT
        for n in range(count):
            home = district if n < count // 5 or not below else below[n % len(below)]
            topics = rng.sample(TOPICS, rng.randint(1, 3))
            lecturers.append(
                {
                    "id": len(lecturers) + 1,
                    "tenant_id": home["id"],
                    "name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.randint(1, 2))),
                    "title": rng.choice(TITLES),
                    "affiliation": rng.choice(AFFILIATIONS),
                    "topics": json.dumps(topics, ensure_ascii=False),
                    "bio": f"长期从事{'、'.join(topics)}宣讲，"
                    f"深入基层开展党课{rng.randint(20, 300)}场。",
                    "account": None,
                    "active": rng.random() > 0.05 or n < LINKED,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    for lecturer, account in zip(lecturers[:LINKED], accounts, strict=False):
        lecturer["account"] = account
    bookings, holds = _bookings(data, lecturers, rng, as_of, now)
    return [
        (Lecturer.__table__, lecturers),  # type: ignore[list-item]
        (LecturerBooking.__table__, bookings),  # type: ignore[list-item]
        (LecturerSlotHold.__table__, holds),  # type: ignore[list-item]
    ]


def _bookings(
    data: DemoData,
    lecturers: list[dict[str, Any]],
    rng: random.Random,
    as_of: date,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A booking or two for some lecturers in the coming weeks, by the admins of their place."""
    paths = {t["id"]: t for t in data.tenants}
    bookings: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    for lecturer in lecturers[: len(lecturers) // 2]:
        tenant = paths[lecturer["tenant_id"]]
        day = as_of + timedelta(days=rng.randint(3, 40))
        slot = rng.choice(list(Slot))
        status = rng.choice((BookingStatus.REQUESTED, BookingStatus.ACCEPTED))
        booking_id = len(bookings) + 1
        bookings.append(
            {
                "id": booking_id,
                "lecturer_id": lecturer["id"],
                "tenant_id": tenant["id"],
                "branch_id": None,
                "topic": rng.choice(BOOKING_TOPICS),
                "day": day,
                "slot": slot,
                "status": status,
                "booked_by": "user:admin"
                if tenant["level"] == "DISTRICT"
                else f"user:admin.{tenant['code']}",
                "created_at": now,
                "note": None,
                "decided_by": None,
                "decided_at": None,
            }
        )
        holds.append(
            {
                "id": len(holds) + 1,
                "lecturer_id": lecturer["id"],
                "day": day,
                "slot": slot,
                "booking_id": booking_id,
            }
        )
    return bookings, holds
