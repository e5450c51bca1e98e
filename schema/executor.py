"""A planned executor for queries: graphql-core's results at a fraction of its per-field cost.

graphql-core spends ~4 µs on every field (resolve info, resolver wrapper, completion checks);
a page of 50 members with their branch and tenant is ~450 fields, several times the cost of its
SQL (../shared/PERFORMANCE.md). For a query operation this executor compiles the document once
into a plan (fields merged per response key, fragments expanded, type wrappers resolved) and
then runs it over the objects the resolvers return:

- plain attributes (strawberry's basic fields) are read with getattr and leaves serialized by
  their own GraphQL type, with no resolve info, no wrapper;
- resolver fields are called exactly as graphql-core calls them (same info, same arguments);
- awaitables (resolvers, Lazy relations) are gathered level by level, so DataLoaders batch.

Anything the plan does not cover (directives, introspection, middleware, mutations) runs on
graphql-core. Any error or null in a non-null position also re-runs the operation on
graphql-core, which is safe because queries have no side effects, and keeps error messages,
paths and null propagation exactly graphql-core's. tests/test_executor.py checks both paths
give identical results for random queries.
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

LEAF, OBJECT, ABSTRACT, LIST = range(4)
# Python types a plain attribute may hold that are never awaitable: their fields take the
# shortest way (see PlannedExecutionContext._object).
PLAIN = frozenset({str, int, float, bool, datetime.date, datetime.datetime})
PLAN_CACHE_SIZE = 256


class Unsupported(Exception):
    """The operation uses something the planned path does not cover."""


class Fallback(Exception):
    """Re-run on graphql-core (an error, or a null where the schema forbids one)."""


@dataclass(slots=True)
class Shape:
    """What a field's value becomes: its type wrappers, resolved once."""

    non_null: bool
    kind: int
    leaf: Callable[[Any], Any] | None = None
    plan: ObjectPlan | None = None
    abstract: AbstractPlan | None = None
    item: Shape | None = None


@dataclass(slots=True)
class FieldPlan:
    key: str
    field_def: GraphQLField | None  # None for __typename
    nodes: list[FieldNode]
    attr: str | None  # the Python attribute of a basic field; None: call the resolver
    has_args: bool
    shape: Shape | None


@dataclass(slots=True)
class ObjectPlan:
    graphql_type: GraphQLObjectType
    cls: type | None
    fields: list[FieldPlan] = field(default_factory=list)


@dataclass(slots=True)
class AbstractPlan:
    graphql_type: GraphQLAbstractType
    selections: list[SelectionSetNode]
    compiler: Compiler
    concrete: dict[str, ObjectPlan] = field(default_factory=dict)

    def plan_for(self, value: Any) -> ObjectPlan:
        definition = getattr(type(value), "__strawberry_definition__", None)
        name = getattr(definition, "name", None)
        if name is None:
            raise Fallback
        plan = self.concrete.get(name)
        if plan is None:
            runtime = self.compiler.schema.get_type(name)
            if not isinstance(runtime, GraphQLObjectType) or not self.compiler.schema.is_sub_type(
                self.graphql_type, runtime
            ):
                raise Fallback
            try:
                plan = self.compiler.object_plan(runtime, self.selections)
            except Unsupported as exc:  # e.g. a directive in a fragment on this type
                raise Fallback from exc
            self.concrete[name] = plan
        return plan


class Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments

    def _applies(self, condition: str | None, runtime: GraphQLObjectType) -> bool:
        if condition is None or condition == runtime.name:
            return True
        conditional = self.schema.get_type(condition)
        return is_abstract_type(conditional) and self.schema.is_sub_type(
            conditional,
            runtime,
        )

    def _collect(
        self,
        runtime: GraphQLObjectType,
        selection_sets: list[SelectionSetNode],
        into: dict[str, list[FieldNode]],
    ) -> None:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if selection.directives:
                    raise Unsupported("directives")
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    into.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if self._applies(condition.name.value if condition else None, runtime):
                        self._collect(runtime, [selection.selection_set], into)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments[selection.name.value]
                    if fragment.directives:
                        raise Unsupported("directives")
                    if self._applies(fragment.type_condition.name.value, runtime):
                        self._collect(runtime, [fragment.selection_set], into)

    def object_plan(
        self, runtime: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> ObjectPlan:
        definition = runtime.extensions.get("strawberry-definition")
        plan = ObjectPlan(runtime, getattr(definition, "origin", None))
        grouped: dict[str, list[FieldNode]] = {}
        self._collect(runtime, selection_sets, grouped)
        for key, nodes in grouped.items():
            name = nodes[0].name.value
            if name == "__typename":
                plan.fields.append(FieldPlan(key, None, nodes, None, False, None))
                continue
            if name.startswith("__"):
                raise Unsupported("introspection")
            field_def = runtime.fields[name]
            strawberry_field = field_def.extensions.get("strawberry-definition")
            basic = (
                strawberry_field is not None
                and strawberry_field.is_basic_field
                and getattr(field_def.resolve, "__name__", "") == "_get_basic_result"
            )
            children = [n.selection_set for n in nodes if n.selection_set]
            plan.fields.append(
                FieldPlan(
                    key,
                    field_def,
                    nodes,
                    strawberry_field.python_name if basic else None,
                    bool(field_def.args),
                    self.shape(field_def.type, children),
                )
            )
        return plan

    def shape(self, gql_type: GraphQLOutputType, children: list[SelectionSetNode]) -> Shape:
        non_null = isinstance(gql_type, GraphQLNonNull)
        inner: Any = gql_type.of_type if non_null else gql_type  # type: ignore[union-attr]
        if isinstance(inner, GraphQLList):
            return Shape(non_null, LIST, item=self.shape(inner.of_type, children))
        if is_leaf_type(inner):
            return Shape(non_null, LEAF, leaf=inner.serialize)
        if isinstance(inner, GraphQLObjectType):
            return Shape(non_null, OBJECT, plan=self.object_plan(inner, children))
        return Shape(non_null, ABSTRACT, abstract=AbstractPlan(inner, children, self))


_plans: OrderedDict[int, tuple[OperationDefinitionNode, ObjectPlan | None]] = OrderedDict()


def plan_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> ObjectPlan | None:
    """The operation's plan, or None when it must run on graphql-core. Cached per document
    (strawberry's ParserCache hands out the same document for the same query text)."""
    entry = _plans.get(id(operation))
    if entry is not None and entry[0] is operation:
        _plans.move_to_end(id(operation))
        return entry[1]
    plan: ObjectPlan | None = None
    # A subscription's events are executed like queries, with the event as the root value
    # (the root field's resolver hands it on): a feed delivery takes the planned path too.
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }.get(operation.operation)
    if root is not None:
        try:
            if operation.directives:
                raise Unsupported("directives")
            plan = Compiler(schema, fragments).object_plan(root, [operation.selection_set])
        except (Unsupported, KeyError):
            plan = None
    _plans[id(operation)] = (operation, plan)
    if len(_plans) > PLAN_CACHE_SIZE:
        _plans.popitem(last=False)
    return plan


Pending = list[tuple[Any, Shape, Any, Any, Path | None]]


class PlannedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with queries run from a compiled plan when possible."""

    enabled = True

    def execute_operation(self, serially: bool | None = None) -> Any:
        plan = None
        middleware = self.middleware_manager
        # Middleware wraps every resolver: it would be skipped on plain fields, so don't plan.
        if self.enabled and (middleware is None or not middleware.middlewares):
            plan = plan_operation(self.schema, self.operation, self.fragment_definitions)
        if plan is None:
            return super().execute_operation(serially)
        return self._run_planned(plan, serially)

    async def _run_planned(self, plan: ObjectPlan, serially: bool | None) -> Any:
        pending: Pending = []
        try:
            data: dict[str, Any] = {}
            self._object(plan, self.root_value, data, None, pending)
            while pending:
                batch, pending = pending, []
                values = await asyncio.gather(*(p[0] for p in batch), return_exceptions=True)
                for (_awaitable, shape, container, key, path), value in zip(
                    batch, values, strict=True
                ):
                    if isinstance(value, BaseException):
                        raise Fallback from value
                    self._fill(container, key, shape, value, path, pending)
        except Fallback:
            for awaitable, *_ in pending:
                if asyncio.iscoroutine(awaitable):
                    awaitable.close()
            result = super().execute_operation(serially)
            return await result if self.is_awaitable(result) else result
        return self.finish(self.build_response(data))

    def _object(
        self,
        plan: ObjectPlan,
        source: Any,
        out: dict[str, Any],
        path: Path | None,
        pending: Pending,
    ) -> None:
        # (The root value, an event for a subscription, is not an instance of the root type.)
        if path is not None and plan.cls is not None and not isinstance(source, plan.cls):
            raise Fallback
        type_name = plan.graphql_type.name
        for f in plan.fields:
            if f.field_def is None:
                out[f.key] = type_name
                continue
            if f.attr is not None:
                value = getattr(source, f.attr)
                shape = f.shape
                if shape.kind == LEAF and type(value) in PLAIN:  # type: ignore[union-attr]
                    # The common case, most fields of a page: a plain value, serialized. It
                    # cannot be awaitable and needs no path (nothing below it resolves).
                    out[f.key] = self._serialize(shape, value)  # type: ignore[arg-type]
                    continue
            field_path = Path(path, f.key, type_name)
            if f.attr is None:
                info = self.build_resolve_info(f.field_def, f.nodes, plan.graphql_type, field_path)
                args = (
                    get_argument_values(f.field_def, f.nodes[0], self.variable_values)
                    if f.has_args
                    else {}
                )
                try:
                    value = f.field_def.resolve(source, info, **args)  # type: ignore[misc]
                except Exception as exc:
                    raise Fallback from exc
            self._fill(out, f.key, f.shape, value, field_path, pending)  # type: ignore[arg-type]

    def _serialize(self, shape: Shape, value: Any) -> Any:
        serialized = shape.leaf(value)  # type: ignore[misc]
        if serialized is None or serialized is Undefined:
            raise Fallback  # graphql-core raises the error that goes with it
        return serialized

    def _fill(
        self,
        container: Any,
        key: Any,
        shape: Shape,
        value: Any,
        path: Path | None,
        pending: Pending,
    ) -> None:
        if self.is_awaitable(value):
            container[key] = None
            pending.append((value, shape, container, key, path))
            return
        if value is None:
            if shape.non_null:
                raise Fallback
            container[key] = None
            return
        kind = shape.kind
        if kind == LEAF:
            container[key] = self._serialize(shape, value)
        elif kind == LIST:
            item_shape: Shape = shape.item  # type: ignore[assignment]
            items: list[Any] = [None] * len(value)
            container[key] = items
            for index, item in enumerate(value):
                self._fill(items, index, item_shape, item, Path(path, index, None), pending)
        else:
            plan = shape.plan if kind == OBJECT else shape.abstract.plan_for(value)  # type: ignore[union-attr]
            out: dict[str, Any] = {}
            container[key] = out
            self._object(plan, value, out, path, pending)  # type: ignore[arg-type]


__all__ = ["Awaitable", "PlannedExecutionContext", "plan_operation"]
