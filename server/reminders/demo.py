"""The demo district's dues ledger and travel abroad, which the member reminders read.

What is stored, and why so little of the ledger: the reminders read only unpaid months past
their grace period, and a ledger of 12 months for 30,000 members (360,000 rows) would add
several seconds to the district seed (measured: 90,000 rows add 1.2 s on PostgreSQL). The seed
keeps the two complete months before `as_of` (about 60,000 rows at district scale, +0.4 s on
SQLite and +0.85 s on PostgreSQL): enough to show a member's recent payments, and to make the
first reminders pass find overdue dues (a month is overdue from the 16th day after its end, so
the older month is always past its grace period, the newer one from the 16th of `as_of`'s
month on). The reminders pass itself reads whatever the ledger holds; bench/reminders.py runs
it over the whole district.

- Dues: each member pays an amount set by an income band (the usual rule: 0.5% of a monthly
  income up to 3,000 yuan, 1% up to 5,000, 1.5% up to 10,000, 2% above; a flat 1 yuan for
  members without a fixed income), on a day within the month. About 2% of the members have
  left their latest month or two unpaid. Months before a member joined are not owed.
- Travel: declarations for about 1% of the members (mostly APPROVED; some PENDING, for trips
  still to come; some REJECTED), and travel records for most approved trips that are over,
  within the declared dates; plus a handful of trips recorded without an approved declaration
  covering them (no declaration at all, a trip after a rejected one, or a return past the
  declared date): what the `travel_undeclared` reminder finds.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table

from server.reminders.models import DuesEntry, TravelDeclaration, TravelRecord
from tenants.demo import DemoData

SEED_OFFSET = 6007  # this module's own stream: other hooks' draws do not shift it
DUES_MONTHS = 2
UNPAID_SHARE = 0.02
DECLARING_SHARE = 0.01
DESTINATIONS = (
    "日本",
    "韩国",
    "新加坡",
    "泰国",
    "马来西亚",
    "越南",
    "法国",
    "德国",
    "意大利",
    "澳大利亚",
    "新西兰",
    "美国",
    "加拿大",
    "阿联酋",
)
# Monthly income bands (yuan) and their weights; 0 stands for no fixed income.
INCOMES = ((0, 30), (2500, 10), (4000, 20), (7000, 25), (12000, 12), (18000, 3))

Row = dict[str, Any]


def dues_amount(income: int) -> float:
    """Monthly dues for a monthly income (yuan)."""
    if income <= 0:
        return 1.0
    rate = (
        0.005 if income <= 3000 else 0.01 if income <= 5000 else 0.015 if income <= 10000 else 0.02
    )
    return round(income * rate, 2)


def recent_months(as_of: date, count: int) -> list[tuple[date, date]]:
    """(first day, last day) of the `count` complete months before `as_of`'s, oldest first."""
    months: list[tuple[date, date]] = []
    end = as_of.replace(day=1) - timedelta(days=1)
    for _ in range(count):
        start = end.replace(day=1)
        months.append((start, end))
        end = start - timedelta(days=1)
    return months[::-1]


def _dues(members: list[Row], rng: random.Random, as_of: date) -> list[Row]:
    months = recent_months(as_of, DUES_MONTHS)
    labels = [f"{start.year:04d}-{start.month:02d}" for start, _ in months]
    incomes, weights = zip(*INCOMES, strict=True)
    rows: list[Row] = []
    next_id = 1
    for member in members:
        band = rng.choices(incomes, weights)[0]
        income = band + rng.randrange(0, max(1, band // 2), 100) if band else 0
        amount = dues_amount(income)
        unpaid = rng.randint(1, DUES_MONTHS) if rng.random() < UNPAID_SHARE else 0
        joined: date = member["joined_on"]
        for k, ((start, end), label) in enumerate(zip(months, labels, strict=True)):
            if joined > end:
                continue  # not yet a member that month
            paid = k < DUES_MONTHS - unpaid
            rows.append(
                {
                    "id": next_id,
                    "member_id": member["id"],
                    "month": label,
                    "amount": amount,
                    "paid_on": start + timedelta(days=rng.randint(0, end.day - 1))
                    if paid
                    else None,
                }
            )
            next_id += 1
    return rows


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _travel(data: DemoData, rng: random.Random, as_of: date) -> tuple[list[Row], list[Row]]:
    """Declarations and records, each in id order."""
    members = data.members
    declaring = max(6, round(len(members) * DECLARING_SHARE))
    undeclared = max(3, declaring // 40)
    chosen = rng.sample(members, min(len(members), declaring + undeclared))
    tenant_of_branch = {b["id"]: b["tenant_id"] for b in data.branches}
    codes = {t["id"]: (t["code"], t["level"]) for t in data.tenants}

    def decider(member: Row) -> str:
        code, level = codes[tenant_of_branch[member["branch_id"]]]
        return "admin" if level == "DISTRICT" else f"admin.{code}"

    declarations: list[Row] = []
    records: list[Row] = []

    def record(member: Row, destination: str, departed: date, returned: date) -> None:
        records.append(
            {
                "id": len(records) + 1,
                "member_id": member["id"],
                "destination": destination,
                "departed_on": departed,
                "returned_on": returned,
                "recorded_at": _at(min(as_of, returned + timedelta(days=rng.randint(1, 5))), 2),
            }
        )

    for n, member in enumerate(chosen):
        destination = rng.choice(DESTINATIONS)
        length = rng.randint(3, 20)
        roll = rng.random()
        if n >= declaring:
            # Recorded without an approved declaration covering the trip.
            departs = as_of - timedelta(days=rng.randint(30, 330))
            returns = departs + timedelta(days=length)
            kind = n % 3
            if kind == 0:  # no declaration at all
                record(member, destination, departs, returns)
                continue
            status = "REJECTED" if kind == 1 else "APPROVED"
            declared_return = returns if kind == 1 else returns - timedelta(days=rng.randint(2, 5))
            declarations.append(
                _declaration(declarations, member, destination, departs, declared_return, status)
                | {"decided_by": decider(member), "created_at": _at(departs, 1) - _days(rng)}
            )
            record(member, destination, departs, returns)
            continue
        if roll < 0.10:  # pending: a trip still to come
            departs = as_of + timedelta(days=rng.randint(5, 60))
            declarations.append(
                _declaration(
                    declarations,
                    member,
                    destination,
                    departs,
                    departs + timedelta(days=length),
                    "PENDING",
                )
                | {"decided_by": None, "created_at": _at(as_of, 1) - _days(rng)}
            )
            continue
        past = roll < 0.85
        departs = (
            as_of - timedelta(days=rng.randint(30, 340))
            if past
            else as_of + timedelta(days=rng.randint(5, 90))
        )
        returns = departs + timedelta(days=length)
        status = "REJECTED" if roll > 0.95 else "APPROVED"
        created = min(_at(departs, 1) - _days(rng), _at(as_of, 1))
        declarations.append(
            _declaration(declarations, member, destination, departs, returns, status)
            | {"decided_by": decider(member), "created_at": created}
        )
        if past and status == "APPROVED":
            # Within the declared dates: a day later, or back a day early, at times.
            went = departs + timedelta(days=rng.choice((0, 0, 1)))
            back = returns - timedelta(days=rng.choice((0, 0, 1)))
            record(member, destination, went, max(went, back))
    return declarations, records


def _days(rng: random.Random) -> timedelta:
    return timedelta(days=rng.randint(5, 30))


def _declaration(
    made: list[Row], member: Row, destination: str, departs: date, returns: date, status: str
) -> Row:
    return {
        "id": len(made) + 1,
        "member_id": member["id"],
        "destination": destination,
        "departs_on": departs,
        "returns_on": returns,
        "status": status,
    }


def reminder_rows(
    data: DemoData, *, seed: int, as_of: date
) -> list[tuple[Table, list[dict[str, Any]]]]:
    """(table, rows) in insert order: dues ledger, travel declarations, travel records."""
    rng = random.Random(seed + SEED_OFFSET)
    dues = _dues(data.members, rng, as_of)
    declarations, records = _travel(data, rng, as_of)
    return [
        (DuesEntry.__table__, dues),  # type: ignore[list-item]
        (TravelDeclaration.__table__, declarations),  # type: ignore[list-item]
        (TravelRecord.__table__, records),  # type: ignore[list-item]
    ]
