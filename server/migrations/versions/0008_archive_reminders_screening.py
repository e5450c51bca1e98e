"""cadre archive, reminders and screening

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_tag_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_tag_categories")),
        sa.UniqueConstraint("code", name=op.f("uq_archive_tag_categories_code")),
    )
    op.create_table(
        "light_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "tenant_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_light_rules")),
    )
    with op.batch_alter_table("light_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_light_rules_tenant_path"), ["tenant_path"], unique=False
        )

    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "screening_scales",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("bands", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_scales")),
        sa.UniqueConstraint("code", name=op.f("uq_screening_scales_code")),
    )
    op.create_table(
        "archive_indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("polarity", sa.String(length=32), nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("tag_category_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_category_id"],
            ["archive_tag_categories.id"],
            name=op.f("fk_archive_indicators_tag_category_id_archive_tag_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_indicators")),
        sa.UniqueConstraint("code", name=op.f("uq_archive_indicators_code")),
    )
    op.create_table(
        "cadres",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(length=100), nullable=False),
        sa.Column("rank", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_cadres_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_cadres_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadres")),
        sa.UniqueConstraint("member_id", name=op.f("uq_cadres_member_id")),
    )
    with op.batch_alter_table("cadres", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cadres_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "dues_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_dues_ledger_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dues_ledger")),
        sa.UniqueConstraint("member_id", "month", name=op.f("uq_dues_ledger_member_id")),
    )
    with op.batch_alter_table("dues_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_dues_ledger_paid_on_month", ["paid_on", "month"], unique=False)

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("cause_key", sa.String(length=100), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["feed_events.id"], name=op.f("fk_reminders_event_id_feed_events")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_reminders_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("cause", "cause_key", name=op.f("uq_reminders_cause")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminders_username"), ["username"], unique=False)

    op.create_table(
        "screening_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("scale_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=40), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_screening_results_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["scale_id"],
            ["screening_scales.id"],
            name=op.f("fk_screening_results_scale_id_screening_scales"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_results")),
    )
    with op.batch_alter_table("screening_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screening_results_member_id_taken_at", ["member_id", "taken_at"], unique=False
        )

    op.create_table(
        "travel_declarations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("departs_on", sa.Date(), nullable=False),
        sa.Column("returns_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_travel_declarations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_declarations")),
    )
    with op.batch_alter_table("travel_declarations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_travel_declarations_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "travel_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("departed_on", sa.Date(), nullable=False),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_travel_records_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_records")),
    )
    with op.batch_alter_table("travel_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_travel_records_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "archive_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadres.id"], name=op.f("fk_archive_records_cadre_id_cadres")
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["archive_indicators.id"],
            name=op.f("fk_archive_records_indicator_id_archive_indicators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_records")),
    )
    with op.batch_alter_table("archive_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_archive_records_cadre_id_status_occurred_on",
            ["cadre_id", "status", "occurred_on"],
            unique=False,
        )
        batch_op.create_index("ix_archive_records_status_id", ["status", "id"], unique=False)

    op.create_table(
        "cadre_lights",
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadres.id"], name=op.f("fk_cadre_lights_cadre_id_cadres")
        ),
        sa.PrimaryKeyConstraint("cadre_id", name=op.f("pk_cadre_lights")),
    )
    op.create_table(
        "cadre_scores",
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("loyalty", sa.Float(), nullable=False),
        sa.Column("determination", sa.Float(), nullable=False),
        sa.Column("responsibility", sa.Float(), nullable=False),
        sa.Column("ability", sa.Float(), nullable=False),
        sa.Column("self_discipline", sa.Float(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadres.id"], name=op.f("fk_cadre_scores_cadre_id_cadres")
        ),
        sa.PrimaryKeyConstraint("cadre_id", name=op.f("pk_cadre_scores")),
    )
    op.create_table(
        "light_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("from_light", sa.String(length=8), nullable=True),
        sa.Column("to_light", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_light_history_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadres.id"], name=op.f("fk_light_history_cadre_id_cadres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_light_history")),
    )
    with op.batch_alter_table("light_history", schema=None) as batch_op:
        batch_op.create_index("ix_light_history_cadre_id_id", ["cadre_id", "id"], unique=False)

    op.create_table(
        "remediation_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadre_id", sa.Integer(), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("closing_note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_remediation_plans_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["cadre_id"], ["cadres.id"], name=op.f("fk_remediation_plans_cadre_id_cadres")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_plans")),
    )
    with op.batch_alter_table("remediation_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_remediation_plans_cadre_id"), ["cadre_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("remediation_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remediation_plans_cadre_id"))

    op.drop_table("remediation_plans")
    with op.batch_alter_table("light_history", schema=None) as batch_op:
        batch_op.drop_index("ix_light_history_cadre_id_id")

    op.drop_table("light_history")
    op.drop_table("cadre_scores")
    op.drop_table("cadre_lights")
    with op.batch_alter_table("archive_records", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_records_status_id")
        batch_op.drop_index("ix_archive_records_cadre_id_status_occurred_on")

    op.drop_table("archive_records")
    with op.batch_alter_table("travel_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_records_member_id"))

    op.drop_table("travel_records")
    with op.batch_alter_table("travel_declarations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_declarations_member_id"))

    op.drop_table("travel_declarations")
    with op.batch_alter_table("screening_results", schema=None) as batch_op:
        batch_op.drop_index("ix_screening_results_member_id_taken_at")

    op.drop_table("screening_results")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_username"))
        batch_op.drop_index(batch_op.f("ix_reminders_member_id"))

    op.drop_table("reminders")
    with op.batch_alter_table("dues_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_dues_ledger_paid_on_month")

    op.drop_table("dues_ledger")
    with op.batch_alter_table("cadres", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cadres_tenant_id"))

    op.drop_table("cadres")
    op.drop_table("archive_indicators")
    op.drop_table("screening_scales")
    op.drop_table("scheduler_leases")
    with op.batch_alter_table("light_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_light_rules_tenant_path"))

    op.drop_table("light_rules")
    op.drop_table("archive_tag_categories")
