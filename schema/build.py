"""The schema: one constructor call over the domains' merged roots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from schema.activities import ActivityMutation
from schema.alerts import AlertMutation, AlertNode, AlertQuery
from schema.appraisals import AppraisalMutation, AppraisalQuery
from schema.archive_lights import LightMutation, LightQuery
from schema.archives import ArchiveMutation, ArchiveQuery
from schema.assessment_campaigns import AssessmentCampaignMutation, AssessmentCampaignQuery
from schema.assessment_results import AssessmentResultQuery
from schema.assessments import AssessmentQuery
from schema.audit import AuditEntryNode, AuditQuery
from schema.auth import AuthMutation, AuthQuery
from schema.branches import BranchQuery
from schema.context import Context
from schema.errors import classify
from schema.executor import PlannedExecutionContext
from schema.feed import FeedEventNode, FeedQuery, FeedSubscription
from schema.grants import GrantMutation
from schema.introspection import IntrospectionGate
from schema.learning import LearningMutation, LearningQuery
from schema.lecturers import LecturerMutation, LecturerQuery
from schema.limits import OperationLimits
from schema.live_classes import LiveClassMutation, LiveClassQuery, LiveClassSubscription
from schema.members import MemberQuery
from schema.node import NodeQuery
from schema.one_form import OneFormMutation, OneFormQuery
from schema.overview import OverviewQuery, OverviewSubscription
from schema.reminders import ReminderMutation, ReminderQuery
from schema.screening import ScreeningMutation, ScreeningQuery
from schema.stats import StatsQuery
from schema.tenants import TenantQuery
from schema.types import ActivityNode, BranchNode, MemberNode, TenantNode
from schema.venues import VenueMutation, VenueQuery
from schema.volunteering import VolunteeringMutation, VolunteeringQuery

Query = merge_types(
    "Query",
    (
        AuthQuery,
        TenantQuery,
        BranchQuery,
        MemberQuery,
        NodeQuery,
        OverviewQuery,
        StatsQuery,
        FeedQuery,
        AlertQuery,
        AuditQuery,
        AssessmentQuery,
        AssessmentCampaignQuery,
        AssessmentResultQuery,
        AppraisalQuery,
        ArchiveQuery,
        LightQuery,
        ReminderQuery,
        ScreeningQuery,
        LearningQuery,
        VenueQuery,
        OneFormQuery,
        VolunteeringQuery,
        LecturerQuery,
        LiveClassQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AuthMutation,
        GrantMutation,
        ActivityMutation,
        AlertMutation,
        AssessmentCampaignMutation,
        AppraisalMutation,
        ArchiveMutation,
        LightMutation,
        ReminderMutation,
        ScreeningMutation,
        LearningMutation,
        VenueMutation,
        OneFormMutation,
        VolunteeringMutation,
        LecturerMutation,
        LiveClassMutation,
    ),
)
Subscription = merge_types(
    "Subscription", (FeedSubscription, OverviewSubscription, LiveClassSubscription)
)


class EndOfOperation(SchemaExtension):
    """When an operation ends, before its answer goes out: write what it left for the audit
    log (unmasked reads, refusals), and give its database connection back (a WebSocket's
    context lives on for more operations). What a failed request leaves is written when the
    request ends (EhomeGraphQL.__call__)."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context):
            await context.flush()
            await context.db.release()


class EhomeSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        request_id = context.request_id if isinstance(context, Context) else None
        for error in errors:
            classify(error, request_id)


def build_schema(**kwargs: Any) -> EhomeSchema:
    return EhomeSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Types reachable only through `node(id:)` must still be in the schema.
        types=[
            TenantNode,
            BranchNode,
            MemberNode,
            ActivityNode,
            AuditEntryNode,
            FeedEventNode,
            AlertNode,
        ],
        extensions=[
            EndOfOperation,
            IntrospectionGate,
            OperationLimits,
            # Repeated operations (screens poll the same few) skip parsing and validation.
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
        execution_context_class=PlannedExecutionContext,
        **kwargs,
    )
