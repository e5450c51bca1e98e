"""assessment templates: versioned trees of weighted indicators

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assessment_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_templates")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_assessment_templates_code")),
    )
    op.create_table(
        "assessment_indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=True),
        sa.Column("min_score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=True),
        sa.Column("per_unit", sa.Float(), nullable=True),
        sa.Column("cap", sa.Float(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["assessment_templates.id"],
            name=op.f("fk_assessment_indicators_template_id_assessment_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["assessment_indicators.id"],
            name=op.f("fk_assessment_indicators_parent_id_assessment_indicators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_indicators")),
    )
    op.create_index(
        "ix_assessment_indicators_template_id_position",
        "assessment_indicators",
        ["template_id", "position"],
    )


def downgrade() -> None:
    op.drop_table("assessment_indicators")
    op.drop_table("assessment_templates")
