"""Assessment templates: versioned trees of weighted indicators with their scoring rules.

A template version is never changed once written: a campaign that runs on version 2 keeps
scoring against version 2 while version 3 is drafted. A change makes a new version (see
service.new_version).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class TargetKind(enum.StrEnum):
    BRANCH = "BRANCH"
    MEMBER = "MEMBER"
    PERSON = "PERSON"


class RuleKind(enum.StrEnum):
    SCORE_RANGE = "SCORE_RANGE"  # a score between min and max
    YES_NO = "YES_NO"  # met or not
    COUNT = "COUNT"  # per_unit points for each occurrence, up to cap


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
