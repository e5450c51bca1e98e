"""assessment campaigns: targets, evaluators and submissions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _campaign_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["campaign_id"],
        ["assessment_campaigns.id"],
        name=op.f(f"fk_{table}_campaign_id_assessment_campaigns"),
    )


def upgrade() -> None:
    op.create_table(
        "assessment_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column(
            "tenant_path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("methods", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["assessment_templates.id"],
            name=op.f("fk_assessment_campaigns_template_id_assessment_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_campaigns")),
    )
    op.create_index(
        op.f("ix_assessment_campaigns_tenant_path"), "assessment_campaigns", ["tenant_path"]
    )
    op.create_table(
        "assessment_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        _campaign_fk("assessment_targets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_targets")),
        sa.UniqueConstraint(
            "campaign_id", "target_id", name=op.f("uq_assessment_targets_campaign_id")
        ),
    )
    op.create_table(
        "assessment_evaluators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        _campaign_fk("assessment_evaluators"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_evaluators")),
        sa.UniqueConstraint(
            "campaign_id",
            "method",
            "username",
            "target_id",
            name=op.f("uq_assessment_evaluators_campaign_id"),
        ),
    )
    op.create_table(
        "assessment_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("evaluator", sa.String(length=64), nullable=True),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        _campaign_fk("assessment_submissions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_submissions")),
    )
    op.create_index(
        "ix_assessment_submissions_campaign_id_target_id",
        "assessment_submissions",
        ["campaign_id", "target_id"],
    )


def downgrade() -> None:
    op.drop_table("assessment_submissions")
    op.drop_table("assessment_evaluators")
    op.drop_table("assessment_targets")
    op.drop_table("assessment_campaigns")
