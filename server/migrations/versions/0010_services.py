"""The service columns: learning, lecturers and live classes, volunteering, venues, one-form services

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learning_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("credit_hours", sa.Float(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column(
            "tenant_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("enrolled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_items")),
    )
    with op.batch_alter_table("learning_items", schema=None) as batch_op:
        batch_op.create_index("ix_learning_items_state_id", ["state", "id"], unique=False)
        batch_op.create_index(
            "ix_learning_items_tenant_path_id", ["tenant_path", "id"], unique=False
        )

    op.create_table(
        "one_form_departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_one_form_departments_code")),
    )
    op.create_table(
        "one_form_service_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("materials", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_service_types")),
        sa.UniqueConstraint("code", name=op.f("uq_one_form_service_types_code")),
    )
    op.create_table(
        "learning_class_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["learning_items.id"],
            name=op.f("fk_learning_class_items_class_id_learning_items"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["learning_items.id"],
            name=op.f("fk_learning_class_items_item_id_learning_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_class_items")),
        sa.UniqueConstraint("class_id", "item_id", name="uq_learning_class_items_class_id_item_id"),
    )
    op.create_table(
        "lecturers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("affiliation", sa.String(length=100), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_lecturers_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecturers")),
        sa.UniqueConstraint("account", name="uq_lecturers_account"),
    )
    with op.batch_alter_table("lecturers", schema=None) as batch_op:
        batch_op.create_index("ix_lecturers_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "one_form_staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["one_form_departments.id"],
            name=op.f("fk_one_form_staff_department_id_one_form_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_staff")),
        sa.UniqueConstraint(
            "department_id", "username", name="uq_one_form_staff_department_id_username"
        ),
    )
    with op.batch_alter_table("one_form_staff", schema=None) as batch_op:
        batch_op.create_index("ix_one_form_staff_username", ["username"], unique=False)

    op.create_table(
        "one_form_type_departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["one_form_departments.id"],
            name=op.f("fk_one_form_type_departments_department_id_one_form_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"],
            ["one_form_service_types.id"],
            name=op.f("fk_one_form_type_departments_type_id_one_form_service_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_type_departments")),
        sa.UniqueConstraint(
            "type_id", "department_id", name="uq_one_form_type_departments_type_id_department_id"
        ),
    )
    op.create_table(
        "service_centers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_service_centers_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_centers")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_service_centers_tenant_id_name"),
    )
    with op.batch_alter_table("service_centers", schema=None) as batch_op:
        batch_op.create_index("ix_service_centers_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "venues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("opening_hours", sa.Text(), nullable=False),
        sa.Column("closed_dates", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_venues_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venues")),
    )
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.create_index("ix_venues_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "lecturer_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lecturer_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("booked_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_lecturer_bookings_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["lecturer_id"],
            ["lecturers.id"],
            name=op.f("fk_lecturer_bookings_lecturer_id_lecturers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_lecturer_bookings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecturer_bookings")),
    )
    with op.batch_alter_table("lecturer_bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lecturer_bookings_lecturer_id_day", ["lecturer_id", "day"], unique=False
        )
        batch_op.create_index("ix_lecturer_bookings_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "live_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("lecturer_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lecturer_id"], ["lecturers.id"], name=op.f("fk_live_classes_lecturer_id_lecturers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_live_classes_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_classes")),
    )
    with op.batch_alter_table("live_classes", schema=None) as batch_op:
        batch_op.create_index("ix_live_classes_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "volunteer_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("signed_up", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("initiated_by", sa.String(length=120), nullable=False),
        sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_note", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["service_centers.id"],
            name=op.f("fk_volunteer_services_center_id_service_centers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_services")),
    )
    with op.batch_alter_table("volunteer_services", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volunteer_services_center_id_state", ["center_id", "state"], unique=False
        )
        batch_op.create_index("ix_volunteer_services_completed_at", ["completed_at"], unique=False)

    op.create_table(
        "learning_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credit_hours", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["learning_items.id"],
            name=op.f("fk_learning_enrolments_item_id_learning_items"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_learning_enrolments_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_enrolments")),
        sa.UniqueConstraint(
            "item_id", "member_id", name="uq_learning_enrolments_item_id_member_id"
        ),
    )
    with op.batch_alter_table("learning_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_learning_enrolments_member_id_completed_at",
            ["member_id", "completed_at"],
            unique=False,
        )

    op.create_table(
        "lecturer_slot_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lecturer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=10), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["lecturer_bookings.id"],
            name=op.f("fk_lecturer_slot_holds_booking_id_lecturer_bookings"),
        ),
        sa.ForeignKeyConstraint(
            ["lecturer_id"],
            ["lecturers.id"],
            name=op.f("fk_lecturer_slot_holds_lecturer_id_lecturers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecturer_slot_holds")),
        sa.UniqueConstraint("booking_id", name="uq_lecturer_slot_holds_booking_id"),
        sa.UniqueConstraint(
            "lecturer_id", "day", "slot", name="uq_lecturer_slot_holds_lecturer_id_day_slot"
        ),
    )
    op.create_table(
        "live_attendances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("live_class_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["live_class_id"],
            ["live_classes.id"],
            name=op.f("fk_live_attendances_live_class_id_live_classes"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_live_attendances_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_attendances")),
        sa.UniqueConstraint(
            "live_class_id", "member_id", name="uq_live_attendances_live_class_id_member_id"
        ),
    )
    op.create_table(
        "live_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("live_class_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("correct", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("time_limit", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["live_class_id"],
            ["live_classes.id"],
            name=op.f("fk_live_questions_live_class_id_live_classes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_questions")),
    )
    with op.batch_alter_table("live_questions", schema=None) as batch_op:
        batch_op.create_index("ix_live_questions_live_class_id", ["live_class_id"], unique=False)

    op.create_table(
        "micro_wishes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("requester_name", sa.String(length=50), nullable=False),
        sa.Column("requester_phone", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("posted_by", sa.String(length=120), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimer_id", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_note", sa.Text(), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_micro_wishes_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["service_centers.id"],
            name=op.f("fk_micro_wishes_center_id_service_centers"),
        ),
        sa.ForeignKeyConstraint(
            ["claimer_id"], ["members.id"], name=op.f("fk_micro_wishes_claimer_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_micro_wishes")),
    )
    with op.batch_alter_table("micro_wishes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_micro_wishes_center_id_state", ["center_id", "state"], unique=False
        )
        batch_op.create_index("ix_micro_wishes_claimer_id", ["claimer_id"], unique=False)
        batch_op.create_index("ix_micro_wishes_completed_at", ["completed_at"], unique=False)

    op.create_table(
        "one_form_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_type_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("applicant_member_id", sa.Integer(), nullable=True),
        sa.Column("applicant_name", sa.String(length=60), nullable=False),
        sa.Column("submitted_by", sa.String(length=80), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("materials", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_member_id"],
            ["members.id"],
            name=op.f("fk_one_form_applications_applicant_member_id_members"),
        ),
        sa.ForeignKeyConstraint(
            ["service_type_id"],
            ["one_form_service_types.id"],
            name=op.f("fk_one_form_applications_service_type_id_one_form_service_types"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_one_form_applications_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_applications")),
    )
    with op.batch_alter_table("one_form_applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_one_form_applications_applicant_member_id", ["applicant_member_id"], unique=False
        )
        batch_op.create_index(
            "ix_one_form_applications_service_type_id_submitted_at",
            ["service_type_id", "submitted_at"],
            unique=False,
        )
        batch_op.create_index("ix_one_form_applications_tenant_id", ["tenant_id"], unique=False)

    op.create_table(
        "venue_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_venue_bookings_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_venue_bookings_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_venue_bookings_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_bookings")),
    )
    with op.batch_alter_table("venue_bookings", schema=None) as batch_op:
        batch_op.create_index("ix_venue_bookings_booked_by", ["booked_by"], unique=False)
        batch_op.create_index("ix_venue_bookings_branch_id", ["branch_id"], unique=False)
        batch_op.create_index(
            "ix_venue_bookings_status_starts_at", ["status", "starts_at"], unique=False
        )
        batch_op.create_index(
            "ix_venue_bookings_venue_id_starts_at", ["venue_id", "starts_at"], unique=False
        )

    op.create_table(
        "volunteer_signups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_volunteer_signups_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_volunteer_signups_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["volunteer_services.id"],
            name=op.f("fk_volunteer_signups_service_id_volunteer_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_signups")),
        sa.UniqueConstraint(
            "service_id", "member_id", name="uq_volunteer_signups_service_id_member_id"
        ),
    )
    with op.batch_alter_table("volunteer_signups", schema=None) as batch_op:
        batch_op.create_index("ix_volunteer_signups_member_id", ["member_id"], unique=False)

    op.create_table(
        "live_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_live_answers_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["live_questions.id"],
            name=op.f("fk_live_answers_question_id_live_questions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_answers")),
        sa.UniqueConstraint(
            "question_id", "member_id", name="uq_live_answers_question_id_member_id"
        ),
    )
    with op.batch_alter_table("live_answers", schema=None) as batch_op:
        batch_op.create_index("ix_live_answers_member_id", ["member_id"], unique=False)

    op.create_table(
        "one_form_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["one_form_applications.id"],
            name=op.f("fk_one_form_approvals_application_id_one_form_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["one_form_departments.id"],
            name=op.f("fk_one_form_approvals_department_id_one_form_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_form_approvals")),
        sa.UniqueConstraint(
            "application_id",
            "department_id",
            name="uq_one_form_approvals_application_id_department_id",
        ),
    )
    with op.batch_alter_table("one_form_approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_one_form_approvals_department_id_status_id",
            ["department_id", "status", "id"],
            unique=False,
        )

    op.create_table(
        "venue_granules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("granule_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["venue_bookings.id"],
            name=op.f("fk_venue_granules_booking_id_venue_bookings"),
        ),
        sa.ForeignKeyConstraint(
            ["venue_id"], ["venues.id"], name=op.f("fk_venue_granules_venue_id_venues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_granules")),
        sa.UniqueConstraint(
            "venue_id", "granule_start", name="uq_venue_granules_venue_id_granule_start"
        ),
    )
    with op.batch_alter_table("venue_granules", schema=None) as batch_op:
        batch_op.create_index("ix_venue_granules_booking_id", ["booking_id"], unique=False)

    with op.batch_alter_table("member_indices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("learning_score", sa.Float(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("member_indices", schema=None) as batch_op:
        batch_op.drop_column("learning_score")

    with op.batch_alter_table("venue_granules", schema=None) as batch_op:
        batch_op.drop_index("ix_venue_granules_booking_id")

    op.drop_table("venue_granules")
    with op.batch_alter_table("one_form_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_one_form_approvals_department_id_status_id")

    op.drop_table("one_form_approvals")
    with op.batch_alter_table("live_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_live_answers_member_id")

    op.drop_table("live_answers")
    with op.batch_alter_table("volunteer_signups", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteer_signups_member_id")

    op.drop_table("volunteer_signups")
    with op.batch_alter_table("venue_bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_venue_bookings_venue_id_starts_at")
        batch_op.drop_index("ix_venue_bookings_status_starts_at")
        batch_op.drop_index("ix_venue_bookings_branch_id")
        batch_op.drop_index("ix_venue_bookings_booked_by")

    op.drop_table("venue_bookings")
    with op.batch_alter_table("one_form_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_one_form_applications_tenant_id")
        batch_op.drop_index("ix_one_form_applications_service_type_id_submitted_at")
        batch_op.drop_index("ix_one_form_applications_applicant_member_id")

    op.drop_table("one_form_applications")
    with op.batch_alter_table("micro_wishes", schema=None) as batch_op:
        batch_op.drop_index("ix_micro_wishes_completed_at")
        batch_op.drop_index("ix_micro_wishes_claimer_id")
        batch_op.drop_index("ix_micro_wishes_center_id_state")

    op.drop_table("micro_wishes")
    with op.batch_alter_table("live_questions", schema=None) as batch_op:
        batch_op.drop_index("ix_live_questions_live_class_id")

    op.drop_table("live_questions")
    op.drop_table("live_attendances")
    op.drop_table("lecturer_slot_holds")
    with op.batch_alter_table("learning_enrolments", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_enrolments_member_id_completed_at")

    op.drop_table("learning_enrolments")
    with op.batch_alter_table("volunteer_services", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteer_services_completed_at")
        batch_op.drop_index("ix_volunteer_services_center_id_state")

    op.drop_table("volunteer_services")
    with op.batch_alter_table("live_classes", schema=None) as batch_op:
        batch_op.drop_index("ix_live_classes_tenant_id")

    op.drop_table("live_classes")
    with op.batch_alter_table("lecturer_bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_lecturer_bookings_tenant_id")
        batch_op.drop_index("ix_lecturer_bookings_lecturer_id_day")

    op.drop_table("lecturer_bookings")
    with op.batch_alter_table("venues", schema=None) as batch_op:
        batch_op.drop_index("ix_venues_tenant_id")

    op.drop_table("venues")
    with op.batch_alter_table("service_centers", schema=None) as batch_op:
        batch_op.drop_index("ix_service_centers_tenant_id")

    op.drop_table("service_centers")
    op.drop_table("one_form_type_departments")
    with op.batch_alter_table("one_form_staff", schema=None) as batch_op:
        batch_op.drop_index("ix_one_form_staff_username")

    op.drop_table("one_form_staff")
    with op.batch_alter_table("lecturers", schema=None) as batch_op:
        batch_op.drop_index("ix_lecturers_tenant_id")

    op.drop_table("lecturers")
    op.drop_table("learning_class_items")
    op.drop_table("one_form_service_types")
    op.drop_table("one_form_departments")
    with op.batch_alter_table("learning_items", schema=None) as batch_op:
        batch_op.drop_index("ix_learning_items_tenant_path_id")
        batch_op.drop_index("ix_learning_items_state_id")

    op.drop_table("learning_items")
