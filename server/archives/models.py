"""The cadre archive ("one file per cadre"): the indicator catalogue, cadres, their reviewed
records, the five-dimension scores, traffic lights with their history, and remediation plans.

Archive records are the most sensitive data in ehome: reads are scoped, masked per role and
audited (schema/archives.py); only VERIFIED records count anywhere.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


def _enum(kind: type[enum.Enum]) -> Enum:
    return Enum(kind, native_enum=False, length=32)


class Dimension(enum.StrEnum):
    LOYALTY = "LOYALTY"  # 政治忠诚
    DETERMINATION = "DETERMINATION"  # 政治定力
    RESPONSIBILITY = "RESPONSIBILITY"  # 政治担当
    ABILITY = "ABILITY"  # 政治能力
    SELF_DISCIPLINE = "SELF_DISCIPLINE"  # 政治自律


class RecordContext(enum.StrEnum):
    AT_WORK = "AT_WORK"  # 8小时内
    OUTSIDE_WORK = "OUTSIDE_WORK"  # 8小时外
    KEY_MOMENT = "KEY_MOMENT"  # disaster relief, public safety, emergencies


class Polarity(enum.StrEnum):
    POSITIVE = "POSITIVE"
    NEGATIVE = "NEGATIVE"


class TagSystem(enum.StrEnum):
    CULTIVATION = "CULTIVATION"  # 培养
    KNOWING_PEOPLE = "KNOWING_PEOPLE"  # 识人
    SELECTION = "SELECTION"  # 选拔任用
    STRICT_MANAGEMENT = "STRICT_MANAGEMENT"  # 从严管理
    INCENTIVES = "INCENTIVES"  # 正向激励


class RecordSource(enum.StrEnum):
    DEMOCRATIC_EVALUATION = "DEMOCRATIC_EVALUATION"
    ASSESSMENT_TALK = "ASSESSMENT_TALK"
    DAILY_SUPERVISION = "DAILY_SUPERVISION"
    COMMUNITY_REPORT = "COMMUNITY_REPORT"


class ReviewStatus(enum.StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


class LightRuleKind(enum.StrEnum):
    SERIOUS_NEGATIVE = "SERIOUS_NEGATIVE"  # a verified serious negative record in the window
    DIMENSION_BELOW = "DIMENSION_BELOW"  # a dimension's score under `threshold`
    NEGATIVE_COUNT = "NEGATIVE_COUNT"  # at least `count` verified negative records in the window


class PlanStatus(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class ArchiveTagCategory(Base):
    """One of the 25 tag categories, five in each of the five systems."""

    __tablename__ = "archive_tag_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    system: Mapped[TagSystem] = mapped_column(_enum(TagSystem))


class ArchiveIndicator(Base):
    """The catalogue: what a record is about. `points` is the indicator's magnitude (a
    negative indicator subtracts it); `serious` marks negatives that may light RED at once."""

    __tablename__ = "archive_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    context: Mapped[RecordContext] = mapped_column(_enum(RecordContext))
    polarity: Mapped[Polarity] = mapped_column(_enum(Polarity))
    dimension: Mapped[Dimension] = mapped_column(_enum(Dimension))
    tag_category_id: Mapped[int] = mapped_column(ForeignKey("archive_tag_categories.id"))
    points: Mapped[float] = mapped_column(Float)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)


class Cadre(Base):
    __tablename__ = "cadres"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    # Where the cadre serves: admins reach the file through this tenant's path.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    position: Mapped[str] = mapped_column(String(100))
    rank: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArchiveRecord(Base):
    """One entry in a cadre's file. Entered PENDING; a reviewer other than its author makes it
    VERIFIED or REJECTED (joint review). The cadre may attach a response to a verified record;
    the response stays on file with it."""

    __tablename__ = "archive_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("archive_indicators.id"))
    source: Mapped[RecordSource] = mapped_column(_enum(RecordSource))
    occurred_on: Mapped[date] = mapped_column(Date)
    evidence: Mapped[str] = mapped_column(Text)
    # [{"name", "content_type", "size", "sha256"}]: metadata only, the files live elsewhere.
    attachments: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[ReviewStatus] = mapped_column(_enum(ReviewStatus))
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewer: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_archive_records_cadre_id_status_occurred_on", "cadre_id", "status", "occurred_on"
        ),
        Index("ix_archive_records_status_id", "status", "id"),
    )


class CadreScore(Base):
    """The five dimensions (0-100) from verified records over the rolling window, as last
    computed (formula: README, "Cadre archive")."""

    __tablename__ = "cadre_scores"

    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.id"), primary_key=True)
    loyalty: Mapped[float] = mapped_column(Float)
    determination: Mapped[float] = mapped_column(Float)
    responsibility: Mapped[float] = mapped_column(Float)
    ability: Mapped[float] = mapped_column(Float)
    self_discipline: Mapped[float] = mapped_column(Float)
    records: Mapped[int] = mapped_column(Integer)  # verified records in the window
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LightRule(Base):
    """A rule of the traffic lights, set by the super admin for a subtree: every active rule
    whose subtree holds the cadre's tenant applies, and the worst light wins."""

    __tablename__ = "light_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255), index=True)
    kind: Mapped[LightRuleKind] = mapped_column(_enum(LightRuleKind))
    light: Mapped[str] = mapped_column(String(8))  # YELLOW or RED
    dimension: Mapped[Dimension | None] = mapped_column(_enum(Dimension))
    threshold: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int | None] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CadreLight(Base):
    """A cadre's current light and why."""

    __tablename__ = "cadre_lights"

    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.id"), primary_key=True)
    light: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of {"rule", "why"}
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class LightChange(Base):
    """The light history: every change, kept."""

    __tablename__ = "light_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.id"))
    from_light: Mapped[str | None] = mapped_column(String(8))
    to_light: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))

    __table_args__ = (Index("ix_light_history_cadre_id_id", "cadre_id", "id"),)


class RemediationPlan(Base):
    """What a yellow or red light needs: an owner, a due date, and a closing note."""

    __tablename__ = "remediation_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadre_id: Mapped[int] = mapped_column(ForeignKey("cadres.id"), index=True)
    light: Mapped[str] = mapped_column(String(8))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    owner: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    actions: Mapped[str] = mapped_column(Text)
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus))
    closing_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
