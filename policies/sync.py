"""Keeping every process's authorization state current: a change made in one process (a grant,
a logout, a partner key) is applied there at once and announced on the control channel, and
every other process applies it when the announcement arrives (within milliseconds on Redis).
After the bus reconnects, a process reloads everything, since announcements may be lost."""

from __future__ import annotations

import logging
import uuid

from policies.enforcer import Authz
from server.auth.identity import Identity
from server.feed.bus import LocalBus

CHANNEL = "control"
log = logging.getLogger("ehome.policy")


class Control:
    def __init__(self, bus: LocalBus, authz: Authz, identity: Identity) -> None:
        self.bus, self.authz, self.identity = bus, authz, identity
        self.origin = uuid.uuid4().hex[:12]
        bus.subscribe(CHANNEL, self._receive)
        bus.on_reconnect(self.reload)

    async def reload(self) -> None:
        await self.authz.load()
        await self.identity.load()

    async def policy_changed(self) -> None:
        await self.authz.load()
        await self._announce("policy")

    async def partners_changed(self) -> None:
        await self.identity.load()
        await self._announce("partners")

    async def session_revoked(self, session_id: str) -> None:
        self.identity.revoke(session_id)
        await self._announce(f"revoke {session_id}")

    async def _announce(self, message: str) -> None:
        if type(self.bus) is not LocalBus:  # in one process there is nobody else to tell
            await self.bus.publish(CHANNEL, f"{self.origin} {message}")

    async def _receive(self, message: str) -> None:
        origin, _, what = message.partition(" ")
        if origin == self.origin:
            return  # our own announcement, applied already
        kind, _, argument = what.partition(" ")
        if kind == "policy":
            await self.authz.load()
        elif kind == "partners":
            await self.identity.load()
        elif kind == "revoke" and argument:
            self.identity.revoke(argument)
        else:
            log.warning("unknown control message %r", message)
