"""The warning modules' entry point (server.feed.service.open_warning): a light change opens an
alert and reaches the feed as a WARNING with that light, scoped like everything else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.feed.events import tenant_info
from server.feed.models import Light
from server.feed.service import open_warning
from tests.conftest import GraphQLClient


async def test_a_warning_opens_an_alert_and_reaches_the_feed(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    runtime = app.state.runtime
    async with runtime.write() as (conn, outbox):
        village = await tenant_info(conn, "/d01/t01/v001/")
        assert village is not None
        outbox.append(
            await open_warning(
                conn,
                cause="fortress_stars",
                tenant=village,
                title="堡垒星级降至二星",
                light=Light.YELLOW,
                now=datetime.now(UTC),
                data={"stars": 2},
            )
        )
    query = (
        "{ alerts(lights: [YELLOW]) { edges { node { kind light status tenant { code } } } }"
        " feedEvents(kinds: [WARNING]) { edges { node { light title payload } } } }"
    )
    junior = await gql.as_user("admin.d01t01v001")
    for viewer in (gql, junior):  # the district and the village itself see it
        seen = await viewer.data(query)
        assert seen["alerts"]["edges"] == [
            {
                "node": {
                    "kind": "warning.fortress_stars",
                    "light": "YELLOW",
                    "status": "OPEN",
                    "tenant": {"code": "d01t01v001"},
                }
            }
        ]
        assert seen["feedEvents"]["edges"] == [
            {
                "node": {
                    "light": "YELLOW",
                    "title": "堡垒星级降至二星",
                    "payload": {"cause": "fortress_stars", "stars": 2},
                }
            }
        ]
    other = await gql.as_user("admin.d01t02")  # another town: nothing
    seen = await other.data(query)
    assert seen == {"alerts": {"edges": []}, "feedEvents": {"edges": []}}
    tiles = await gql.data("{ overview { openAlerts lights { yellow } } }")
    assert tiles["overview"] == {"openAlerts": 1, "lights": {"yellow": 1}}
