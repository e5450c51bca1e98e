"""Alerts over the GraphQL API, on SQLite and PostgreSQL.

Proves: five failed sign-ins for one username end in RATE_LIMITED and a RED `login.brute_force`
alert that the super admin (and the admins above the user's tenant, not beside it) find in
`alerts`, with a SECURITY_ALERT feed event when the user has a tenant, published on the bus by
the refused sign-in itself; a reused refresh token does the same (`token.refresh_reuse`); an
alert about no tenant still reaches the super admin; `alerts` is scoped by tenant, narrowed by
`under`, filtered by lights and status, paged newest first with a `totalCount` over all pages;
`acknowledgeAlert` then `resolveAlert(note)` move an alert OPEN -> ACKNOWLEDGED -> RESOLVED,
record who did it (the principal), write `alert.acknowledge` / `alert.resolve` audit entries and
publish feed events, and the overview's `openAlerts` and `lights` follow (its subscription too);
illegal moves and empty notes are BAD_USER_INPUT, an alert out of reach or absent is FORBIDDEN,
and a refusal changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from schema.ids import global_id
from server.app import create_app
from server.audit import service as audit
from server.audit.service import ALERT_TITLES
from server.feed.models import Light
from tenants.demo import DemoData
from tests.conftest import DEMO_PASSWORD, Databases, settings_for
from tests.test_feed import FEED, LOGIN, TILES, Json, Served, tenant_gid, tenant_of

ALERTS = (
    "query($under: ID, $lights: [Light!], $status: [AlertStatus!], $first: Int,"
    " $after: String) {"
    " alerts(under: $under, lights: $lights, status: $status, first: $first, after: $after) {"
    " totalCount pageInfo { hasNextPage endCursor } edges { cursor node {"
    " id kind light title status occurredAt subject detail tenant { code }"
    " acknowledgedAt acknowledgedBy resolvedAt resolvedBy note } } } }"
)
MOVED = "id status acknowledgedAt acknowledgedBy resolvedAt resolvedBy note"
ACKNOWLEDGE = f"mutation($id: ID!) {{ acknowledgeAlert(id: $id) {{ {MOVED} }} }}"
RESOLVE = (
    f"mutation($id: ID!, $note: String!) {{ resolveAlert(id: $id, note: $note) {{ {MOVED} }} }}"
)
OVERVIEW = f"{{ overview {{ {TILES} }} }}"
REFRESH = "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }"


@pytest.fixture
def served(databases: Databases, tmp_path: Path) -> Iterator[Served]:
    app = create_app(settings_for(databases.copy(), tmp_path))
    with TestClient(app) as client:
        yield Served(client, app)


def raise_alert(
    served: Served, path: str | None, *, kind: str, light: Light, subject: str = "someone"
) -> str:
    """Record an alert the way the server's detectors do (audit entry, alert, feed event, in one
    write); its global id."""

    async def write() -> int:
        async with served.runtime.write() as (conn, outbox):
            event = await audit.alert(
                conn,
                kind=kind,
                entry=audit.Entry(
                    principal="system", action=kind, tenant_path=path, subject=subject
                ),
                now=datetime.now(UTC),
                title=f"{kind} at {path}",
                light=light,
            )
            if event is not None:
                outbox.append(event)
            pk = await conn.scalar(text("SELECT max(id) FROM alerts"))
        return int(pk)

    return str(global_id("Alert", served.call(write)))


def alerts(served: Served, username: str, **variables: Any) -> Json:
    """One page of `alerts`."""
    page: Json = served.data(username, ALERTS, variables)["alerts"]
    return page


def ids(page: Json) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


def every_page(served: Served, username: str, first: int, **variables: Any) -> list[Json]:
    """All pages of `alerts`, `first` at a time."""
    pages, after = [], None
    while True:
        page = alerts(served, username, first=first, after=after, **variables)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


def code_of(error: Json) -> str:
    code: str = error["extensions"]["code"]
    return code


# -- security alerts from sign-ins ---------------------------------------------------------------


def test_five_failed_sign_ins_raise_a_red_security_alert(served: Served, demo: DemoData) -> None:
    target = "admin.d01t01v001"
    admins = ["admin", "admin.d01t01", target, "admin.d01t01v002", "admin.d01t02"]
    for username in admins:
        served.token(username)  # signed in before the target's name gets locked
    published = served.published()
    with served.socket("admin") as watcher:
        watcher.subscribe("security", FEED, {"kinds": ["SECURITY_ALERT"]})
        for attempt in range(5):
            error = served.error(None, LOGIN, {"u": target, "p": f"guess-{attempt}"})
            assert code_of(error) == "UNAUTHENTICATED", error
        limited = served.error(None, LOGIN, {"u": target, "p": "guess-5"})
        assert code_of(limited) == "RATE_LIMITED", limited
        # Read at once: published events come right after the commit (the hub's poll of the
        # database would bring an unpublished one too, within 2 s; see the end of the test).
        [stored] = served.rows("SELECT id FROM feed_events")
        seen_on_the_bus = [e.id for e in published.events]
        [event] = watcher.events("security", 1)

    page = alerts(served, "admin")
    assert page["totalCount"] == 1
    [alert] = [edge["node"] for edge in page["edges"]]
    assert alert["kind"] == "login.brute_force"
    assert alert["light"] == "RED"
    assert alert["status"] == "OPEN"
    assert alert["title"] == ALERT_TITLES["login.brute_force"]
    assert alert["subject"] == target
    assert alert["tenant"] == {"code": "d01t01v001"}  # filed under the user's own tenant
    assert alert["detail"] == {"by": "username"}
    assert abs(datetime.fromisoformat(alert["occurredAt"]) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    assert [alert[k] for k in ("acknowledgedAt", "acknowledgedBy", "resolvedAt", "resolvedBy")] == [
        None
    ] * 4

    # Its feed event, live and in the history.
    assert event["kind"] == "SECURITY_ALERT" and event["light"] == "RED"
    assert event["title"] == alert["title"]
    assert event["tenant"]["code"] == "d01t01v001" and event["branch"] is None
    assert served.history("admin", kinds=["SECURITY_ALERT"]) == [event]

    # The admins above the user's tenant see the alert; those beside it do not.
    for username, count in [
        ("admin.d01t01", 1),
        ("admin.d01t01v001", 1),
        ("admin.d01t01v002", 0),
        ("admin.d01t02", 0),
    ]:
        assert alerts(served, username)["totalCount"] == count, username

    # Published by the refused sign-in once its transaction committed, not left for the hub's
    # poll of the database to find seconds later.
    assert seen_on_the_bus == [stored["id"]], "the alert's event was not published"
    assert published.uncommitted == []


def test_a_reused_refresh_token_raises_a_red_alert_on_the_feed(served: Served) -> None:
    senior = "admin.d01t02"
    signed_in = served.data(
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { refreshToken } }",
        {"u": senior, "p": DEMO_PASSWORD},
    )["login"]["refreshToken"]
    published = served.published()
    with served.socket("admin.d01t02v005") as bystander, served.socket("admin") as watcher:
        watcher.subscribe("security", FEED, {"kinds": ["SECURITY_ALERT"]})
        bystander.subscribe("security", FEED, {"kinds": ["SECURITY_ALERT"]})
        time.sleep(0.1)
        served.data(None, REFRESH, {"r": signed_in})
        reused = served.error(None, REFRESH, {"r": signed_in})
        assert reused["extensions"]["reason"] == "reused", reused
        [stored] = served.rows("SELECT id FROM feed_events")
        seen_on_the_bus = [e.id for e in published.events]
        [event] = watcher.events("security", 1)
        time.sleep(0.2)
        assert bystander.drain() == []  # filed under the town, not under its villages
    assert (event["kind"], event["light"], event["tenant"]["code"]) == (
        "SECURITY_ALERT",
        "RED",
        "d01t02",
    )
    [alert] = [edge["node"] for edge in alerts(served, "admin.d01t02")["edges"]]
    assert (alert["kind"], alert["light"], alert["status"]) == (
        "token.refresh_reuse",
        "RED",
        "OPEN",
    )
    assert seen_on_the_bus == [stored["id"]], "the alert's event was not published"


def test_an_alert_about_no_tenant_reaches_the_super_admin(served: Served) -> None:
    """A username nobody holds has no tenant: its brute-force alert has none either, and no
    feed event (events are about a tenant), but it must not vanish from the API."""

    # Four failures recorded directly (as the service records them; spares argon2), then the
    # fifth and sixth for real.
    async def failures() -> None:
        async with served.runtime.engine.begin() as conn:
            await audit.append(
                conn,
                [
                    audit.Entry(
                        principal="anonymous", action="login.failure", subject="nobody.at.all"
                    )
                ]
                * 4,
                now=datetime.now(UTC),
            )

    served.call(failures)
    assert code_of(served.error(None, LOGIN, {"u": "nobody.at.all", "p": "x"})) == "UNAUTHENTICATED"
    assert code_of(served.error(None, LOGIN, {"u": "nobody.at.all", "p": "x"})) == "RATE_LIMITED"
    [row] = served.rows("SELECT kind, light, tenant_path, subject, event_id FROM alerts")
    assert row == {
        "kind": "login.brute_force",
        "light": "RED",
        "tenant_path": None,
        "subject": "nobody.at.all",
        "event_id": None,
    }
    assert served.count("SELECT count(*) FROM feed_events") == 0

    page = alerts(served, "admin")
    assert page["totalCount"] == 1, "the super admin does not see an alert about no tenant"
    [alert] = [edge["node"] for edge in page["edges"]]
    assert (alert["subject"], alert["tenant"], alert["light"]) == ("nobody.at.all", None, "RED")
    # Nobody below the district is concerned.
    for username in ("admin.d01t01", "admin.d01t01v001"):
        assert alerts(served, username)["totalCount"] == 0, username


# -- reading alerts ------------------------------------------------------------------------------


def test_alerts_are_scoped_filtered_and_paged_newest_first(served: Served, demo: DemoData) -> None:
    def at(code: str) -> str:
        path: str = tenant_of(demo, code)["path"]
        return path

    a1 = raise_alert(served, at("d01t01v001"), kind="login.brute_force", light=Light.RED)
    a2 = raise_alert(served, at("d01t01v001"), kind="warning.dues_overdue", light=Light.YELLOW)
    a3 = raise_alert(served, at("d01t01v002"), kind="token.refresh_reuse", light=Light.RED)
    a4 = raise_alert(served, at("d01t01"), kind="warning.meeting_missed", light=Light.GREEN)
    a5 = raise_alert(served, at("d01t02v005"), kind="warning.dues_overdue", light=Light.YELLOW)
    a6 = raise_alert(served, at("d01"), kind="audit.chain_broken", light=Light.RED)
    served.data("admin", ACKNOWLEDGE, {"id": a2})
    served.data("admin", RESOLVE, {"id": a3, "note": "session ended"})

    # Newest first, a page at a time, the total on every page.
    pages = every_page(served, "admin", 2)
    assert [ids(p) for p in pages] == [[a6, a5], [a4, a3], [a2, a1]]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert {p["totalCount"] for p in pages} == {6}
    for page in pages:
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
    assert ids(alerts(served, "admin", first=0)) == []
    assert alerts(served, "admin", first=0)["totalCount"] == 6

    # Filters, alone and together; totalCount counts what matches.
    cases: list[tuple[Json, list[str]]] = [
        ({"lights": ["RED"]}, [a6, a3, a1]),
        ({"lights": ["RED", "YELLOW"]}, [a6, a5, a3, a2, a1]),
        ({"lights": ["GREEN"]}, [a4]),
        ({"status": ["OPEN"]}, [a6, a5, a4, a1]),
        ({"status": ["ACKNOWLEDGED"]}, [a2]),
        ({"status": ["RESOLVED"]}, [a3]),
        ({"status": ["OPEN", "ACKNOWLEDGED"], "lights": ["RED", "YELLOW"]}, [a6, a5, a2, a1]),
        ({"under": tenant_gid(demo, "d01t02")}, [a5]),
        ({"under": tenant_gid(demo, "d01t01"), "lights": ["RED"]}, [a3, a1]),
    ]
    for filters, expected in cases:
        page = alerts(served, "admin", **filters)
        assert (ids(page), page["totalCount"]) == (expected, len(expected)), filters
    assert [ids(p) for p in every_page(served, "admin", 1, lights=["RED"])] == [[a6], [a3], [a1]]

    # Each admin sees its own subtree; `under` narrows and never widens.
    scoped: list[tuple[str, Json, list[str]]] = [
        ("admin.d01t01", {}, [a4, a3, a2, a1]),
        ("admin.d01t01", {"under": tenant_gid(demo, "d01t01v001")}, [a2, a1]),
        ("admin.d01t01", {"under": tenant_gid(demo, "d01t02")}, []),
        ("admin.d01t02", {}, [a5]),
        ("admin.d01t01v001", {}, [a2, a1]),
        ("admin.d01t01v001", {"status": ["OPEN"]}, [a1]),
        ("admin.d01t01v001", {"under": tenant_gid(demo, "d01t01")}, []),
        ("admin.d01t01v002", {}, [a3]),
        ("admin.d01t02v005", {}, [a5]),
        ("admin.d01t02v006", {}, []),
    ]
    for username, filters, expected in scoped:
        page = alerts(served, username, **filters)
        assert (ids(page), page["totalCount"]) == (expected, len(expected)), (username, filters)

    node = alerts(served, "admin.d01t01v001", first=1)["edges"][0]["node"]
    assert node["tenant"] == {"code": "d01t01v001"}
    assert (node["kind"], node["light"], node["status"]) == (
        "warning.dues_overdue",
        "YELLOW",
        "ACKNOWLEDGED",
    )
    member = served.rows("SELECT username FROM users WHERE username LIKE 'm.%' ORDER BY id")[0]
    assert code_of(served.error(member["username"], ALERTS)) == "FORBIDDEN"


# -- acknowledging and resolving -----------------------------------------------------------------


def test_acknowledge_then_resolve(served: Served, demo: DemoData) -> None:
    village, other = tenant_of(demo, "d01t01v001"), tenant_of(demo, "d01t01v002")
    red = raise_alert(served, village["path"], kind="login.brute_force", light=Light.RED)
    yellow = raise_alert(served, other["path"], kind="warning.dues_overdue", light=Light.YELLOW)
    junior, senior = "admin.d01t01v001", "admin.d01t01"

    def tiles(username: str) -> tuple[int, Json]:
        overview = served.data(username, OVERVIEW)["overview"]
        return overview["openAlerts"], overview["lights"]

    assert tiles(senior) == (2, {"green": 0, "yellow": 1, "red": 1})
    assert tiles(junior) == (1, {"green": 0, "yellow": 0, "red": 1})

    published = served.published()
    with served.socket(junior) as watcher, served.socket(senior) as screen:
        watcher.subscribe("alerts", FEED, {"kinds": ["SECURITY_ALERT", "WARNING"]})
        screen.subscribe("tiles", f"subscription {{ overview {{ {TILES} }} }}")
        assert screen.next("tiles")["overview"]["openAlerts"] == 2
        time.sleep(0.1)

        before = datetime.now(UTC) - timedelta(seconds=1)
        taken = served.data(junior, ACKNOWLEDGE, {"id": red})["acknowledgeAlert"]
        assert taken["id"] == red and taken["status"] == "ACKNOWLEDGED"
        assert taken["acknowledgedBy"] == "user:admin.d01t01v001"
        assert before <= datetime.fromisoformat(taken["acknowledgedAt"]) <= datetime.now(UTC)
        assert (taken["resolvedAt"], taken["resolvedBy"], taken["note"]) == (None, None, None)
        # Taken in hand is still open.
        assert tiles(senior) == (2, {"green": 0, "yellow": 1, "red": 1})

        done = served.data(senior, RESOLVE, {"id": red, "note": "  已约谈当事人  "})["resolveAlert"]
        assert done["status"] == "RESOLVED"
        assert done["resolvedBy"] == "user:admin.d01t01"
        assert done["note"] == "已约谈当事人"
        assert (done["acknowledgedBy"], done["acknowledgedAt"]) == (
            taken["acknowledgedBy"],
            taken["acknowledgedAt"],
        )
        assert datetime.fromisoformat(done["resolvedAt"]) >= datetime.fromisoformat(
            taken["acknowledgedAt"]
        )
        assert tiles(senior) == (1, {"green": 0, "yellow": 1, "red": 0})
        assert tiles(junior) == (0, {"green": 0, "yellow": 0, "red": 0})
        assert tiles("admin") == (1, {"green": 0, "yellow": 1, "red": 0})
        # The command center's tiles follow by themselves.
        assert screen.next("tiles")["overview"]["openAlerts"] == 1

        # An open alert may be resolved without being acknowledged first.
        straight = served.data(senior, RESOLVE, {"id": yellow, "note": "已补缴"})["resolveAlert"]
        assert straight["status"] == "RESOLVED" and straight["acknowledgedBy"] is None
        assert tiles(senior) == (0, {"green": 0, "yellow": 0, "red": 0})

        # The village admin's feed tells the moves of its village's alert (not the other one).
        moved = watcher.events("alerts", 2)
        time.sleep(0.2)
        assert watcher.drain() == []
    assert [(e["kind"], e["light"], e["payload"]["status"], e["payload"]["by"]) for e in moved] == [
        ("SECURITY_ALERT", "RED", "ACKNOWLEDGED", "user:admin.d01t01v001"),
        ("SECURITY_ALERT", "RED", "RESOLVED", "user:admin.d01t01"),
    ]
    assert moved[1]["payload"]["note"] == "已约谈当事人"
    # Each move published its event once committed.
    assert [(e.kind, e.data["status"]) for e in published.events] == [
        ("SECURITY_ALERT", "ACKNOWLEDGED"),
        ("SECURITY_ALERT", "RESOLVED"),
        ("WARNING", "RESOLVED"),
    ]
    assert published.uncommitted == []
    assert all(e["tenant"]["code"] == "d01t01v001" for e in moved)
    [warning] = served.history(senior, kinds=["WARNING"])
    assert (warning["light"], warning["payload"]["status"]) == ("YELLOW", "RESOLVED")
    assert warning["tenant"]["code"] == "d01t01v002"

    # Audited: who, what, where, which alert, and the note.
    entries = served.rows(
        "SELECT principal, action, tenant_path, subject, detail FROM audit_log"
        " WHERE action LIKE 'alert.%' ORDER BY id"
    )
    red_pk, yellow_pk = (
        served.count(f"SELECT id FROM alerts WHERE light = '{x}'") for x in ("RED", "YELLOW")
    )
    assert [{**e, "detail": json.loads(e["detail"])} for e in entries] == [
        {
            "principal": "user:admin.d01t01v001",
            "action": "alert.acknowledge",
            "tenant_path": village["path"],
            "subject": str(red_pk),
            "detail": {},
        },
        {
            "principal": "user:admin.d01t01",
            "action": "alert.resolve",
            "tenant_path": village["path"],
            "subject": str(red_pk),
            "detail": {"note": "已约谈当事人"},
        },
        {
            "principal": "user:admin.d01t01",
            "action": "alert.resolve",
            "tenant_path": other["path"],
            "subject": str(yellow_pk),
            "detail": {"note": "已补缴"},
        },
    ]


def test_illegal_moves_and_refusals_change_nothing(served: Served, demo: DemoData) -> None:
    mine = raise_alert(
        served, tenant_of(demo, "d01t01v001")["path"], kind="login.brute_force", light=Light.RED
    )
    theirs = raise_alert(
        served, tenant_of(demo, "d01t01v002")["path"], kind="login.brute_force", light=Light.RED
    )
    junior = "admin.d01t01v001"

    served.data(junior, RESOLVE, {"id": mine, "note": "处理完毕"})
    served.data("admin", ACKNOWLEDGE, {"id": theirs})
    state = served.rows("SELECT * FROM alerts ORDER BY id")
    moves = served.count("SELECT count(*) FROM audit_log WHERE action LIKE 'alert.%'")
    events = served.count("SELECT count(*) FROM feed_events")
    assert moves == 2
    published = served.published()

    for username, query, variables, code, argument in [
        # Moves the status does not allow.
        (junior, RESOLVE, {"id": mine, "note": "again"}, "BAD_USER_INPUT", "id"),
        (junior, ACKNOWLEDGE, {"id": mine}, "BAD_USER_INPUT", "id"),
        ("admin", ACKNOWLEDGE, {"id": theirs}, "BAD_USER_INPUT", "id"),
        # A note is required, and not a novel.
        ("admin", RESOLVE, {"id": theirs, "note": ""}, "BAD_USER_INPUT", "note"),
        ("admin", RESOLVE, {"id": theirs, "note": "   "}, "BAD_USER_INPUT", "note"),
        ("admin", RESOLVE, {"id": theirs, "note": "x" * 2001}, "BAD_USER_INPUT", "note"),
        # Not an alert's id at all.
        ("admin", ACKNOWLEDGE, {"id": tenant_gid(demo, "d01")}, "BAD_USER_INPUT", "id"),
        ("admin", ACKNOWLEDGE, {"id": "garbage"}, "BAD_USER_INPUT", "id"),
        # Out of reach, and absent: the same refusal.
        (junior, ACKNOWLEDGE, {"id": theirs}, "FORBIDDEN", None),
        (junior, RESOLVE, {"id": theirs, "note": "not mine"}, "FORBIDDEN", None),
        ("admin.d01t02", RESOLVE, {"id": theirs, "note": "not mine"}, "FORBIDDEN", None),
        (junior, ACKNOWLEDGE, {"id": str(global_id("Alert", 99_999))}, "FORBIDDEN", None),
        ("admin", RESOLVE, {"id": str(global_id("Alert", 99_999)), "note": "x"}, "FORBIDDEN", None),
    ]:
        error = served.error(username, query, variables)
        assert code_of(error) == code, (username, variables, error)
        if argument is not None:
            assert error["extensions"]["argument"] == argument, (variables, error)

    out_of_reach = served.error(junior, ACKNOWLEDGE, {"id": theirs})["message"]
    absent = served.error(junior, ACKNOWLEDGE, {"id": str(global_id("Alert", 99_999))})["message"]
    assert out_of_reach == absent  # existence does not leak

    member = served.rows("SELECT username FROM users WHERE username LIKE 'm.%' ORDER BY id")[0]
    assert code_of(served.error(member["username"], ACKNOWLEDGE, {"id": theirs})) == "FORBIDDEN"

    # None of the refusals moved, audited as a move, or announced anything.
    assert served.rows("SELECT * FROM alerts ORDER BY id") == state
    assert served.count("SELECT count(*) FROM audit_log WHERE action LIKE 'alert.%'") == moves
    assert served.count("SELECT count(*) FROM feed_events") == events
    assert published.events == []
