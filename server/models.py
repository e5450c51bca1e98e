"""Every table, imported in one place so that metadata (Alembic, tests) sees them all."""

from policies.models import CasbinRule
from server.activities.models import Activity
from server.appraisals.models import Appraisal, AppraisalRecord, AppraisalStep, AppraisalTask
from server.assessments.models import (
    AssessmentCampaign,
    AssessmentEvaluator,
    AssessmentIndicator,
    AssessmentResult,
    AssessmentSubmission,
    AssessmentTarget,
    AssessmentTemplate,
    BranchRating,
    MemberIndex,
)
from server.audit.models import AuditEntry, AuditHead
from server.auth.models import AuthSession, LoginThrottle, PartnerKey, RefreshToken, User
from server.branches.models import Branch
from server.db import Base
from server.feed.models import Alert, FeedEventRow
from server.members.models import Member
from tenants.models import Tenant

__all__ = [
    "Activity",
    "Alert",
    "Appraisal",
    "AppraisalRecord",
    "AppraisalStep",
    "AppraisalTask",
    "AssessmentCampaign",
    "AssessmentEvaluator",
    "AssessmentIndicator",
    "AssessmentResult",
    "AssessmentSubmission",
    "AssessmentTarget",
    "AssessmentTemplate",
    "AuditEntry",
    "AuditHead",
    "AuthSession",
    "Base",
    "Branch",
    "BranchRating",
    "CasbinRule",
    "FeedEventRow",
    "LoginThrottle",
    "Member",
    "MemberIndex",
    "PartnerKey",
    "RefreshToken",
    "Tenant",
    "User",
]
