"""Query.stats, the command center's chart data, checked against the generator's own rows:
activities per day in the district's time zone (every day, zeros included) and branches by
category, for the district, a town, a village, and a junior admin's own scope."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from schema.ids import global_id
from tenants.demo import DemoData
from tests.conftest import GraphQLClient
from tests.test_graphql_api import branches_under, town

ZONE = ZoneInfo("Asia/Shanghai")
CATEGORIES = ("AGENCY", "NON_PUBLIC", "BUILDING", "RED_PROPERTY", "RURAL")
QUERY = (
    "query($u: ID, $d: Int) { stats(under: $u, days: $d) {"
    " activitiesPerDay { date count } branchesByCategory { category count } } }"
)


def expected_days(demo: DemoData, path: str, days: int) -> list[dict[str, object]]:
    today = datetime.now(ZONE).date()
    branch_ids = {b["id"] for b in branches_under(demo, path)}
    per_day = Counter(
        a["occurred_at"].astimezone(ZONE).date()
        for a in demo.activities
        if a["branch_id"] in branch_ids
    )
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    return [{"date": day.isoformat(), "count": per_day[day]} for day in window]


def expected_categories(demo: DemoData, path: str) -> list[dict[str, object]]:
    counts = Counter(b["category"] for b in branches_under(demo, path))
    return [{"category": c, "count": counts[c]} for c in CATEGORIES]


async def test_stats_for_district_town_and_village(client: GraphQLClient, demo: DemoData) -> None:
    village = next(t for t in demo.tenants if t["level"] == "VILLAGE")
    for tenant, days in ((None, 30), (town(demo), 30), (village, 7)):
        variables = {"u": global_id("Tenant", tenant["id"]) if tenant else None, "d": days}
        path = tenant["path"] if tenant else "/"
        stats = (await client.data(QUERY, variables))["stats"]
        assert stats["activitiesPerDay"] == expected_days(demo, path, days)
        assert stats["branchesByCategory"] == expected_categories(demo, path)
    # The district has activities in its last month: the oracle is not trivially all zeros.
    district = (await client.data(QUERY, {"d": 30}))["stats"]["activitiesPerDay"]
    assert len(district) == 30 and sum(d["count"] for d in district) > 0


async def test_stats_default_window_and_bad_days(client: GraphQLClient) -> None:
    days = (await client.data("{ stats { activitiesPerDay { date } } }"))["stats"]
    assert len(days["activitiesPerDay"]) == 30
    assert days["activitiesPerDay"][-1]["date"] == datetime.now(ZONE).date().isoformat()
    for bad in (0, 367):
        error = await client.error(QUERY, {"d": bad})
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_stats_in_a_junior_admins_scope(client: GraphQLClient, demo: DemoData) -> None:
    village = next(t for t in demo.tenants if t["code"] == "d01t01v001")
    junior = await client.as_user("admin.d01t01v001")
    stats = (await junior.data(QUERY, {"d": 30}))["stats"]
    assert stats["activitiesPerDay"] == expected_days(demo, village["path"], 30)
    assert stats["branchesByCategory"] == expected_categories(demo, village["path"])
    # A tenant outside the scope narrows to nothing, never to an error or someone else's data.
    other = town(demo) if not village["path"].startswith(town(demo)["path"]) else demo.tenants[-1]
    outside = await junior.post(QUERY, {"u": global_id("Tenant", other["id"]), "d": 3})
    if "errors" not in outside:
        got = outside["data"]["stats"]
        assert all(d["count"] == 0 for d in got["activitiesPerDay"])
        assert all(c["count"] == 0 for c in got["branchesByCategory"])
