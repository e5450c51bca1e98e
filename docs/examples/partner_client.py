"""An ehome partner client: read the tenants and members a partner key may see, page by page,
and follow the live feed of branch activities.

    pip install "gql[httpx,websockets]>=4.4"
    export EHOME_URL=https://ehome.example.org    # the server (its GraphQL endpoint is /graphql)
    export EHOME_PARTNER_KEY=ehk_...               # from `ehome partner create`
    python partner_client.py tenants
    python partner_client.py members --page-size 50
    python partner_client.py feed --after <cursor>  # runs until Ctrl-C

Copy it and change what you need; docs/partners.md explains the API it uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

TENANTS = gql(
    """
    query Tenants($first: Int, $after: String) {
      tenants(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { id code name level path } }
      }
    }
    """
)
MEMBERS = gql(
    """
    query Members($under: ID, $first: Int, $after: String) {
      members(under: $under, first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { id name status joinedOn branch { id name } } }
      }
    }
    """
)
FEED = gql(
    """
    subscription Feed($kinds: [FeedKind!], $after: String) {
      feed(kinds: $kinds, after: $after) {
        cursor kind light title occurredAt tenant { name } branch { name } payload
      }
    }
    """
)

# Close codes of the WebSocket after which reconnecting with the same key cannot help.
REFUSED = {4400, 4401, 4403}


class Refused(Exception):
    """The server refused the key (unknown, revoked) or the request (missing scope)."""

    def __init__(self, message: str, code: str | int | None) -> None:
        super().__init__(message)
        self.code = code


def graphql_endpoints(base_url: str) -> tuple[str, str]:
    """The HTTP and WebSocket URLs of /graphql on the server at `base_url`."""
    http = base_url.rstrip("/")
    if not http.endswith("/graphql"):
        http += "/graphql"
    return http, "ws" + http.removeprefix("http")  # http -> ws, https -> wss


def http_client(base_url: str, key: str) -> Client:
    http, _ws = graphql_endpoints(base_url)
    transport = HTTPXAsyncTransport(
        url=http,
        headers={
            "Authorization": f"Bearer {key}",
            "Accept": "application/graphql-response+json, application/json",
        },
        timeout=30,
    )
    return Client(transport=transport)


def websocket_client(base_url: str, key: str) -> Client:
    _http, ws = graphql_endpoints(base_url)
    transport = WebsocketsTransport(
        url=ws,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
        # The key travels in connection_init, not in a header: browsers cannot set those.
        init_payload={"authorization": f"Bearer {key}"},
    )
    return Client(transport=transport)


def _refusal(error: TransportQueryError) -> Refused | None:
    """A query error that retrying will not fix, as a Refused."""
    for item in error.errors or []:
        code = (item.get("extensions") or {}).get("code")
        if code in ("UNAUTHENTICATED", "FORBIDDEN"):
            return Refused(item.get("message", code), code)
    return None


def _retry_after(error: TransportQueryError) -> float | None:
    """Seconds to wait before trying again, when the error is RATE_LIMITED."""
    for item in error.errors or []:
        extensions = item.get("extensions") or {}
        if extensions.get("code") == "RATE_LIMITED":
            return float(extensions.get("retryAfter") or 1)
    return None


async def paginate(
    base_url: str,
    key: str,
    request: GraphQLRequest,
    field: str,
    variables: dict[str, Any] | None = None,
    page_size: int = 100,
) -> AsyncIterator[dict[str, Any]]:
    """Every node of the connection `field`, following `endCursor` page by page."""
    after = None
    async with http_client(base_url, key) as session:
        while True:
            page_variables = {**(variables or {}), "first": page_size, "after": after}
            try:
                data = await session.execute(
                    GraphQLRequest(request, variable_values=page_variables)
                )
            except TransportQueryError as exc:
                wait = _retry_after(exc)
                if wait is None:
                    raise _refusal(exc) or exc from None
                await asyncio.sleep(wait)  # RATE_LIMITED: ask for the same page again later
                continue
            page = data[field]
            for edge in page["edges"]:
                yield edge["node"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]


async def tenants(base_url: str, key: str, *, page_size: int = 100) -> list[dict[str, Any]]:
    """The tenants of the key's subtree (scope read:tenants)."""
    return [node async for node in paginate(base_url, key, TENANTS, "tenants", None, page_size)]


async def members(
    base_url: str, key: str, *, under: str | None = None, page_size: int = 100
) -> list[dict[str, Any]]:
    """The members of the key's subtree, or of the tenant `under` in it (read:members)."""
    found = paginate(base_url, key, MEMBERS, "members", {"under": under}, page_size)
    return [node async for node in found]


async def feed(
    base_url: str,
    key: str,
    *,
    kinds: Sequence[str] = ("BRANCH_ACTIVITY",),
    after: str | None = None,
    max_delay: float = 30.0,
) -> AsyncIterator[dict[str, Any]]:
    """The feed's events in the key's subtree, for ever (scope read:feed).

    With `after` (an event's `cursor`) the events stored since come first. After a dropped
    connection, or after falling behind (SUBSCRIBER_TOO_SLOW), it subscribes again after the
    last event it yielded: nothing is missed, nothing comes twice.
    """
    delay = 1.0
    while True:
        try:
            async with websocket_client(base_url, key) as session:
                variables = {"kinds": list(kinds), "after": after}
                request = GraphQLRequest(FEED, variable_values=variables)
                async for data in session.subscribe(request):
                    event: dict[str, Any] = data["feed"]
                    after, delay = event["cursor"], 1.0
                    yield event
        except TransportQueryError as exc:
            refused = _refusal(exc)
            if refused:
                raise refused from None
            slow = [e for e in exc.errors or [] if (e.get("extensions") or {}).get("lastCursor")]
            if not slow:
                raise
            after = slow[0]["extensions"]["lastCursor"]  # resume where the server stopped
        except (TransportConnectionFailed, TransportServerError, OSError) as exc:
            code = _close_code(exc)
            if code in REFUSED:
                raise Refused("the server closed the connection", code) from None
            # A restart, a network hiccup: wait a little, then resume after the last cursor.
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


def _close_code(exc: BaseException) -> int | None:
    """The WebSocket close code behind a gql transport error, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        received = getattr(seen, "rcvd", None)  # websockets.exceptions.ConnectionClosed
        if received is not None:
            return int(received.code)
        seen = seen.__cause__ or seen.__context__
    return None


# -- the command line -------------------------------------------------------------------------


def _print(row: dict[str, Any]) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


async def run(args: argparse.Namespace, base_url: str, key: str) -> int:
    if args.command == "tenants":
        for tenant in await tenants(base_url, key, page_size=args.page_size):
            _print(tenant)
    elif args.command == "members":
        for member in await members(base_url, key, under=args.under, page_size=args.page_size):
            _print(member)
    else:
        received = 0
        async for event in feed(base_url, key, kinds=args.kinds, after=args.after):
            _print(event)
            received += 1
            if args.count and received >= args.count:
                break
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="An ehome partner client. Configured by the environment: EHOME_URL (the "
        "server, e.g. https://ehome.example.org) and EHOME_PARTNER_KEY (an ehk_... key from "
        "`ehome partner create`). Prints one JSON object a line."
    )
    sub = p.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("tenants", help="the tenants of the key's subtree (read:tenants)")
    listing.add_argument("--page-size", type=int, default=100, help="1 to 100 (default 100)")
    people = sub.add_parser("members", help="the members of the key's subtree (read:members)")
    people.add_argument("--under", help="a tenant's id: only its subtree")
    people.add_argument("--page-size", type=int, default=100, help="1 to 100 (default 100)")
    live = sub.add_parser("feed", help="follow the live feed (read:feed); Ctrl-C stops")
    live.add_argument("--after", help="an event's cursor: replay what came after it first")
    live.add_argument(
        "--kinds",
        nargs="+",
        default=["BRANCH_ACTIVITY"],
        help="BRANCH_ACTIVITY ASSESSMENT SECURITY_ALERT WARNING (default BRANCH_ACTIVITY)",
    )
    live.add_argument("--count", type=int, default=0, help="stop after this many events")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    base_url = os.environ.get("EHOME_URL", "").strip()
    key = os.environ.get("EHOME_PARTNER_KEY", "").strip()
    if not base_url or not key:
        print("partner_client: set EHOME_URL and EHOME_PARTNER_KEY", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args, base_url, key))
    except Refused as exc:
        print(f"partner_client: refused: {exc} ({exc.code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
