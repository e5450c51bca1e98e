"""Persisted operations: Automatic Persisted Queries for every client, and allow-lists for
partner keys.

- APQ (Apollo's protocol): a request may carry `extensions.persistedQuery = {"version": 1,
  "sha256Hash": "<hex>"}` instead of its query text. An unknown hash answers the error
  `PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND), and the client sends the text with
  the hash; the text must hash to it (else BAD_USER_INPUT), and it is kept once the operation
  has run (parsed and validated): in a bounded in-process LRU, and in Redis when
  EHOME_REDIS_URL is set, so every process behind the load balancer knows it.
- Allow-lists: `ehome partner allow KEY FILE.graphql` registers the operations of a file for
  a partner key (table persisted_operations). A key with any registered operation may run only
  those: by their registered hash (with no text), or by any text whose selected operation,
  printed canonically with the fragments it uses, hashes to a registered one. Anything else is
  FORBIDDEN, with a message that names nothing of the schema, and audited as a refusal.

Every process loads the allow-lists from the database on its first request and again when the
control channel says "partners" (the CLI announces it on a shared Redis; policies/sync.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass

import redis.asyncio as redis
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    print_ast,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.sync import CHANNEL
from server.audit import service as audit
from server.auth.models import PartnerKey, PersistedOperation
from server.auth.principal import Principal
from server.errors import AppError, BadUserInput, Forbidden
from server.feed.bus import LocalBus
from tenants.models import Tenant

log = logging.getLogger("ehome.persisted")

APQ_VERSION = 1
APQ_ENTRIES = 2_000  # texts kept per process
APQ_CHARS = 16_000_000  # and at most this many characters of them in all
APQ_MAX_TEXT = 200_000  # longer texts are run, not kept
APQ_TTL = 24 * 3600  # seconds a text stays in Redis after it was last registered
DIGESTS = 1_024  # (text digest, operation name) -> canonical digest, for allow-listed keys
_HEX = re.compile(r"^[0-9a-f]{64}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedQueryNotFound(AppError):
    """The exact message and code Apollo clients look for before sending the text."""

    code = "PERSISTED_QUERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class Unregistered(Forbidden):
    """An allow-listed partner key asked for an operation not registered for it."""

    def __init__(self, partner: AllowList, digest: str | None, operation: str | None) -> None:
        super().__init__("this partner key may run only the operations registered for it")
        self.partner, self.digest, self.operation = partner, digest, operation

    def audit_entry(self, client_address: str | None) -> audit.Entry:
        return audit.Entry(
            principal=f"partner:{self.partner.name}",
            action="denied",  # counted with other refusals: a burst raises an alert
            tenant_path=self.partner.tenant_path,
            client_address=client_address,
            detail={
                "what": "run an unregistered operation",
                "sha256": self.digest,
                "operationName": self.operation,
            },
        )


# -- canonical operations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    name: str | None
    document: str  # the operation, then the fragments it uses by name, printed canonically
    sha256: str


def _spreads(selection_set: SelectionSetNode | None, found: list[str]) -> None:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FragmentSpreadNode):
            found.append(selection.name.value)
        elif isinstance(selection, FieldNode | InlineFragmentNode):
            _spreads(selection.selection_set, found)


def canonical(document: DocumentNode, operation: OperationDefinitionNode) -> Operation:
    """The operation with the fragments it uses (transitively), printed canonically: what a
    registration stores and a request is compared by. Whitespace, comments, other operations
    and the order of fragments do not change it. KeyError names a missing fragment."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    used: dict[str, FragmentDefinitionNode] = {}
    pending: list[str] = []
    _spreads(operation.selection_set, pending)
    while pending:
        name = pending.pop()
        if name not in used:
            used[name] = fragments[name]
            _spreads(used[name].selection_set, pending)
    printed = print_ast(DocumentNode(definitions=(operation, *(used[n] for n in sorted(used)))))
    return Operation(operation.name.value if operation.name else None, printed, sha256(printed))


def operations_in(source: str) -> list[Operation]:
    """Every operation of a .graphql file, canonical; ValueError says what is wrong."""
    try:
        document = parse(source)
    except GraphQLError as exc:
        raise ValueError(exc.message) from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise ValueError("the file holds no operation")
    names = [o.name.value if o.name else None for o in operations]
    if len(operations) > 1 and None in names:
        raise ValueError("name every operation of a file that holds several")
    if len(set(names)) != len(names):
        raise ValueError("two operations have the same name")
    found = []
    for operation in operations:
        try:
            found.append(canonical(document, operation))
        except KeyError as missing:
            raise ValueError(f"fragment {missing.args[0]} is used but not defined") from None
    return found


def _selected(query: str, operation_name: str | None) -> str | None:
    """The canonical digest of the operation a request would run; None when there is none."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return None
    # Without a name strawberry runs the first operation: judge that one.
    try:
        return canonical(document, operations[0]).sha256
    except KeyError:
        return None


# -- the stores -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AllowList:
    name: str  # the partner's
    tenant_path: str
    documents: dict[str, str]  # canonical sha256 -> document


class ApqCache:
    """Query texts by the SHA-256 of their text: a bounded LRU in this process, and Redis
    (shared, with a time to live) when configured. Redis failing only costs a miss."""

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._prefix = f"{prefix}:apq:"

    def __len__(self) -> int:
        return len(self._texts)

    async def get(self, digest: str) -> str | None:
        text = self._texts.get(digest)
        if text is not None:
            self._texts.move_to_end(digest)
            return text
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._prefix + digest)
        except (redis.RedisError, OSError) as exc:
            log.warning("APQ lookup in Redis failed: %s", exc)
            return None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if sha256(text) != digest:  # not ours, or damaged: never run it
            return None
        self._keep(digest, text)
        return text

    async def put(self, digest: str, text: str) -> None:
        if digest in self._texts or len(text) > APQ_MAX_TEXT:
            return
        self._keep(digest, text)
        if self._redis is not None:
            try:
                await self._redis.set(self._prefix + digest, text, ex=APQ_TTL)
            except (redis.RedisError, OSError) as exc:
                log.warning("APQ store in Redis failed: %s", exc)

    def _keep(self, digest: str, text: str) -> None:
        self._texts[digest] = text
        self._chars += len(text)
        while len(self._texts) > APQ_ENTRIES or self._chars > APQ_CHARS:
            _, dropped = self._texts.popitem(last=False)
            self._chars -= len(dropped)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class Resolved:
    query: str | None
    remember: str | None = None  # an APQ hash to keep the text under once it has run


class Persisted:
    """What the GraphQL view asks before running an operation (server/graphql_view.py)."""

    def __init__(
        self, engine: AsyncEngine, bus: LocalBus, *, redis_url: str | None, prefix: str
    ) -> None:
        self.engine = engine
        self.apq = ApqCache(redis_url, prefix)
        self.lists: dict[str, AllowList] = {}  # by partner name
        self._digests: OrderedDict[tuple[str, str | None], str | None] = OrderedDict()
        self._loaded = False
        self._loading = asyncio.Lock()
        bus.subscribe(CHANNEL, self._on_control)
        bus.on_reconnect(self.load)

    async def load(self) -> None:
        """(Re)load the allow-lists of the partner keys not revoked."""
        async with self._loading:
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    select(
                        PartnerKey.name,
                        Tenant.path,
                        PersistedOperation.sha256,
                        PersistedOperation.document,
                    )
                    .join(PartnerKey, PartnerKey.id == PersistedOperation.partner_key_id)
                    .join(Tenant, Tenant.id == PartnerKey.tenant_id)
                    .where(PartnerKey.revoked_at.is_(None))
                )
                lists: dict[str, AllowList] = {}
                for row in rows:
                    entry = lists.setdefault(row.name, AllowList(row.name, row.path, {}))
                    entry.documents[row.sha256] = row.document
            self.lists = lists
            self._loaded = True

    async def ready(self) -> None:
        if not self._loaded:
            await self.load()

    async def _on_control(self, message: str) -> None:
        _origin, _, what = message.partition(" ")
        if what.partition(" ")[0] == "partners":
            await self.load()

    def allow_list(self, principal: Principal | None) -> AllowList | None:
        if principal is None or principal.kind != "partner":
            return None
        return self.lists.get(principal.name)

    async def resolve(
        self,
        query: str | None,
        operation_name: str | None,
        extensions: dict[str, object] | None,
        principal: Principal | None,
    ) -> Resolved:
        """The text to run. Raises PersistedQueryNotFound, BadUserInput (a malformed
        extension, a hash that is not the text's) or Unregistered."""
        if not self._loaded:
            await self.load()
        allowed = self.allow_list(principal)
        persisted = extensions.get("persistedQuery") if extensions else None
        remember = None
        if persisted is not None:
            digest = _apq_hash(persisted)
            if query is None:
                if allowed is not None and digest in allowed.documents:
                    return Resolved(allowed.documents[digest])  # registered: nothing to check
                query = await self.apq.get(digest)
                if query is None:
                    raise PersistedQueryNotFound()
            elif sha256(query) != digest:
                raise BadUserInput(
                    "provided sha does not match query",
                    argument="extensions.persistedQuery.sha256Hash",
                )
            else:
                remember = digest
        if allowed is not None and query is not None:
            self._check(allowed, query, operation_name)
        return Resolved(query, remember)

    async def remember(self, digest: str, query: str) -> None:
        await self.apq.put(digest, query)

    def _check(self, allowed: AllowList, query: str, operation_name: str | None) -> None:
        key = (sha256(query), operation_name)
        if key in self._digests:
            self._digests.move_to_end(key)
            digest = self._digests[key]
        else:
            digest = self._digests[key] = _selected(query, operation_name)
            if len(self._digests) > DIGESTS:
                self._digests.popitem(last=False)
        if digest is None or digest not in allowed.documents:
            raise Unregistered(allowed, digest, operation_name)

    async def close(self) -> None:
        await self.apq.close()


def _apq_hash(persisted: object) -> str:
    argument = "extensions.persistedQuery"
    if not isinstance(persisted, dict):
        raise BadUserInput("persistedQuery must be an object", argument=argument)
    if persisted.get("version") != APQ_VERSION:
        raise BadUserInput("only persistedQuery version 1 is supported", argument=argument)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HEX.match(digest.lower()):
        raise BadUserInput(
            "sha256Hash must be 64 hexadecimal digits", argument=f"{argument}.sha256Hash"
        )
    return digest.lower()
