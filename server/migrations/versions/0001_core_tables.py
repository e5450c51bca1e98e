"""tenants, branches, members, activities, users

Revision ID: 0001
Revises:
Create Date: 2026-11-28 08:30:18.528754
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "level",
            sa.Enum(
                "DISTRICT", "TOWN", "VILLAGE", name="tenantlevel", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "path",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["tenants.id"], name=op.f("fk_tenants_parent_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("code", name=op.f("uq_tenants_code")),
        sa.UniqueConstraint("path", name=op.f("uq_tenants_path")),
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.create_index("ix_tenants_level_path", ["level", "path"], unique=False)
        batch_op.create_index(batch_op.f("ix_tenants_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "AGENCY",
                "NON_PUBLIC",
                "BUILDING",
                "RED_PROPERTY",
                "RURAL",
                name="branchcategory",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("established_on", sa.Date(), nullable=False),
        sa.Column("secretary", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_branches_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
    )
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.create_index("ix_branches_tenant_id_id", ["tenant_id", "id"], unique=False)

    op.create_table(
        "activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "BRANCH_MEETING",
                "COMMITTEE_MEETING",
                "GROUP_MEETING",
                "PARTY_LECTURE",
                "THEME_DAY",
                "VOLUNTEER_SERVICE",
                "STUDY_SESSION",
                name="activitykind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_activities_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activities_branch_id_occurred_at", ["branch_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_activities_occurred_at", ["occurred_at"], unique=False)

    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column(
            "gender",
            sa.Enum("MALE", "FEMALE", name="gender", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column(
            "status",
            sa.Enum("FULL", "PROBATIONARY", name="memberstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "education",
            sa.Enum(
                "PRIMARY",
                "JUNIOR_HIGH",
                "SENIOR_HIGH",
                "VOCATIONAL",
                "COLLEGE",
                "BACHELOR",
                "MASTER",
                "DOCTORATE",
                name="education",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_members_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_branch_id_id", ["branch_id", "id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_users_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("member_id", name=op.f("uq_users_member_id")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )


def downgrade() -> None:
    op.drop_table("users")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_branch_id_id")

    op.drop_table("members")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index("ix_activities_occurred_at")
        batch_op.drop_index("ix_activities_branch_id_occurred_at")

    op.drop_table("activities")
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.drop_index("ix_branches_tenant_id_id")

    op.drop_table("branches")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenants_parent_id"))
        batch_op.drop_index("ix_tenants_level_path")

    op.drop_table("tenants")
