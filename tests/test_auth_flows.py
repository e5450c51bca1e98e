"""Signing in and out over the GraphQL API, on SQLite and PostgreSQL.

Proves: a login answers with an access token, a refresh token, an expiry 15 minutes ahead and
the viewer with its grants; a wrong password, an unknown username and a disabled account fail
alike; 5 failures for a username within 15 minutes lock that username (RATE_LIMITED with
retryAfter, a `login.brute_force` alert) but not the address, also when the guesses arrive all
at once, and 20 failures from one address lock the address but not others;
refresh tokens rotate, and a spent one coming back ends its whole session (a
`token.refresh_reuse` alert); logout ends the session's access and refresh tokens at once;
expired, forged, malformed and garbage tokens are UNAUTHENTICATED saying why, yet never stop
`login`; and without a principal only `login` and `refreshToken` answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from sqlalchemy import text, update

from server.audit import service as audit
from server.auth.models import RefreshToken
from server.auth.tokens import issue_access, new_session_id
from tests.conftest import DEMO_PASSWORD, SECRET, GraphQLClient

Row = dict[str, Any]
Body = dict[str, Any]

LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) {"
    " accessToken refreshToken expiresAt"
    " viewer { username kind grants { role tenant { code } } } } }"
)
REFRESH = (
    "mutation($r: String!) { refreshToken(refreshToken: $r) {"
    " accessToken refreshToken expiresAt viewer { username } } }"
)
LOGOUT = "mutation { logout }"
ME = "{ me { username kind grants { role tenant { code } } roles { role tenant { code } } } }"


# -- helpers ----------------------------------------------------------------------------------


async def fetch(app: Any, sql: str, **params: Any) -> list[Row]:
    """Rows of a raw SQL query on the test's own database."""
    async with app.state.runtime.engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def login(gql: GraphQLClient, username: str, password: str = DEMO_PASSWORD) -> Body:
    return await gql.anonymous().post(LOGIN, {"u": username, "p": password})


async def signed_in(gql: GraphQLClient, username: str) -> dict[str, Any]:
    """A fresh session of `username` (not the fixture's cached one): its login payload."""
    body = await login(gql, username)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]
    return payload


def first_error(body: Body) -> dict[str, Any]:
    assert body.get("errors"), f"expected an error, got {body}"
    error: dict[str, Any] = body["errors"][0]
    return error


def as_token(gql: GraphQLClient, token: str) -> GraphQLClient:
    return GraphQLClient(gql.http, token)


async def refused(gql: GraphQLClient, query: str, variables: Body | None = None) -> str:
    """The reason of an UNAUTHENTICATED refusal of `query`."""
    error = first_error(await gql.post(query, variables))
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    reason: str = error["extensions"]["reason"]
    return reason


def client_at(app: Any, address: str) -> GraphQLClient:
    """An anonymous client on the same app, calling from another address."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return GraphQLClient(httpx.AsyncClient(transport=transport, base_url="http://test"))


# -- login --------------------------------------------------------------------------------------


async def test_login_answers_tokens_expiry_and_viewer(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    before = datetime.now(UTC)
    payload = await signed_in(gql, "admin.d01t01")
    after = datetime.now(UTC)

    assert payload["accessToken"] and payload["refreshToken"]
    assert payload["refreshToken"] != payload["accessToken"]
    # The access token lives 15 minutes (EHOME_ACCESS_TTL's default); JWT expiries are whole
    # seconds, so allow one second either side.
    expires = datetime.fromisoformat(payload["expiresAt"])
    assert expires.tzinfo is not None
    lo, hi = before + timedelta(minutes=15), after + timedelta(minutes=15)
    assert lo - timedelta(seconds=1) <= expires <= hi + timedelta(seconds=1)
    claims = jwt.decode(payload["accessToken"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == "admin.d01t01"
    assert abs(claims["exp"] - expires.timestamp()) < 1

    assert payload["viewer"] == {
        "username": "admin.d01t01",
        "kind": "user",
        "grants": [{"role": "SENIOR_ADMIN", "tenant": {"code": "d01t01"}}],
    }
    # Only a digest of the refresh token is stored.
    stored = {r["token_hash"] for r in await fetch(app, "SELECT token_hash FROM refresh_tokens")}
    assert hashlib.sha256(payload["refreshToken"].encode()).hexdigest() in stored
    assert not any(payload["refreshToken"] in value for value in stored)


async def test_me_of_a_senior_admin_lists_its_grant(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, _app = fresh
    senior = await gql.as_user("admin.d01t02")
    me = (await senior.data(ME))["me"]
    assert me == {
        "username": "admin.d01t02",
        "kind": "user",
        "grants": [{"role": "SENIOR_ADMIN", "tenant": {"code": "d01t02"}}],
        "roles": [{"role": "SENIOR_ADMIN", "tenant": {"code": "d01t02"}}],
    }
    # A member holds a role but no admin grant.
    member = (await (await gql.as_user("m.10")).data(ME))["me"]
    assert member["grants"] == []
    assert [r["role"] for r in member["roles"]] == ["MEMBER"]


async def test_wrong_password_and_unknown_user_fail_alike(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    wrong = await login(gql, "admin.d01t01", "not-the-password")
    unknown = await login(gql, "nobody.at.all", "not-the-password")
    for body in (wrong, unknown):
        assert body.get("data") is None
        assert first_error(body)["extensions"]["code"] == "UNAUTHENTICATED"

    # Nothing in the answer tells the two apart: same message, same extensions.
    def visible(body: Body) -> tuple[str, str]:
        error = first_error(body)
        return error["message"], json.dumps(error["extensions"], sort_keys=True)

    assert visible(wrong) == visible(unknown)
    # Both failures are on record, and the password tried is not.
    failures = await fetch(
        app, "SELECT subject, detail FROM audit_log WHERE action = 'login.failure' ORDER BY id"
    )
    assert [f["subject"] for f in failures] == ["admin.d01t01", "nobody.at.all"]
    assert all("not-the-password" not in f["detail"] for f in failures)


async def test_a_disabled_account_fails_like_a_wrong_password(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET is_active = :no WHERE username = 'admin.d01t01'"), {"no": False}
        )
    disabled = first_error(await login(gql, "admin.d01t01"))  # the right password
    wrong = first_error(await login(gql, "admin.d01t02", "wrong"))
    assert (
        disabled["extensions"]
        == wrong["extensions"]
        == {
            "code": "UNAUTHENTICATED",
            "reason": "credentials",
        }
    )
    assert disabled["message"] == wrong["message"]


# -- rate limits --------------------------------------------------------------------------------


async def test_five_failures_lock_the_username_not_the_address(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    target = "admin.d01t01v001"
    for attempt in range(5):
        error = first_error(await login(gql, target, f"guess-{attempt}"))
        assert error["extensions"]["code"] == "UNAUTHENTICATED"

    # The sixth attempt is refused before the password is even looked at: the right one too.
    limited = first_error(await login(gql, target))
    assert limited["extensions"]["code"] == "RATE_LIMITED", limited
    retry = limited["extensions"]["retryAfter"]
    assert isinstance(retry, int) and 0 < retry <= 15 * 60 + 1
    assert limited["extensions"]["by"] == "username"

    alerts = await fetch(
        app,
        "SELECT kind, subject, client_address, audit_id FROM alerts ORDER BY id",
    )
    assert [(a["kind"], a["subject"]) for a in alerts] == [("login.brute_force", target)]
    [linked] = await fetch(
        app, "SELECT action, subject FROM audit_log WHERE id = :id", id=alerts[0]["audit_id"]
    )
    assert linked == {"action": "login.rate_limited", "subject": target}

    # The lock is the username's: another account from the same address signs in.
    assert "errors" not in await login(gql, "admin.d01t01v002")
    # ...and the username stays locked from any address.
    elsewhere = client_at(app, "198.51.100.20")
    try:
        again = first_error(await login(elsewhere, target))
        assert again["extensions"]["code"] == "RATE_LIMITED"
    finally:
        await elsewhere.http.aclose()


async def test_a_burst_of_guesses_gets_no_more_than_five(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    """The limit holds for concurrent attempts too: an attacker who fires 10 guesses at once
    must not get more password checks than one who sends them one by one."""
    gql, app = fresh
    bodies = await asyncio.gather(*(login(gql, "admin.d01t01", f"guess-{i}") for i in range(10)))
    codes = [first_error(body)["extensions"]["code"] for body in bodies]
    checked = await fetch(
        app,
        "SELECT id FROM audit_log WHERE action = 'login.failure' AND subject = 'admin.d01t01'",
    )
    assert len(checked) <= 5, f"{len(checked)} guesses were checked; answers: {codes}"
    assert codes.count("UNAUTHENTICATED") <= 5 and codes.count("RATE_LIMITED") >= 5, codes


async def record_failures(
    app: Any, usernames: list[str], *, at: datetime, address: str = "192.0.2.1"
) -> None:
    """Failed sign-ins recorded as the service records them: the limits count audit entries,
    and this spares the deliberately slow argon2 check of each."""
    async with app.state.runtime.engine.begin() as conn:
        await audit.append(
            conn,
            [
                audit.Entry(
                    principal="anonymous",
                    action="login.failure",
                    subject=username,
                    client_address=address,
                )
                for username in usernames
            ],
            now=at,
        )


async def test_the_window_is_fifteen_minutes(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    now = datetime.now(UTC)
    # Failures older than the window are forgotten.
    await record_failures(app, ["admin.d01t01"] * 5, at=now - timedelta(minutes=16))
    assert "errors" not in await login(gql, "admin.d01t01")
    # Failures 10 minutes old lock the username for the 5 minutes left of their window.
    await record_failures(app, ["admin.d01t02"] * 5, at=now - timedelta(minutes=10))
    limited = first_error(await login(gql, "admin.d01t02"))
    assert limited["extensions"]["code"] == "RATE_LIMITED"
    assert 5 * 60 - 10 <= limited["extensions"]["retryAfter"] <= 5 * 60 + 1


async def test_twenty_failures_from_one_address_lock_the_address(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    error = first_error(await login(gql, "nobody.a", "wrong"))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    [first] = await fetch(
        app, "SELECT client_address FROM audit_log WHERE action = 'login.failure'"
    )
    address = first["client_address"]
    assert address
    # 16 more failures from that address, over 4 usernames (4 each: under the per-username
    # limit of 5).
    usernames = [f"nobody.{i % 4}" for i in range(16)]
    await record_failures(app, usernames, at=datetime.now(UTC), address=address)
    for username in ("nobody.b", "nobody.c"):
        error = first_error(await login(gql, username, "wrong"))
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    # 19 failures: the address may still sign in (a success does not count)...
    assert "errors" not in await login(gql, "admin.d01t02")
    error = first_error(await login(gql, "nobody.d", "wrong"))
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error

    # ...and at 20 it may not, whoever it signs in as.
    limited = first_error(await login(gql, "admin.d01t02"))
    assert limited["extensions"]["code"] == "RATE_LIMITED", limited
    assert limited["extensions"]["by"] == "address"
    assert limited["extensions"]["retryAfter"] > 0
    alerts = await fetch(app, "SELECT kind, client_address, detail FROM alerts")
    assert [(a["kind"], a["client_address"]) for a in alerts] == [("login.brute_force", address)]
    assert json.loads(alerts[0]["detail"]) == {"by": "address"}

    # Another address is not affected.
    elsewhere = client_at(app, "198.51.100.21")
    try:
        assert "errors" not in await login(elsewhere, "admin.d01t02")
    finally:
        await elsewhere.http.aclose()


# -- refresh tokens ---------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_ends_the_family(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    first = await signed_in(gql, "admin.d01t02")
    other_session = await signed_in(gql, "admin.d01t02")

    body = await gql.anonymous().post(REFRESH, {"r": first["refreshToken"]})
    assert "errors" not in body, body
    second = body["data"]["refreshToken"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["viewer"] == {"username": "admin.d01t02"}
    assert (await as_token(gql, second["accessToken"]).data(ME))["me"]["username"] == (
        "admin.d01t02"
    )

    # The new refresh token works (once) in turn.
    body = await gql.anonymous().post(REFRESH, {"r": second["refreshToken"]})
    assert "errors" not in body, body
    newest = body["data"]["refreshToken"]

    # The first, spent token comes back: a thief or a replay. The whole session ends.
    reused = first_error(await gql.anonymous().post(REFRESH, {"r": first["refreshToken"]}))
    assert reused["extensions"]["code"] == "UNAUTHENTICATED"
    assert reused["extensions"]["reason"] == "reused"

    assert await refused(gql.anonymous(), REFRESH, {"r": newest["refreshToken"]}) == "invalid"
    for access in (newest["accessToken"], second["accessToken"], first["accessToken"]):
        assert await refused(as_token(gql, access), ME) == "revoked"

    session = jwt.decode(first["accessToken"], SECRET, algorithms=["HS256"])["sid"]
    alerts = await fetch(app, "SELECT kind, subject, detail FROM alerts")
    # The reuse itself, then (issue 4) the revoked access token tried above.
    assert [(a["kind"], a["subject"]) for a in alerts] == [
        ("token.refresh_reuse", "admin.d01t02"),
        ("token.revoked_use", "user:admin.d01t02"),
    ]
    assert json.loads(alerts[0]["detail"]) == {"session": session}
    [revoked] = await fetch(
        app, "SELECT revoked_reason FROM auth_sessions WHERE id = :id", id=session
    )
    assert revoked["revoked_reason"] == "refresh_reuse"

    # The user's other session is a different family and lives on.
    assert (await as_token(gql, other_session["accessToken"]).data(ME))["me"]["username"] == (
        "admin.d01t02"
    )
    body = await gql.anonymous().post(REFRESH, {"r": other_session["refreshToken"]})
    assert "errors" not in body, body


async def test_unknown_and_expired_refresh_tokens_are_refused(
    fresh: tuple[GraphQLClient, Any],
) -> None:
    gql, app = fresh
    for token in ("ehr_not-a-token", "", "x" * 300):
        assert await refused(gql.anonymous(), REFRESH, {"r": token}) == "invalid"
    # A made-up token is not reuse: no session ends, no alert.
    assert await fetch(app, "SELECT id FROM alerts") == []

    session = await signed_in(gql, "admin.d01t01")
    async with app.state.runtime.engine.begin() as conn:
        await conn.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await refused(gql.anonymous(), REFRESH, {"r": session["refreshToken"]}) == "expired"


# -- logout -------------------------------------------------------------------------------------


async def test_logout_ends_the_session_at_once(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, app = fresh
    session = await signed_in(gql, "admin")
    mine = as_token(gql, session["accessToken"])
    assert (await mine.data(ME))["me"]["username"] == "admin"

    assert (await mine.data(LOGOUT)) == {"logout": True}
    assert await refused(mine, ME) == "revoked"
    assert await refused(mine, "{ tenants { totalCount } }") == "revoked"
    assert await refused(gql.anonymous(), REFRESH, {"r": session["refreshToken"]}) == "invalid"

    claims = jwt.decode(session["accessToken"], SECRET, algorithms=["HS256"])
    [row] = await fetch(
        app, "SELECT revoked_reason FROM auth_sessions WHERE id = :id", id=claims["sid"]
    )
    assert row["revoked_reason"] == "logout"
    # The fixture's own session of the same user is untouched.
    assert (await gql.data(ME))["me"]["username"] == "admin"


# -- bad credentials ----------------------------------------------------------------------------


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "admin",
        "uid": 1,
        "sid": new_session_id(),
        "mid": None,
        "bid": None,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=15)).timestamp()),
        "jti": "x",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not ...}


async def test_expired_access_token(client: GraphQLClient) -> None:
    token, expires = issue_access(
        secret=SECRET,
        username="admin",
        user_id=1,
        session_id=new_session_id(),
        member_id=None,
        branch_id=None,
        now=datetime.now(UTC) - timedelta(hours=1),
        ttl=timedelta(minutes=15),
    )
    assert expires < datetime.now(UTC)
    assert await refused(as_token(client, token), ME) == "expired"
    assert await refused(as_token(client, token), "{ members { totalCount } }") == "expired"


async def test_forged_and_garbage_tokens(client: GraphQLClient) -> None:
    forged = jwt.encode(_claims(), "another-key-" + "k" * 40, algorithm="HS256")
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    not_access = jwt.encode(_claims(typ="refresh"), SECRET, algorithm="HS256")
    no_session = jwt.encode(_claims(sid=...), SECRET, algorithm="HS256")
    for token in (
        forged,
        unsigned,
        not_access,
        no_session,
        "garbage",
        "ehr_" + "a" * 43,
        "ehk_" + "a" * 43,  # shaped like a partner key, but no such key
    ):
        assert await refused(as_token(client, token), ME) == "invalid", token

    anonymous = client.anonymous()
    for header in ("Basic YWRtaW46cHctZGVtbw==", "Bearer", "Bearer   ", "token-without-scheme"):
        error = first_error(await anonymous.post(ME, authorization=header))
        assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "malformed"}, header


async def test_a_bad_header_does_not_stop_sign_in(fresh: tuple[GraphQLClient, Any]) -> None:
    gql, _app = fresh
    stale, _ = issue_access(
        secret=SECRET,
        username="admin",
        user_id=1,
        session_id=new_session_id(),
        member_id=None,
        branch_id=None,
        now=datetime.now(UTC) - timedelta(days=1),
        ttl=timedelta(minutes=15),
    )
    # A browser may still send yesterday's token, or anything: signing in must still work.
    anonymous = gql.anonymous()
    for header in (f"Bearer {stale}", "Bearer garbage", "Basic abc"):
        body = await anonymous.post(
            LOGIN, {"u": "admin.d01t01", "p": DEMO_PASSWORD}, authorization=header
        )
        assert "errors" not in body, (header, body)
        refreshed = await anonymous.post(
            REFRESH, {"r": body["data"]["login"]["refreshToken"]}, authorization=header
        )
        assert "errors" not in refreshed, (header, refreshed)


async def test_without_a_principal_only_sign_in_answers(client: GraphQLClient) -> None:
    anonymous = client.anonymous()
    tenant = "VGVuYW50OjE="  # Tenant:1
    for query in (
        ME,
        "{ tenants { totalCount } }",
        "{ branches { totalCount } }",
        "{ members { totalCount } }",
        "{ overview { members } }",
        "{ auditLog { totalCount } }",
        f'{{ node(id: "{tenant}") {{ id }} }}',
        LOGOUT,
        f'mutation {{ grantRole(username: "m.10", role: JUNIOR_ADMIN, tenantId: "{tenant}")'
        " { role } }",
        f'mutation {{ revokeRole(username: "m.10", role: JUNIOR_ADMIN, tenantId: "{tenant}") }}',
    ):
        assert await refused(anonymous, query) == "missing", query
    # refreshToken answers: its refusal is about the token, not about a missing sign-in.
    assert await refused(anonymous, REFRESH, {"r": "ehr_unknown"}) == "invalid"
