"""assessment results, ratings and appraisals

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assessment_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column(
            "tenant_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("methods", sa.Text(), nullable=False),
        sa.Column("breakdown", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["assessment_campaigns.id"],
            name=op.f("fk_assessment_results_campaign_id_assessment_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_results")),
        sa.UniqueConstraint(
            "campaign_id", "target_id", name=op.f("uq_assessment_results_campaign_id")
        ),
    )
    with op.batch_alter_table("assessment_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assessment_results_target_kind_target_id",
            ["target_kind", "target_id"],
            unique=False,
        )

    op.create_table(
        "branch_ratings",
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("assessment_score", sa.Float(), nullable=True),
        sa.Column("activity_score", sa.Float(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_ratings_branch_id_branches")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["assessment_campaigns.id"],
            name=op.f("fk_branch_ratings_campaign_id_assessment_campaigns"),
        ),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_ratings")),
    )
    op.create_table(
        "member_indices",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("assessment_score", sa.Float(), nullable=True),
        sa.Column("activity_score", sa.Float(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["assessment_campaigns.id"],
            name=op.f("fk_member_indices_campaign_id_assessment_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_indices_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_indices")),
    )
    op.create_table(
        "appraisals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=False),
        sa.Column(
            "tenant_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["assessment_campaigns.id"],
            name=op.f("fk_appraisals_campaign_id_assessment_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["users.id"], name=op.f("fk_appraisals_person_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"], ["users.id"], name=op.f("fk_appraisals_supervisor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisals")),
        sa.UniqueConstraint("person_id", "period", name=op.f("uq_appraisals_person_id")),
    )
    with op.batch_alter_table("appraisals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisals_tenant_path"), ["tenant_path"], unique=False
        )

    op.create_table(
        "appraisal_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appraisal_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appraisal_id"],
            ["appraisals.id"],
            name=op.f("fk_appraisal_steps_appraisal_id_appraisals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_steps")),
    )
    with op.batch_alter_table("appraisal_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_steps_appraisal_id"), ["appraisal_id"], unique=False
        )

    op.create_table(
        "appraisal_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appraisal_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appraisal_id"],
            ["appraisals.id"],
            name=op.f("fk_appraisal_tasks_appraisal_id_appraisals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_tasks")),
    )
    with op.batch_alter_table("appraisal_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appraisal_tasks_appraisal_id"), ["appraisal_id"], unique=False
        )

    op.create_table(
        "appraisal_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appraisal_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appraisal_id"],
            ["appraisals.id"],
            name=op.f("fk_appraisal_records_appraisal_id_appraisals"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["appraisal_tasks.id"],
            name=op.f("fk_appraisal_records_task_id_appraisal_tasks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appraisal_records")),
    )
    with op.batch_alter_table("appraisal_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_appraisal_records_appraisal_id_id", ["appraisal_id", "id"], unique=False
        )

    with op.batch_alter_table("assessment_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessment_campaigns", schema=None) as batch_op:
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("closed_at")

    with op.batch_alter_table("appraisal_records", schema=None) as batch_op:
        batch_op.drop_index("ix_appraisal_records_appraisal_id_id")

    op.drop_table("appraisal_records")
    with op.batch_alter_table("appraisal_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_tasks_appraisal_id"))

    op.drop_table("appraisal_tasks")
    with op.batch_alter_table("appraisal_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisal_steps_appraisal_id"))

    op.drop_table("appraisal_steps")
    with op.batch_alter_table("appraisals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appraisals_tenant_path"))

    op.drop_table("appraisals")
    op.drop_table("member_indices")
    op.drop_table("branch_ratings")
    with op.batch_alter_table("assessment_results", schema=None) as batch_op:
        batch_op.drop_index("ix_assessment_results_target_kind_target_id")

    op.drop_table("assessment_results")
