"""The demo district's cadre archive: the catalogue, ~1,190 cadres (scaled by the district's
size) and about 31,000 reviewed records over the three years before the data's reference date.

Deterministic for a seed; built in plain lists (no per-row queries, no per-row objects beyond
the dicts the bulk insert takes), so the district's share of the seed stays a fraction of a
second.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table

from server.archives import catalogue
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    Cadre,
    Polarity,
    RecordContext,
    RecordSource,
    ReviewStatus,
)
from tenants.demo import DemoData, demo_accounts

Row = dict[str, Any]
SALT = 7_190  # this module's stream of the seed: random.Random(seed + SALT)

# The reference district (30,000 members) has 1,190 cadres; other sizes in proportion.
CADRES_PER_MEMBER = 1190 / 30000
MIN_CADRES = 40
# Records per cadre, from the reference district's ~20,000 at work, ~11,000 outside work.
PER_CADRE = {
    RecordContext.AT_WORK: 20000 / 1190,
    RecordContext.OUTSIDE_WORK: 11000 / 1190,
    RecordContext.KEY_MOMENT: 400 / 1190,
}
# Positive share, and serious negatives expected in the reference district, per context.
POSITIVE_SHARE = {
    RecordContext.AT_WORK: 0.80,
    RecordContext.OUTSIDE_WORK: 0.72,
    RecordContext.KEY_MOMENT: 0.92,
}
SERIOUS_EXPECTED = {
    RecordContext.AT_WORK: 14,
    RecordContext.OUTSIDE_WORK: 8,
    RecordContext.KEY_MOMENT: 3,
}
YEARS = 3
PENDING_WITHIN_DAYS = 60  # what is still under review was entered lately
# Member accounts of the demo (`m.<id>`) made cadres: every other one, so that the seeded
# database has cadres who can sign in to read their own file, and members who are not cadres.
ACCOUNT_CADRE_STRIDE = 2

SOURCES = list(RecordSource)
SOURCE_WEIGHTS = {
    RecordContext.AT_WORK: [2, 2, 4, 1],
    RecordContext.OUTSIDE_WORK: [1, 1, 3, 5],
    RecordContext.KEY_MOMENT: [1, 1, 5, 2],
}
SOURCE_PHRASES = {
    RecordSource.DEMOCRATIC_EVALUATION: "民主测评中",
    RecordSource.ASSESSMENT_TALK: "考察谈话中",
    RecordSource.DAILY_SUPERVISION: "日常监督中",
    RecordSource.COMMUNITY_REPORT: "群众来信来访中",
}
TAILS = {
    Polarity.POSITIVE: [
        "有关情况经核实属实。",
        "所在单位出具了书面证明。",
        "群众评价较好。",
        "相关材料已归档。",
    ],
    Polarity.NEGATIVE: [
        "经核查，情况基本属实。",
        "本人已作出书面说明。",
        "已进行提醒谈话。",
        "已责令限期整改。",
    ],
}
REJECT_NOTES = [
    "证据不充分，退回补充材料。",
    "经核实与事实不符。",
    "与已有记录重复。",
    "指标选择不当，请重新录入。",
]
RESPONSES = [
    "本人对此已深刻反思，并已整改到位。",
    "情况说明：当时系特殊原因所致，事后已向组织报告。",
    "接受组织意见，今后严格要求自己。",
]
FILES = [
    ("情况说明", "pdf", "application/pdf"),
    ("核查报告", "pdf", "application/pdf"),
    ("现场照片", "jpg", "image/jpeg"),
    ("证明材料", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("会议记录", "pdf", "application/pdf"),
]
# (position, rank, weight) by the level of the tenant the cadre serves at.
POSTS = {
    "VILLAGE": [
        ("党组织书记", "副科", 2),
        ("村（居）委会主任", "科员", 2),
        ("监督委员会主任", "科员", 1),
        ("党组织委员", "科员", 4),
        ("专职工作者", "科员", 3),
    ],
    "TOWN": [
        ("党（工）委书记", "副处", 1),
        ("镇长（主任）", "正科", 1),
        ("党（工）委副书记", "正科", 2),
        ("党（工）委委员", "副科", 4),
        ("办公室主任", "副科", 6),
        ("站所负责人", "副科", 6),
        ("一级科员", "科员", 20),
    ],
}
TOWN_OFFICES = [
    "党政办公室",
    "党建工作办公室",
    "经济发展办公室",
    "社会事务办公室",
    "平安建设办公室",
    "农业农村办公室",
    "综合行政执法队",
    "便民服务中心",
]
CADRE_CATEGORIES = {"AGENCY", "RURAL", "RED_PROPERTY"}


def archive_rows(data: DemoData, *, seed: int) -> list[tuple[Table, list[Row]]]:
    """(table, rows) in insert order: tag categories, indicators, cadres, records."""
    rng = random.Random(seed + SALT)
    as_of = reference_date(data)
    cadres, authors = _cadres(data, rng, as_of, seed)
    records = _records(cadres, authors, rng, as_of)
    return [
        (ArchiveTagCategory.__table__, catalogue.category_rows()),  # type: ignore[list-item]
        (ArchiveIndicator.__table__, catalogue.indicator_rows()),  # type: ignore[list-item]
        (Cadre.__table__, cadres),  # type: ignore[list-item]
        (ArchiveRecord.__table__, records),  # type: ignore[list-item]
    ]


def reference_date(data: DemoData) -> date:
    """The day the demo data stands at: its latest activity (the generator's `as_of` or just
    before), or the latest joining date when there are no activities."""
    if data.activities:
        latest: datetime = max(a["occurred_at"] for a in data.activities)
        return latest.date()
    if data.members:
        return max(m["joined_on"] for m in data.members)
    return datetime.now(UTC).date()


def cadre_count(members: int) -> int:
    return max(MIN_CADRES, round(members * CADRES_PER_MEMBER))


def _admin(tenant: Row) -> str:
    # Demo usernames (tenants/demo.py demo_accounts): `admin` for the first district.
    return (
        "admin"
        if tenant["level"] == "DISTRICT" and tenant["id"] == 1
        else f"admin.{tenant['code']}"
    )


def _cadres(
    data: DemoData, rng: random.Random, as_of: date, seed: int
) -> tuple[list[Row], list[list[tuple[str, str]]]]:
    """The cadres, and for each the (author, reviewer) pairs who keep its file: an admin of
    its tenant or above, and a different admin one tier up."""
    tenants = {t["id"]: t for t in data.tenants}
    branches = {b["id"]: b for b in data.branches}
    youngest, oldest = as_of - timedelta(days=23 * 365), as_of - timedelta(days=60 * 365)

    # District agencies are left out: their files are kept by the district alone, and a
    # record needs two different admins above the cadre (joint review).
    def eligible(member: Row) -> bool:
        branch = branches[member["branch_id"]]
        return (
            branch["category"] in CADRE_CATEGORIES
            and tenants[branch["tenant_id"]]["level"] != "DISTRICT"
            and oldest <= member["birth_date"] <= youngest
        )

    pool = [m for m in data.members if eligible(m)]
    by_id = {m["id"]: m for m in pool}
    accounts = [mid for _, mid in demo_accounts(data, seed=seed) if mid is not None]
    forced = [by_id[mid] for mid in accounts[::ACCOUNT_CADRE_STRIDE] if mid in by_id]
    forced_ids = {m["id"] for m in forced}
    rest = [m for m in pool if m["id"] not in forced_ids]
    wanted = min(len(pool), cadre_count(len(data.members)))
    chosen = sorted(forced + rng.sample(rest, max(0, wanted - len(forced))), key=lambda m: m["id"])

    cadres: list[Row] = []
    keepers: list[list[tuple[str, str]]] = []
    posts = {
        level: ([p for p, _, _ in v], [r for _, r, _ in v], [w for *_, w in v])
        for level, v in POSTS.items()
    }
    for number, member in enumerate(chosen, start=1):
        tenant = tenants[branches[member["branch_id"]]["tenant_id"]]
        if tenant["level"] == "VILLAGE" and rng.random() < 0.3:
            tenant = tenants[tenant["parent_id"]]  # serves at its town's offices
        level = tenant["level"]
        names, ranks, weights = posts[level]
        k = rng.choices(range(len(names)), weights=weights)[0]
        if level == "VILLAGE":
            unit = tenant["name"] + (
                "居民委员会" if tenant["name"].endswith("社区") else "村民委员会"
            )
            town = tenants[tenant["parent_id"]]
            district = tenants[town["parent_id"]]
            pairs = [(_admin(tenant), _admin(town))] * 3 + [(_admin(town), _admin(district))]
        else:
            unit = tenant["name"] + rng.choice(TOWN_OFFICES)
            district = tenants[tenant["parent_id"]]
            pairs = [(_admin(tenant), _admin(district))]
        cadres.append(
            {
                "id": number,
                "member_id": member["id"],
                "tenant_id": tenant["id"],
                "position": names[k],
                "rank": ranks[k],
                "unit": unit,
                "created_at": datetime.combine(
                    as_of - timedelta(days=rng.randint(YEARS * 365, 10 * 365)),
                    time(9, 0),
                    tzinfo=UTC,
                ),
            }
        )
        keepers.append(pairs)
    return cadres, keepers


def _indicator_weights(
    indicators: Sequence[catalogue.Indicator], context: RecordContext, total: int, cadres: int
) -> list[float]:
    """Weights giving the context's positive share, and about the expected number of serious
    negatives (scaled by the number of cadres, at least one)."""
    positive = [x for x in indicators if x.polarity is Polarity.POSITIVE]
    serious = [x for x in indicators if x.serious]
    plain = [x for x in indicators if x.polarity is Polarity.NEGATIVE and not x.serious]
    pos_share = POSITIVE_SHARE[context]
    expected = max(1.0, SERIOUS_EXPECTED[context] * cadres / 1190)
    serious_share = min(expected / max(total, 1), (1 - pos_share) / 2) if serious else 0.0
    weights = []
    for x in indicators:
        if x.polarity is Polarity.POSITIVE:
            weights.append(pos_share / len(positive))
        elif x.serious:
            weights.append(serious_share / len(serious))
        else:
            weights.append((1 - pos_share - serious_share) / len(plain))
    return weights


def _attachments(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return "[]"
    files = []
    for n in range(rng.randint(1, 3)):
        stem, ext, content_type = rng.choice(FILES)
        files.append(
            {
                "name": f"{stem}{n + 1}.{ext}",
                "content_type": content_type,
                "size": rng.randint(20_000, 5_000_000),
                "sha256": f"{rng.getrandbits(256):064x}",
            }
        )
    return json.dumps(files, ensure_ascii=False)


def _records(
    cadres: list[Row], keepers: list[list[tuple[str, str]]], rng: random.Random, as_of: date
) -> list[Row]:
    if not cadres:
        return []
    n = len(cadres)
    # Some files are thicker than others.
    activity = [rng.lognormvariate(0, 0.5) for _ in range(n)]
    indicator_ids = {x.code: i for i, x in enumerate(catalogue.INDICATORS, start=1)}
    horizon = YEARS * 365 - 1
    end_of_day = datetime.combine(as_of, time(23, 0), tzinfo=UTC)
    statuses = [ReviewStatus.VERIFIED, ReviewStatus.PENDING, ReviewStatus.REJECTED]
    records: list[Row] = []
    for context, per_cadre in PER_CADRE.items():
        total = round(per_cadre * n)
        indicators = [x for x in catalogue.INDICATORS if x.context is context]
        weights = _indicator_weights(indicators, context, total, n)
        owners = rng.choices(range(n), weights=activity, k=total)
        picks = rng.choices(indicators, weights=weights, k=total)
        sources = rng.choices(SOURCES, weights=SOURCE_WEIGHTS[context], k=total)
        states = rng.choices(statuses, weights=[90, 6, 4], k=total)
        for owner, indicator, source, status in zip(owners, picks, sources, states, strict=True):
            back = rng.randint(
                0, PENDING_WITHIN_DAYS if status is ReviewStatus.PENDING else horizon
            )
            occurred = as_of - timedelta(days=back)
            entered = datetime.combine(
                occurred + timedelta(days=min(back, rng.randint(0, 10))),
                time(rng.randint(8, 17), rng.randint(0, 59)),
                tzinfo=UTC,
            )
            author, reviewer = rng.choice(keepers[owner])
            evidence = (
                f"{occurred.year}年{occurred.month}月，{SOURCE_PHRASES[source]}了解到该同志"
                f"{indicator.name}。{rng.choice(TAILS[indicator.polarity])}"
            )
            row: Row = {
                "cadre_id": owner + 1,
                "indicator_id": indicator_ids[indicator.code],
                "source": source.value,
                "occurred_on": occurred,
                "evidence": evidence,
                "attachments": _attachments(rng),
                "status": status.value,
                "author": author,
                "created_at": entered,
                "reviewer": None,
                "reviewed_at": None,
                "review_note": None,
                "response": None,
                "responded_at": None,
            }
            if status is not ReviewStatus.PENDING:
                reviewed = min(end_of_day, entered + timedelta(days=rng.randint(1, 14), hours=2))
                row["reviewer"], row["reviewed_at"] = reviewer, reviewed
                if status is ReviewStatus.REJECTED:
                    row["review_note"] = rng.choice(REJECT_NOTES)
                elif rng.random() < 0.3:
                    row["review_note"] = "经联审核实。"
                if (
                    status is ReviewStatus.VERIFIED
                    and indicator.polarity is Polarity.NEGATIVE
                    and rng.random() < 0.2
                ):
                    row["response"] = rng.choice(RESPONSES)
                    row["responded_at"] = min(
                        end_of_day, reviewed + timedelta(days=rng.randint(1, 10))
                    )
            records.append(row)
    # Ids in the order the records were entered.
    records.sort(key=lambda r: (r["created_at"], r["cadre_id"]))
    for number, row in enumerate(records, start=1):
        row["id"] = number
    return records
