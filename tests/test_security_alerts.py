"""The security alerts of the live feed: refusals in bursts, revoked credentials coming back,
a broken audit chain. Each is raised once per window, filed under the tenant it concerns,
and (when it has one) reaches the feed as a RED SECURITY_ALERT event."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from schema.context import BURST_REFUSALS
from server.admin import verify_audit
from tests.conftest import GraphQLClient


async def rows(app: Any, sql: str) -> list[tuple[Any, ...]]:
    async with app.state.runtime.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql))).all()]


async def test_a_burst_of_refusals_raises_one_alert(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    member = await gql.as_user("m.10")
    for _ in range(BURST_REFUSALS - 1):
        assert (await member.error("{ overview { members } }"))["extensions"]["code"] == "FORBIDDEN"
    assert await rows(app, "SELECT kind FROM alerts") == []  # below the threshold: no alert
    for _ in range(5):
        await member.error("{ overview { members } }")
    [(kind, subject, path, light)] = await rows(
        app, "SELECT kind, subject, tenant_path, light FROM alerts"
    )
    assert (kind, subject, light) == ("authz.forbidden_burst", "user:m.10", "RED")
    events = await rows(app, "SELECT kind, light, tenant_path, payload FROM feed_events")
    assert [(k, light_, p) for k, light_, p, _ in events] == [("SECURITY_ALERT", "RED", path)]
    assert json.loads(events[0][3])["data"]["alert"] == "authz.forbidden_burst"


async def test_a_revoked_token_coming_back_raises_one_alert(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    senior = await gql.as_user("admin.d01t01")
    assert (await senior.data("mutation { logout }"))["logout"] is True
    for _ in range(3):
        error = await senior.error("{ me { username } }")
        assert error["extensions"]["reason"] == "revoked"
    alerts = await rows(app, "SELECT kind, subject, tenant_path FROM alerts")
    assert alerts == [("token.revoked_use", "user:admin.d01t01", "/d01/t01/")]
    # The super admin sees it in its alerts and in the feed's history.
    seen = await gql.data(
        "{ alerts(status: [OPEN]) { totalCount edges { node { kind light tenant { code } } } }"
        " feedEvents(kinds: [SECURITY_ALERT]) { edges { node { light tenant { code } } } } }"
    )
    assert seen["alerts"]["edges"][0]["node"] == {
        "kind": "token.revoked_use",
        "light": "RED",
        "tenant": {"code": "d01t01"},
    }
    assert seen["feedEvents"]["edges"][0]["node"] == {"light": "RED", "tenant": {"code": "d01t01"}}


async def test_a_broken_audit_chain_raises_an_alert(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    await gql.as_user("admin.d01t02")  # a sign-in: an entry filed under town d01t02
    engine = app.state.runtime.engine
    async with engine.begin() as conn:
        entry_id = (
            await conn.execute(
                text("SELECT id FROM audit_log WHERE tenant_path = '/d01/t02/' ORDER BY id LIMIT 1")
            )
        ).scalar_one()
        await conn.execute(
            text("UPDATE audit_log SET subject = 'mallory' WHERE id = :i"), {"i": entry_id}
        )
    verdict = await verify_audit(engine, alert=True)
    assert verdict.broken_at == entry_id
    await verify_audit(engine, alert=True)  # a second run within the hour: no second alert
    assert await rows(app, "SELECT kind, subject, tenant_path FROM alerts") == [
        ("audit.chain_broken", f"entry {entry_id}", "/d01/t02/")
    ]
