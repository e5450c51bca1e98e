"""The demo district's venues: party-history education sites and meeting rooms.

- The district: four party-history education sites (open Tuesday to Sunday, 09:00-17:00,
  closed Mondays, as museums are) and two meeting rooms.
- Each town or street: a red education site and two meeting rooms of its party-mass service
  center.
- Every tenth village or community: the meeting room of its service center.
- Meeting rooms open Monday to Friday 08:30-17:30 and Saturday morning 09:00-12:00.

At district scale (10 towns, ~230 villages) that is about 60 venues; no bookings are seeded:
the time is free for whoever books first.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from server.venues.models import Venue, VenueKind
from tenants.demo import DemoData

SEED_OFFSET = 7013  # this module's own random stream
VILLAGE_EVERY = 10
SITE_HOURS = {str(d): ["09:00", "17:00"] for d in range(2, 8)}
ROOM_HOURS = {str(d): ["08:30", "17:30"] for d in range(1, 6)} | {"6": ["09:00", "12:00"]}
DISTRICT_SITES = ("党史教育馆", "革命烈士纪念馆", "一江山岛战役纪念馆", "红色家风馆")
STREETS = ("人民路", "解放路", "中山路", "东海大道", "江滨路", "市府大道", "建设路", "工人路")

Row = dict[str, Any]


def venue_rows(data: DemoData, *, seed: int) -> list[tuple[Table, list[Row]]]:
    rng = random.Random(seed + SEED_OFFSET)
    now = datetime.now(UTC)
    rows: list[Row] = []

    def add(tenant: Row, kind: VenueKind, name: str, capacity: int) -> None:
        hours = SITE_HOURS if kind is VenueKind.PARTY_HISTORY_SITE else ROOM_HOURS
        rows.append(
            {
                "id": len(rows) + 1,
                "tenant_id": tenant["id"],
                "kind": kind.value,
                "name": name,
                "address": f"{tenant['name']}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                "capacity": capacity,
                "opening_hours": json.dumps(hours, separators=(",", ":")),
                "closed_dates": "[]",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        )

    villages = 0
    for tenant in data.tenants:
        level, name = tenant["level"], tenant["name"]
        if level == "DISTRICT":
            for site in DISTRICT_SITES:
                add(
                    tenant,
                    VenueKind.PARTY_HISTORY_SITE,
                    f"{name}{site}",
                    rng.randrange(80, 301, 10),
                )
            for n in ("一", "二"):
                add(tenant, VenueKind.MEETING_ROOM, f"{name}党群服务中心第{n}会议室", 60)
        elif level == "TOWN":
            add(
                tenant,
                VenueKind.PARTY_HISTORY_SITE,
                f"{name}红色教育基地",
                rng.randrange(50, 151, 10),
            )
            for n in ("一", "二"):
                add(
                    tenant,
                    VenueKind.MEETING_ROOM,
                    f"{name}党群服务中心第{n}会议室",
                    rng.randrange(20, 81, 10),
                )
        else:
            if villages % VILLAGE_EVERY == 0:
                add(
                    tenant,
                    VenueKind.MEETING_ROOM,
                    f"{name}党群服务中心会议室",
                    rng.randrange(20, 51, 5),
                )
            villages += 1
    return [(Venue.__table__, rows)]  # type: ignore[list-item]
