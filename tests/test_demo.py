"""The demo data generator, without a database.

Proves that generate() is deterministic, that the district scale has the reference district's
shape (244 tenants, 1,600 branches of all five categories, 30,000 members), that the rows are
internally consistent (tree paths, codes, dates, resident ID numbers with valid check digits),
that demo_accounts() names one account per tenant plus 20 members, and that the city scale
repeats the district ten times.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from tenants.demo import DISTRICTS, SCALES, DemoData, demo_accounts, generate, id_number
from tenants.models import LEVEL_DEPTH, TenantLevel
from tenants.paths import depth

AS_OF = date(2025, 6, 30)
CATEGORIES = {"AGENCY", "NON_PUBLIC", "BUILDING", "RED_PROPERTY", "RURAL"}


@pytest.fixture(scope="module")
def district() -> DemoData:
    return generate("district", seed=1, as_of=AS_OF)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate("small", seed=1, as_of=AS_OF)


def gb11643_check_digit(body: str) -> str:
    """The check character of an 18-character ID number, computed from the standard itself
    (ISO 7064 MOD 11-2), not from the generator's table."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year + years, 3, 1)


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_and_date_give_the_same_rows() -> None:
    assert generate("small", seed=5, as_of=AS_OF) == generate("small", seed=5, as_of=AS_OF)


def test_another_seed_or_date_gives_other_rows() -> None:
    base = generate("small", seed=5, as_of=AS_OF)
    assert generate("small", seed=6, as_of=AS_OF) != base
    assert generate("small", seed=5, as_of=date(2024, 1, 1)) != base


def test_district_scale_is_deterministic(district: DemoData) -> None:
    again = generate("district", seed=1, as_of=AS_OF)
    assert again.members == district.members
    assert again.activities == district.activities


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        generate("county")


def test_standard_check_digit_helper() -> None:
    # A published example number (GB 11643-1999, appendix): 11010519491231002X.
    assert gb11643_check_digit("11010519491231002") == "X"
    assert gb11643_check_digit("44052418800101001") == "4"


# --- the reference district's shape --------------------------------------------------------


def test_district_counts(district: DemoData) -> None:
    levels = Counter(t["level"] for t in district.tenants)
    assert levels == {"DISTRICT": 1, "TOWN": 10, "VILLAGE": 233}
    assert len(district.tenants) == 244
    assert len(district.branches) == 1600
    assert len(district.members) == 30000
    assert 15000 <= len(district.activities) <= 50000
    assert district.counts() == {
        "tenants": 244,
        "branches": 1600,
        "members": 30000,
        "activities": len(district.activities),
    }


def test_district_uses_every_branch_category(district: DemoData) -> None:
    assert {b["category"] for b in district.branches} == CATEGORIES


def test_every_branch_has_at_least_three_members(district: DemoData) -> None:
    # Party Constitution, art. 30: a branch needs three full or probationary members.
    headcount = Counter(m["branch_id"] for m in district.members)
    assert set(headcount) == {b["id"] for b in district.branches}
    assert min(headcount.values()) >= 3


@pytest.mark.parametrize("scale", ["small", "district"])
def test_tree_is_consistent(scale: str, small: DemoData, district: DemoData) -> None:
    data = small if scale == "small" else district
    by_id = {t["id"]: t for t in data.tenants}
    assert len(by_id) == len(data.tenants)
    assert len({t["code"] for t in data.tenants}) == len(data.tenants)
    assert len({t["path"] for t in data.tenants}) == len(data.tenants)
    for tenant in data.tenants:
        assert depth(tenant["path"]) == LEVEL_DEPTH[TenantLevel(tenant["level"])]
        segment = tenant["path"].rstrip("/").rsplit("/", 1)[1]
        if tenant["parent_id"] is None:
            assert tenant["level"] == "DISTRICT"
            assert tenant["path"] == f"/{segment}/"
            assert tenant["code"] == segment
        else:
            parent = by_id[tenant["parent_id"]]
            # Parents come first, so a bulk insert never points at a missing row.
            assert parent["id"] < tenant["id"]
            assert tenant["path"] == parent["path"] + segment + "/"
            assert tenant["code"] == parent["code"] + segment
            assert depth(tenant["path"]) == depth(parent["path"]) + 1


@pytest.mark.parametrize("scale", ["small", "district"])
def test_ids_are_dense_and_references_resolve(
    scale: str, small: DemoData, district: DemoData
) -> None:
    data = small if scale == "small" else district
    for rows in (data.tenants, data.branches, data.members, data.activities):
        assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    tenant_ids = {t["id"] for t in data.tenants}
    branch_ids = {b["id"] for b in data.branches}
    assert all(b["tenant_id"] in tenant_ids for b in data.branches)
    assert all(m["branch_id"] in branch_ids for m in data.members)
    assert all(a["branch_id"] in branch_ids for a in data.activities)


def test_members_are_plausible(district: DemoData) -> None:
    tenants = {t["id"]: t for t in district.tenants}
    branches = {b["id"]: b for b in district.branches}
    region = DISTRICTS[0][1]
    for m in district.members:
        number, birth, joined = m["id_number"], m["birth_date"], m["joined_on"]
        assert len(number) == 18, m
        assert number[:17].isdigit(), m
        assert number[17] == gb11643_check_digit(number[:17]), m
        assert number[:6] == region
        assert number[6:14] == f"{birth:%Y%m%d}", m
        # GB 11643: the 17th digit is odd for men and even for women.
        assert (int(number[16]) % 2 == 1) == (m["gender"] == "MALE"), m
        assert joined >= years_later(birth, 18), m
        assert joined <= AS_OF, m
        assert m["status"] == ("PROBATIONARY" if (AS_OF - joined).days < 365 else "FULL"), m
        assert tenants[branches[m["branch_id"]]["tenant_id"]]["path"].startswith("/d01/")


def test_resident_id_numbers_are_unique(district: DemoData) -> None:
    # A resident ID number names one person; two members sharing one is not plausible data.
    repeated = {n: c for n, c in Counter(m["id_number"] for m in district.members).items() if c > 1}
    assert not repeated, f"{len(repeated)} ID numbers used more than once"


def test_activities_are_within_the_last_year(district: DemoData) -> None:
    headcount = Counter(m["branch_id"] for m in district.members)
    for a in district.activities:
        assert a["occurred_at"].tzinfo is not None
        assert 0 <= (AS_OF - a["occurred_at"].date()).days <= 364
        assert 1 <= a["attendance"] <= headcount[a["branch_id"]]


@pytest.mark.parametrize(
    ("birth", "female"), [(date(1980, 2, 29), True), (date(1999, 12, 31), False)]
)
def test_id_number_function(birth: date, female: bool) -> None:
    numbers = set()
    for nth in (0, 1, 250, 498):
        number = id_number("331002", birth, nth, female)
        assert len(number) == 18
        assert number[17] == gb11643_check_digit(number[:17])
        assert number[6:14] == f"{birth:%Y%m%d}"
        assert int(number[16]) % 2 == (0 if female else 1)
        numbers.add(number)
    assert len(numbers) == 4  # the nth person of a birth date gets an order code of its own
    with pytest.raises(ValueError):
        id_number("331002", birth, 499, female)


# --- demo accounts -------------------------------------------------------------------------


def test_demo_accounts(district: DemoData) -> None:
    accounts = list(demo_accounts(district, seed=1))
    names = [name for name, _ in accounts]
    assert len(names) == len(set(names))
    assert names[0] == "admin"
    admins = [(n, m) for n, m in accounts if n.startswith("admin")]
    members = [(n, m) for n, m in accounts if n.startswith("m.")]
    assert len(admins) + len(members) == len(accounts)
    assert {n for n, _ in admins} == {"admin"} | {
        f"admin.{t['code']}" for t in district.tenants[1:]
    }
    assert all(m is None for _, m in admins)
    assert len(members) == 20
    member_ids = {m["id"] for m in district.members}
    for name, member_id in members:
        assert member_id in member_ids
        assert name == f"m.{member_id}"
    # Same seed, same accounts; the names fit the users.username column.
    assert list(demo_accounts(district, seed=1)) == accounts
    assert all(len(n) <= 64 for n in names)


def test_demo_accounts_on_a_tiny_data_set(small: DemoData) -> None:
    accounts = list(demo_accounts(small, seed=2, members=500))
    # Never more member accounts than members.
    assert sum(1 for n, _ in accounts if n.startswith("m.")) == len(small.members)


# --- ten districts -------------------------------------------------------------------------


@pytest.mark.slow
def test_city_scale() -> None:
    data = generate("city", seed=1, as_of=AS_OF)
    spec = SCALES["city"]
    districts = [t for t in data.tenants if t["level"] == "DISTRICT"]
    assert len(districts) == 10
    assert [t["path"] for t in districts] == [f"/d{i:02d}/" for i in range(1, 11)]
    assert len(data.tenants) == 2440
    assert len(data.branches) == 16000
    assert len(data.members) == spec.members_per_district * 10 == 300_000
    assert len({t["code"] for t in data.tenants}) == 2440
    # Each district's members carry its own region code.
    by_tenant = {t["id"]: t for t in data.tenants}
    branch_district = {
        b["id"]: int(by_tenant[b["tenant_id"]]["path"][2:4]) - 1 for b in data.branches
    }
    regions = {(branch_district[m["branch_id"]], m["id_number"][:6]) for m in data.members[::997]}
    assert all(DISTRICTS[d][1] == region for d, region in regions)
    accounts = [n for n, _ in demo_accounts(data)]
    assert accounts.count("admin") == 1
    assert "admin.d02" in accounts
    assert len(accounts) == 2440 + 20
