"""persisted operations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_key_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("operation_name", sa.String(length=200), nullable=True),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_key_id"],
            ["partner_keys.id"],
            name=op.f("fk_persisted_operations_partner_key_id_partner_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_operations")),
        sa.UniqueConstraint(
            "partner_key_id", "sha256", name=op.f("uq_persisted_operations_partner_key_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("persisted_operations")
