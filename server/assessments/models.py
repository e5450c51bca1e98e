"""Assessment templates: versioned trees of weighted indicators with their scoring rules.

A template version is never changed once written: a campaign that runs on version 2 keeps
scoring against version 2 while version 3 is drafted. A change makes a new version (see
service.new_version).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


class TargetKind(enum.StrEnum):
    BRANCH = "BRANCH"
    MEMBER = "MEMBER"
    PERSON = "PERSON"


class RuleKind(enum.StrEnum):
    SCORE_RANGE = "SCORE_RANGE"  # a score between min and max
    YES_NO = "YES_NO"  # met or not
    COUNT = "COUNT"  # per_unit points for each occurrence, up to cap


class Method(enum.StrEnum):
    SELF = "SELF"  # the target assesses itself
    PEER = "PEER"  # peers assess each other
    DEMOCRATIC = "DEMOCRATIC"  # anonymous vote: scores are stored without the evaluator
    ORGANIZATIONAL = "ORGANIZATIONAL"  # the higher organisation's assessment


class CampaignStatus(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class AssessmentTemplate(Base):
    __tablename__ = "assessment_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    target_kind: Mapped[TargetKind] = mapped_column(Enum(TargetKind, native_enum=False, length=16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("code", "version"),)


class AssessmentIndicator(Base):
    """One node of a template's tree. Groups (indicators with children) carry no rule: their
    score is the weighted mean of their children's. Weights of siblings need not sum to 1;
    scoring normalises them (weight / sum of the siblings' weights), so a template author can
    write 30/20/50 or 0.3/0.2/0.5 alike."""

    __tablename__ = "assessment_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("assessment_templates.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_indicators.id"))
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    # Float, not Numeric: SQLite has no decimal type (SQLAlchemy warns on every Decimal).
    weight: Mapped[float] = mapped_column(Float)
    rule: Mapped[RuleKind | None] = mapped_column(Enum(RuleKind, native_enum=False, length=16))
    min_score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    per_unit: Mapped[float | None] = mapped_column(Float)
    cap: Mapped[float | None] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_assessment_indicators_template_id_position", "template_id", "position"),
    )


class AssessmentCampaign(Base):
    """One round of assessment over a subtree. It points at one template version (the id, not
    the code): a new version drafted meanwhile does not change what this round scores."""

    __tablename__ = "assessment_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("assessment_templates.id"))
    # Compared by range with the scope predicate, like tenants.path.
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255), index=True)
    name: Mapped[str] = mapped_column(String(120))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # {"SELF": 0.2, ...}: weights need not sum to 1, scoring normalises them.
    methods: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[CampaignStatus] = mapped_column(
        Enum(CampaignStatus, native_enum=False, length=16)
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the day-before reminders went out: set once, so a reminder pass in any process
    # sends them once.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AssessmentTarget(Base):
    __tablename__ = "assessment_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id"))
    target_kind: Mapped[TargetKind] = mapped_column(Enum(TargetKind, native_enum=False, length=16))
    target_id: Mapped[int] = mapped_column(Integer)  # a branch or a member id, by target_kind

    __table_args__ = (UniqueConstraint("campaign_id", "target_id"),)


class AssessmentEvaluator(Base):
    """Who may submit for a method, for one target or (target_id NULL) for every target.

    `submitted` is what enforces one submission per evaluator, target and method, also for
    DEMOCRATIC submissions, which carry no evaluator name: a submission for a target that an
    all-targets row covers adds a row for that target, already submitted; the unique
    constraint makes a concurrent second submission fail rather than slip through."""

    __tablename__ = "assessment_evaluators"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id"))
    method: Mapped[Method] = mapped_column(Enum(Method, native_enum=False, length=16))
    username: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int | None] = mapped_column(Integer)
    submitted: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (UniqueConstraint("campaign_id", "method", "username", "target_id"),)


class AssessmentSubmission(Base):
    __tablename__ = "assessment_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id"))
    target_id: Mapped[int] = mapped_column(Integer)
    method: Mapped[Method] = mapped_column(Enum(Method, native_enum=False, length=16))
    evaluator: Mapped[str | None] = mapped_column(String(64))  # NULL for DEMOCRATIC
    scores: Mapped[str] = mapped_column(Text)  # {"indicator code": value}
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_assessment_submissions_campaign_id_target_id", "campaign_id", "target_id"),
    )


class AssessmentResult(Base):
    """One target's result, written once when its campaign closes. `score` is NULL when
    nobody submitted for the target: no result is not a result of 0."""

    __tablename__ = "assessment_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("assessment_campaigns.id"))
    target_kind: Mapped[TargetKind] = mapped_column(Enum(TargetKind, native_enum=False, length=16))
    target_id: Mapped[int] = mapped_column(Integer)
    # The target's tenant at the close: results are read within the viewer's scope by it.
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255))
    score: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)  # within the campaign; ties share one
    submissions: Mapped[int] = mapped_column(Integer)
    methods: Mapped[str] = mapped_column(Text)  # {"SELF": 81.5, ...}: methods with submissions
    breakdown: Mapped[str] = mapped_column(Text)  # {"indicator code": 0-100}, groups included

    __table_args__ = (
        UniqueConstraint("campaign_id", "target_id"),
        Index("ix_assessment_results_target_kind_target_id", "target_kind", "target_id"),
    )


class BranchRating(Base):
    """A branch's Fortress Stars (1-5), recomputed when a Fortress Star campaign closes and
    when the branch records an activity (formula: README, "Fortress Stars")."""

    __tablename__ = "branch_ratings"

    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), primary_key=True)
    stars: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    assessment_score: Mapped[float | None] = mapped_column(Float)
    activity_score: Mapped[float] = mapped_column(Float)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_campaigns.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MemberIndex(Base):
    """A member's Vanguard Index (0-100), recomputed when a Vanguard Index campaign closes,
    when the member's branch records an activity and when the member completes a learning item
    (formula: README, "Vanguard Index")."""

    __tablename__ = "member_indices"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    assessment_score: Mapped[float | None] = mapped_column(Float)
    activity_score: Mapped[float] = mapped_column(Float)
    # L: learning hours of the last 365 days against the yearly norm (server/learning).
    learning_score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_campaigns.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
