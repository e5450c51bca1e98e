"""One-form services (一件事 / 一张表单): departments and their staff, service types with one
form each, applications and the parallel approvals they fan out to.

A service type's form (fields and required materials) is stored as JSON on the type: it is
read whole, validated in Python (server/one_form/forms.py), and never queried by field.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class ApplicationStatus(enum.StrEnum):
    PENDING = "PENDING"  # some department still deciding, none rejected
    COMPLETED = "COMPLETED"  # every department approved
    REJECTED = "REJECTED"  # one department rejected; the others' approvals were withdrawn


class ApprovalStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"  # closed undecided: another department rejected the application


class OneFormDepartment(Base):
    """A district department that approves applications (区民政局, 区人社局, ...)."""

    __tablename__ = "one_form_departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OneFormStaff(Base):
    """An account acting for a department: it decides the department's approvals."""

    __tablename__ = "one_form_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("one_form_departments.id"))
    username: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))

    __table_args__ = (
        UniqueConstraint(
            "department_id", "username", name="uq_one_form_staff_department_id_username"
        ),
        Index("ix_one_form_staff_username", "username"),
    )


class OneFormServiceType(Base):
    __tablename__ = "one_form_service_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    fields: Mapped[str] = mapped_column(Text)  # JSON list of field declarations
    materials: Mapped[str] = mapped_column(Text)  # JSON list of {"key", "label"}
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OneFormServiceDepartment(Base):
    """A department that must approve every application of a service type."""

    __tablename__ = "one_form_type_departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("one_form_service_types.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("one_form_departments.id"))

    __table_args__ = (
        UniqueConstraint(
            "type_id", "department_id", name="uq_one_form_type_departments_type_id_department_id"
        ),
    )


class OneFormApplication(Base):
    __tablename__ = "one_form_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_type_id: Mapped[int] = mapped_column(ForeignKey("one_form_service_types.id"))
    # Where the application belongs (the applicant member's branch tenant, or the tenant an
    # admin submitted it at): what scopes it.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    applicant_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    applicant_name: Mapped[str] = mapped_column(String(60))
    submitted_by: Mapped[str] = mapped_column(String(80))  # the principal's subject
    values: Mapped[str] = mapped_column(Text)  # JSON object: field key -> value
    materials: Mapped[str] = mapped_column(Text)  # JSON list of material metadata
    status: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # completed or rejected
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_one_form_applications_tenant_id", "tenant_id"),
        Index("ix_one_form_applications_applicant_member_id", "applicant_member_id"),
        Index(
            "ix_one_form_applications_service_type_id_submitted_at",
            "service_type_id",
            "submitted_at",
        ),
    )


class OneFormApproval(Base):
    """One department's decision on one application; all are created PENDING at submission."""

    __tablename__ = "one_form_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("one_form_applications.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("one_form_departments.id"))
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "application_id",
            "department_id",
            name="uq_one_form_approvals_application_id_department_id",
        ),
        # The work queue: a department's pending approvals, oldest first.
        Index("ix_one_form_approvals_department_id_status_id", "department_id", "status", "id"),
    )
