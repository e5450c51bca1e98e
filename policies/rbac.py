"""The names authorization speaks: roles, resource types, actions, and the role tiers."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    SUPER_ADMIN = "SUPER_ADMIN"
    SENIOR_ADMIN = "SENIOR_ADMIN"
    JUNIOR_ADMIN = "JUNIOR_ADMIN"
    MEMBER = "MEMBER"
    AUDITOR = "AUDITOR"
    PARTNER = "PARTNER"
    # Care workers: read well-being screening results in their subtree, and nothing else.
    CARE = "CARE"


class Resource(enum.StrEnum):
    TENANT = "tenant"
    BRANCH = "branch"
    MEMBER = "member"
    ACTIVITY = "activity"
    OVERVIEW = "overview"
    FEED = "feed"
    AUDIT = "audit"
    ALERT = "alert"
    GRANT = "grant"
    ASSESSMENT = "assessment"
    ARCHIVE = "archive"  # cadre files and their records
    ARCHIVE_RULE = "archive_rule"  # the traffic-light rules
    REMINDER = "reminder"
    SCREENING = "screening"  # read: counts without names; read_sensitive: results
    # The service columns (e学习 / e服务). read: what the caller may see and take part in;
    # write: publishing and managing it (admins).
    LEARNING = "learning"  # courses, micro-classes, topics, books, classes; enrolments
    LECTURER = "lecturer"  # red lecturers, their bookings, live classes and quizzes
    VOLUNTEER = "volunteer"  # service centers, micro-wishes, volunteer services
    VENUE = "venue"  # venues and their bookings
    ONE_FORM = "one_form"  # one-form service types, applications and approvals


class Action(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    READ_SENSITIVE = "read_sensitive"


ADMIN_ROLES = (Role.SUPER_ADMIN, Role.SENIOR_ADMIN, Role.JUNIOR_ADMIN)
# Lower is higher: a grant is valid only for a tier below the granter's.
TIER = {Role.SUPER_ADMIN: 1, Role.SENIOR_ADMIN: 2, Role.JUNIOR_ADMIN: 3}
# The tenant level each admin role is bound at.
LEVEL_OF_ROLE = {
    Role.SUPER_ADMIN: "DISTRICT",
    Role.SENIOR_ADMIN: "TOWN",
    Role.JUNIOR_ADMIN: "VILLAGE",
}

# What a partner key may be given, and the resource each scope opens.
PARTNER_SCOPES = {
    "read:tenants": Resource.TENANT,
    "read:branches": Resource.BRANCH,
    "read:members": Resource.MEMBER,
    "read:activities": Resource.ACTIVITY,
    "read:overview": Resource.OVERVIEW,
    "read:feed": Resource.FEED,
}
