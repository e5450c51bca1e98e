"""the feed: events (the outbox) and alerts with their follow-up; security alerts move in

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATH = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feed_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("tenant_path", PATH, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_events")),
    )
    op.create_index("ix_feed_events_tenant_path_id", "feed_events", ["tenant_path", "id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("light", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("tenant_path", PATH, nullable=True),
        sa.Column("principal", sa.String(length=120), nullable=True),
        sa.Column("subject", sa.String(length=120), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"], name=op.f("fk_alerts_audit_id_audit_log")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["feed_events.id"], name=op.f("fk_alerts_event_id_feed_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_occurred_at", "alerts", ["occurred_at"])
    op.create_index("ix_alerts_status_tenant_path", "alerts", ["status", "tenant_path"])
    # Security alerts recorded so far become open red alerts.
    op.execute(
        "INSERT INTO alerts (id, occurred_at, kind, light, title, tenant_path, principal, subject,"
        " client_address, detail, audit_id, status) SELECT id, occurred_at, kind, 'RED', kind,"
        " tenant_path, principal, subject, client_address, detail, audit_id, 'OPEN'"
        " FROM security_alerts"
    )
    op.drop_table("security_alerts")
    if op.get_bind().dialect.name == "postgresql":  # ids were copied: move the sequence past
        op.execute(
            "SELECT setval(pg_get_serial_sequence('alerts', 'id'),"
            " COALESCE((SELECT MAX(id) FROM alerts), 0) + 1, false)"
        )


def downgrade() -> None:
    op.create_table(
        "security_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("tenant_path", PATH, nullable=True),
        sa.Column("principal", sa.String(length=120), nullable=True),
        sa.Column("subject", sa.String(length=120), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"], name=op.f("fk_security_alerts_audit_id_audit_log")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_alerts")),
    )
    op.create_index("ix_security_alerts_occurred_at", "security_alerts", ["occurred_at"])
    op.execute(
        "INSERT INTO security_alerts (id, occurred_at, kind, tenant_path, principal, subject,"
        " client_address, detail, audit_id) SELECT id, occurred_at, kind, tenant_path,"
        " principal, subject, client_address, detail, audit_id FROM alerts"
    )
    op.drop_table("alerts")
    op.drop_table("feed_events")
