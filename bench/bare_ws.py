"""The baseline of bench/feed.py: a bare `websockets` server that fans the same frames out to
the same clients, with nothing else to do (no GraphQL, no database, no HTTP).

Each client sends {"scope": "/d01/t03/"} first; once CLIENTS are connected, the server sends
every event under a client's scope to it, as a graphql-transport-ws `next` frame, at RATE a
second. Run as `python bench/bare_ws.py PORT EVENTS_JSON RATE CLIENTS`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

clients: dict[ServerConnection, str] = {}
everyone_here = asyncio.Event()
expected_clients = 0


async def handler(ws: ServerConnection) -> None:
    hello = json.loads(await ws.recv())
    clients[ws] = hello["scope"]
    await ws.send(json.dumps({"type": "ready"}))
    if len(clients) >= expected_clients:
        everyone_here.set()
    try:
        await ws.wait_closed()
    finally:
        clients.pop(ws, None)


async def main(port: int, events: list[dict[str, Any]], rate: float) -> None:
    # Uncompressed, like ehome's frames: the same bytes on the wire.
    async with serve(handler, "127.0.0.1", port, max_queue=None, compression=None):
        await everyone_here.wait()
        started = time.perf_counter()
        for n, event in enumerate(events):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            frame = json.dumps(
                {
                    "id": "1",
                    "type": "next",
                    "payload": {
                        "data": {
                            "feed": {
                                "title": event["title"],
                                "sent": time.time(),
                                "tenant": {"code": event["code"]},
                            }
                        }
                    },
                },
                ensure_ascii=False,
            )
            for ws, scope in list(clients.items()):
                if event["path"].startswith(scope):
                    asyncio.ensure_future(ws.send(frame))  # noqa: RUF006 (in order, not awaited)
        await asyncio.sleep(3)


if __name__ == "__main__":
    expected_clients = int(sys.argv[4])
    asyncio.run(
        main(int(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()), float(sys.argv[3]))
    )
