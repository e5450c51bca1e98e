"""Every table, imported in one place so that metadata (Alembic, tests) sees them all."""

from policies.models import CasbinRule
from server.activities.models import Activity
from server.appraisals.models import Appraisal, AppraisalRecord, AppraisalStep, AppraisalTask
from server.archives.models import (
    ArchiveIndicator,
    ArchiveRecord,
    ArchiveTagCategory,
    Cadre,
    CadreLight,
    CadreScore,
    LightChange,
    LightRule,
    RemediationPlan,
)
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
from server.learning.models import LearningClassItem, LearningEnrolment, LearningItem
from server.lecturers.models import (
    Lecturer,
    LecturerBooking,
    LecturerSlotHold,
    LiveAnswer,
    LiveAttendance,
    LiveClass,
    LiveQuestion,
)
from server.members.models import Member
from server.one_form.models import (
    OneFormApplication,
    OneFormApproval,
    OneFormDepartment,
    OneFormServiceDepartment,
    OneFormServiceType,
    OneFormStaff,
)
from server.reminders.models import (
    DuesEntry,
    Reminder,
    SchedulerLease,
    TravelDeclaration,
    TravelRecord,
)
from server.screening.models import ScreeningResult, ScreeningScale
from server.venues.models import Venue, VenueBooking, VenueGranule
from server.volunteering.models import (
    MicroWish,
    ServiceCenter,
    VolunteerService,
    VolunteerSignup,
)
from tenants.models import Tenant

__all__ = [
    "Activity",
    "Alert",
    "Appraisal",
    "AppraisalRecord",
    "AppraisalStep",
    "AppraisalTask",
    "ArchiveIndicator",
    "ArchiveRecord",
    "ArchiveTagCategory",
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
    "Cadre",
    "CadreLight",
    "CadreScore",
    "CasbinRule",
    "DuesEntry",
    "FeedEventRow",
    "LearningClassItem",
    "LearningEnrolment",
    "LearningItem",
    "Lecturer",
    "LecturerBooking",
    "LecturerSlotHold",
    "LightChange",
    "LightRule",
    "LiveAnswer",
    "LiveAttendance",
    "LiveClass",
    "LiveQuestion",
    "LoginThrottle",
    "Member",
    "MemberIndex",
    "MicroWish",
    "OneFormApplication",
    "OneFormApproval",
    "OneFormDepartment",
    "OneFormServiceDepartment",
    "OneFormServiceType",
    "OneFormStaff",
    "PartnerKey",
    "RefreshToken",
    "RemediationPlan",
    "Reminder",
    "SchedulerLease",
    "ScreeningResult",
    "ScreeningScale",
    "ServiceCenter",
    "Tenant",
    "TravelDeclaration",
    "TravelRecord",
    "User",
    "Venue",
    "VenueBooking",
    "VenueGranule",
    "VolunteerService",
    "VolunteerSignup",
]
