"""Operation limits, the rate limit and the execution timeout: one extension on every operation.

Before validation (graphql-core's overlapping-fields rule alone takes ~1 s on some documents of
a few thousand tokens) each operation is measured once per document and compared with the
settings (`max_depth`, `max_aliases`, ... in server/settings.py):

- tokens: the parser stops at the first token over `max_tokens` (schema/errors.py names it);
- depth: fields nested in fields, fragments followed (a fragment already on the way is not
  entered twice, so a circular document ends with NoFragmentCycles' validation error); a
  connection counts as one level: its `edges { node { ... } }` add none;
- aliases and directives: as written in the operation and the fragments it uses, each
  fragment once (spreading it again adds no response key);
- root fields: the fields of the operation's top level, fragments there included;
- cost: each field costs 1; a list multiplies the cost of one item (at least 1, so scalars in
  a list count once per item) by its size: the `first` of the list, or of the connection
  holding it (`members(first: 50) { edges ...}`), 20 (the API's default page) when a
  connection is not given one, capped at 100 (beyond it the field answers BAD_USER_INPUT).
  Lists that take no `first` (a template's indicators, a cadre's five dimensions) are as long
  as the data makes them, not the caller, and count as one item. Nested lists multiply, and a
  fragment spread counts each time (a fragment "bomb" is measured as arithmetic, once per
  fragment). Introspection fields (`__schema`, `__type`) cost 1: the schema bounds them, and
  graphql-core's MaxIntrospectionDepthRule their nesting.

An operation over a limit gets one OPERATION_TOO_COMPLEX error naming the `limit`, its `max`
and the `value`, and never reaches validation or a resolver. Measures are cached per document
(ParserCache hands out one DocumentNode per query text); a cost that depends on a variable
(`first: $n`) is cached per value.

Then, once the operation is valid and about to run, its cost is charged to the caller's rate
limits (server/ratelimit.py), and execution runs under EHOME_QUERY_TIMEOUT: past it the
operation is cancelled (a mutation's transaction rolls back) and answered with TIMEOUT. For a
subscription the timeout covers starting it, not the stream it then delivers.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from schema.context import Context
from schema.pagination import DEFAULT_FIRST, MAX_FIRST
from server import ratelimit
from server.errors import OperationTimedOut, OperationTooComplex, RateLimited
from server.settings import Settings

CACHE_SIZE = 256  # documents, as ParserCache
COSTS_PER_OPERATION = 64  # costs kept per operation whose `first` comes from variables
META = frozenset({"__schema", "__type"})
DATA_BOUND = 1  # the items a list without `first` counts as
DEFAULTS = Settings()  # for a schema run without ehome's Context (a bare schema.execute)

# The limits in the order they are checked, with what the message calls them.
LABELS = {
    "tokens": "token count",
    "depth": "depth",
    "aliases": "alias count",
    "directives": "directive count",
    "rootFields": "root field count",
    "cost": "cost",
}


def too_complex(limit: str, maximum: int, value: int) -> OperationTooComplex:
    return OperationTooComplex(
        f"the operation's {LABELS[limit]} {value} exceeds the limit of {maximum}",
        limit=limit,
        max=maximum,
        value=value,
    )


@dataclass(slots=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    fields: int = 0  # fields at this level: the root fields, for an operation
    cost: int = 0

    def add(self, other: Measure) -> None:
        self.depth = max(self.depth, other.depth)
        self.fields += other.fields
        self.cost += other.cost


_NOTHING = Measure()


def _unwrap(gql_type: Any) -> tuple[Any, bool]:
    """The named type under the wrappers, and whether a list is among them."""
    is_list = False
    while isinstance(gql_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(gql_type, GraphQLList)
        gql_type = gql_type.of_type
    return gql_type, is_list


def _is_edge(gql_type: Any) -> bool:
    return (
        isinstance(gql_type, GraphQLObjectType)
        and "node" in gql_type.fields
        and "cursor" in gql_type.fields
    )


def _written(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[int, int]:
    """Aliases and directives as written in the operation and the fragments it uses, each
    fragment once (spreading a fragment again adds no response key of its own)."""
    aliases = 0
    directives = len(operation.directives or ()) + sum(
        len(d.directives or ()) for d in operation.variable_definitions or ()
    )
    pending = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    directives += len(fragment.directives or ())
                    pending.append(fragment.selection_set)
    return aliases, directives


class _Walk:
    """Measures the depth, root fields and cost of one operation of a document that may
    still be invalid: unknown fields and fragments count as plain fields, and circular
    fragments are cut."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables or {}
        self.defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        self.cost_variables: set[str] = set()
        self._done: dict[tuple[str, int | None], Measure] = {}
        self._entered: set[str] = set()

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        root = {
            "query": self.schema.query_type,
            "mutation": self.schema.mutation_type,
            "subscription": self.schema.subscription_type,
        }.get(operation.operation.value)
        measure = self.selections(operation.selection_set, root, None)
        # As graphql-depth-limit counts: the root fields are at depth 0.
        measure.depth = max(0, measure.depth - 1)
        measure.aliases, measure.directives = _written(operation, self.fragments)
        return measure

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None
    ) -> Measure:
        """`page`: the `first` of the connection these selections are on, for its lists."""
        total = Measure()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total.add(self.field(selection, parent, page))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total.add(self.selections(selection.selection_set, inner, page))
            elif isinstance(selection, FragmentSpreadNode):
                total.add(self.spread(selection.name.value, page))
        return total

    def spread(self, name: str, page: int | None) -> Measure:
        # Once per fragment (and page): a fragment spread twice in each of twenty fragments
        # is 2**20 fields, and a sum, not a walk.
        done = self._done.get((name, page))
        if done is not None:
            return done
        fragment = self.fragments.get(name)
        if fragment is None or name in self._entered:
            return _NOTHING  # unknown, or circular: validation says so
        self._entered.add(name)
        try:
            condition = self.schema.get_type(fragment.type_condition.name.value)
            measure = self.selections(fragment.selection_set, condition, page)
        finally:
            self._entered.discard(name)
        self._done[(name, page)] = measure
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> Measure:
        name = node.name.value
        measure = Measure(depth=1, fields=1, cost=1)
        if name in META:
            return measure
        field_def: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            field_def = parent.fields.get(name)
        named, is_list = _unwrap(field_def.type) if field_def is not None else (None, False)
        first = self.first(node, field_def) if field_def and "first" in field_def.args else None
        inner = _NOTHING
        if node.selection_set is not None:
            inner = self.selections(node.selection_set, named, None if is_list else first)
        # A connection's `edges { node }` is how a list is spelled, not two more levels.
        if (name == "edges" and _is_edge(named)) or (name == "node" and _is_edge(parent)):
            measure.depth = 0
        measure.depth += inner.depth
        if is_list:
            size = first if first is not None else page if page is not None else DATA_BOUND
            measure.cost += size * max(inner.cost, 1)
        else:
            measure.cost += inner.cost
        return measure

    def first(self, node: FieldNode, field_def: GraphQLField) -> int:
        """The page size a field asks for, as the resolver will see it, capped at MAX_FIRST."""
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value == "first":
                literal = argument.value
                if isinstance(literal, VariableNode):
                    variable = literal.name.value
                    self.cost_variables.add(variable)
                    if variable in self.variables:
                        value = self.variables[variable]
                    else:
                        literal = self.defaults.get(variable)  # type: ignore[assignment]
                if isinstance(literal, IntValueNode):
                    # (A literal of thousands of digits would not even convert.)
                    value = int(literal.value) if len(literal.value) < 10 else MAX_FIRST
                break
        if type(value) is not int:
            default = field_def.args["first"].default_value
            value = default if type(default) is int else DEFAULT_FIRST
        return min(max(value, 0), MAX_FIRST)


@dataclass(slots=True)
class Analysis:
    """One operation of one document, measured with its variables' defaults."""

    measure: Measure
    # Variables a `first` reads: the cost is measured again for other values of them.
    cost_variables: tuple[str, ...]
    costs: dict[tuple[Any, ...], int]


_analyses: OrderedDict[int, tuple[DocumentNode, dict[str | None, Analysis | None]]] = OrderedDict()


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _analyze(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Analysis | None:
    entry = _analyses.get(id(document))
    if entry is None or entry[0] is not document:
        entry = (document, {})
        _analyses[id(document)] = entry
        if len(_analyses) > CACHE_SIZE:
            _analyses.popitem(last=False)
    else:
        _analyses.move_to_end(id(document))
    by_name = entry[1]
    if operation_name in by_name:
        return by_name[operation_name]
    operation = _operation(document, operation_name)
    analysis = None
    if operation is not None:
        walk = _Walk(schema, _fragments(document), operation, None)
        measure = walk.operation(operation)
        analysis = Analysis(measure, tuple(sorted(walk.cost_variables)), {})
    by_name[operation_name] = analysis
    return analysis


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> Measure | None:
    """The operation's measure with these variables (None: no such operation)."""
    analysis = _analyze(schema, document, operation_name)
    if analysis is None:
        return None
    if not analysis.cost_variables or not variables:
        return analysis.measure
    # Only ints matter (anything else fails coercion, and is measured as absent).
    key = tuple(
        v if type(v := variables.get(name)) is int else None for name in analysis.cost_variables
    )
    cost = analysis.costs.get(key)
    if cost is None:
        operation = _operation(document, operation_name)
        assert operation is not None
        cost = _Walk(schema, _fragments(document), operation, variables).operation(operation).cost
        if len(analysis.costs) >= COSTS_PER_OPERATION:
            analysis.costs.clear()
        analysis.costs[key] = cost
    return replace(analysis.measure, cost=cost)


def check(measure: Measure, settings: Settings) -> tuple[str, int, int] | None:
    """The first limit the measure exceeds: its name, maximum and the measured value."""
    for limit, value, maximum in (
        ("depth", measure.depth, settings.max_depth),
        ("aliases", measure.aliases, settings.max_aliases),
        ("directives", measure.directives, settings.max_directives),
        ("rootFields", measure.fields, settings.max_root_fields),
        ("cost", measure.cost, settings.max_cost),
    ):
        if value > maximum:
            return limit, maximum, value
    return None


@lru_cache(maxsize=64)
def _refusal(limit: str, maximum: int, value: int) -> type[ValidationRule]:
    """A validation rule that reports the refusal and nothing else: swapped in for the whole
    rule set, it answers through strawberry's own path for validation errors (HTTP and
    WebSocket, queries and subscriptions alike) while the costly rules never run. One class per
    refusal, so that ValidationCache answers a repeated one from its cache."""
    error = too_complex(limit, maximum, value)

    class Refusal(ValidationRule):
        def enter_document(self, *_args: Any) -> None:
            self.report_error(GraphQLError(error.message, original_error=error))

    return Refusal


class OperationLimits(SchemaExtension):
    """Depth, aliases, tokens, directives, root fields and cost, checked before validation;
    the rate limit charged by cost and the timeout, around execution."""

    cost = 0

    def _settings(self) -> Settings:
        context = self.execution_context.context
        return context.runtime.settings if isinstance(context, Context) else DEFAULTS

    def on_operation(self) -> Iterator[None]:
        # The parser itself stops at the first token over the limit: a huge document is
        # never built (ParserCache passes the option on, and keys its cache by it).
        self.execution_context.parse_options["max_tokens"] = self._settings().max_tokens
        yield

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None:
            measure = measure_operation(
                execution.schema._schema,
                document,
                execution.operation_name,
                execution.variables,
            )
            if measure is not None:
                self.cost = measure.cost
                refused = check(measure, self._settings())
                if refused is not None:
                    execution.validation_rules = (_refusal(*refused),)
        yield

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        settings = self._settings()
        if isinstance(context, Context):
            try:
                await ratelimit.charge(
                    context.runtime,
                    principal=context.principal.subject if context.principal else None,
                    address=context.client_address,
                    cost=self.cost,
                )
            except RateLimited as refused:
                if context.request is not None:  # for a Retry-After header
                    context.request.state.retry_after = refused.extensions["retryAfter"]
                raise
        deadline = asyncio.timeout(settings.query_timeout)
        try:
            async with deadline:
                yield
        except TimeoutError:
            if not deadline.expired():
                raise
            raise OperationTimedOut(
                f"the operation ran longer than {settings.query_timeout} s and was stopped",
                seconds=settings.query_timeout,
            ) from None
