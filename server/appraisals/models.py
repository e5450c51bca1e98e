"""The civil servants' appraisal closed loop: tasks set for a person and a period, records
entered against them, the supervisor's review, evaluation by the four methods (an assessment
campaign on a PERSON template), and feedback to the person.

An appraisal moves through AppraisalState by the transitions of server/appraisals/states.py
only; every move is kept in appraisal_steps.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime, byte_ordered_string


class AppraisalState(enum.StrEnum):
    PLANNED = "PLANNED"  # tasks set; the person enters records
    UNDER_REVIEW = "UNDER_REVIEW"  # the person handed its records in; the supervisor reviews
    EVALUATING = "EVALUATING"  # the review passed; the four methods score the person
    EVALUATED = "EVALUATED"  # the evaluation campaign closed with the person's score
    COMPLETED = "COMPLETED"  # the supervisor gave feedback; the person reads it


class Appraisal(Base):
    __tablename__ = "appraisals"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Where the person works: admins reach the appraisal through this path.
    tenant_path: Mapped[str] = mapped_column(byte_ordered_string(255), index=True)
    period: Mapped[str] = mapped_column(String(20))
    state: Mapped[AppraisalState] = mapped_column(
        Enum(AppraisalState, native_enum=False, length=16)
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("assessment_campaigns.id"))
    score: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("person_id", "period"),)


class AppraisalTask(Base):
    __tablename__ = "appraisal_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)


class AppraisalRecord(Base):
    """What the person did against one task: entered by the person, kept as written."""

    __tablename__ = "appraisal_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("appraisal_tasks.id"))
    text: Mapped[str] = mapped_column(Text)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_appraisal_records_appraisal_id_id", "appraisal_id", "id"),)


class AppraisalStep(Base):
    """One transition, with who made it and its note: the appraisal's history."""

    __tablename__ = "appraisal_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    appraisal_id: Mapped[int] = mapped_column(ForeignKey("appraisals.id"), index=True)
    from_state: Mapped[AppraisalState | None] = mapped_column(
        Enum(AppraisalState, native_enum=False, length=16)
    )
    to_state: Mapped[AppraisalState] = mapped_column(
        Enum(AppraisalState, native_enum=False, length=16)
    )
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
