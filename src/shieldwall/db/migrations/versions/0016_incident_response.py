"""incident response: alerts with source identity, observables and SLA; cases, tasks,
logs, attachments, observables, timeline, shares and templates; SLA policies, rosters,
teams, assistance requests and deployments; constituencies; notifications and webhooks;
the response permissions on the seeded roles and the Coordinator role

Revision ID: 0016_incident_response
Revises: 0015_join_heads
Create Date: 2026-12-06 20:58:16
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import shieldwall.db.base

revision: str = "0016_incident_response"
down_revision: str | None = "0015_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_marks")),
    )
    op.create_table(
        "case_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title_prefix", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("pap", sa.String(length=16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_case_templates_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_templates")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_case_templates_org_id_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_case_templates_uuid")),
    )
    with op.batch_alter_table("case_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_templates_org_id"), ["org_id"], unique=False)

    op.create_table(
        "constituency_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_constituency_entries_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_constituency_entries")),
        sa.UniqueConstraint(
            "org_id", "kind", "value", name=op.f("uq_constituency_entries_org_id_kind_value")
        ),
    )
    with op.batch_alter_table("constituency_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_constituency_entries_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "rosters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_rosters_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rosters")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_rosters_org_id_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_rosters_uuid")),
    )
    with op.batch_alter_table("rosters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rosters_org_id"), ["org_id"], unique=False)

    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("acknowledge_minutes", sa.Integer(), nullable=True),
        sa.Column("resolve_minutes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_sla_policies_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint(
            "org_id", "target", "severity", name=op.f("uq_sla_policies_org_id_target_severity")
        ),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_teams_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_teams_uuid")),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_org_id"), ["org_id"], unique=False)

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_webhooks_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("uuid", name=op.f("uq_webhooks_uuid")),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhooks_org_id"), ["org_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("pap", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("techniques", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_due_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolve_due_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_breached_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "resolve_breached_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_cases_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_cases_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["cases.id"],
            name=op.f("fk_cases_duplicate_of_id_cases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_cases_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["case_templates.id"],
            name=op.f("fk_cases_template_id_case_templates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("org_id", "number", name=op.f("uq_cases_org_id_number")),
        sa.UniqueConstraint("uuid", name=op.f("uq_cases_uuid")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_assignee_id_status", ["assignee_id", "status"], unique=False
        )
        batch_op.create_index("ix_cases_org_id_id", ["org_id", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_org_id_severity_id", ["org_id", "severity", "id"], unique=False
        )
        batch_op.create_index("ix_cases_org_id_status_id", ["org_id", "status", "id"], unique=False)
        batch_op.create_index("ix_cases_status_ack_due_at", ["status", "ack_due_at"], unique=False)
        batch_op.create_index(
            "ix_cases_status_resolve_due_at", ["status", "resolve_due_at"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("mail_state", sa.String(length=16), nullable=False),
        sa.Column("mailed_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_mail_state_id", ["mail_state", "id"], unique=False)
        batch_op.create_index("ix_notifications_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "roster_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("position", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["roster_id"],
            ["rosters.id"],
            name=op.f("fk_roster_shifts_roster_id_rosters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_roster_shifts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_shifts")),
    )
    with op.batch_alter_table("roster_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roster_shifts_roster_id_starts_at", ["roster_id", "starts_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_roster_shifts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("user_id", "topic", name=op.f("uq_subscriptions_user_id_topic")),
    )
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_team_members_team_id_user_id")),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("uuid", name=op.f("uq_webhook_deliveries_uuid")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_state_next_attempt_at",
            ["state", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_webhook_deliveries_webhook_id_id", ["webhook_id", "id"], unique=False
        )

    op.create_table(
        "assistance_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("needed", sa.Text(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("affected_networks", sa.JSON(), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lessons_learned", sa.Text(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_assistance_requests_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["users.id"],
            name=op.f("fk_assistance_requests_closed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_assistance_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_assistance_requests_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_assistance_requests_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistance_requests")),
        sa.UniqueConstraint("uuid", name=op.f("uq_assistance_requests_uuid")),
    )
    with op.batch_alter_table("assistance_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assistance_requests_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assistance_requests_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_assistance_requests_status_id", ["status", "id"], unique=False)

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_attachments_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_case_attachments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_attachments")),
        sa.UniqueConstraint("uuid", name=op.f("uq_case_attachments_uuid")),
    )
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachments_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_attachments_sha256"), ["sha256"], unique=False)

    op.create_table(
        "case_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_shares_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_case_shares_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_case_shares_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_shares")),
        sa.UniqueConstraint("case_id", "org_id", name=op.f("uq_case_shares_case_id_org_id")),
    )
    with op.batch_alter_table("case_shares", schema=None) as batch_op:
        batch_op.create_index("ix_case_shares_org_id_case_id", ["org_id", "case_id"], unique=False)

    op.create_table(
        "case_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("group", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("due_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("started_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_case_tasks_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_tasks_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_case_tasks_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_tasks")),
        sa.UniqueConstraint("uuid", name=op.f("uq_case_tasks_uuid")),
    )
    with op.batch_alter_table("case_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_tasks_assignee_id"), ["assignee_id"], unique=False
        )
        batch_op.create_index("ix_case_tasks_case_id_order", ["case_id", "order"], unique=False)

    op.create_table(
        "case_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_timeline_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_case_timeline_org_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_case_timeline_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_timeline")),
    )
    with op.batch_alter_table("case_timeline", schema=None) as batch_op:
        batch_op.create_index("ix_case_timeline_case_id_id", ["case_id", "id"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_noted_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_deployments_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_deployments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["assistance_requests.id"],
            name=op.f("fk_deployments_request_id_assistance_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_deployments_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("uuid", name=op.f("uq_deployments_uuid")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deployments_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deployments_team_id"), ["team_id"], unique=False)

    op.create_table(
        "task_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["case_attachments.id"],
            name=op.f("fk_task_logs_attachment_id_case_attachments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_task_logs_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_task_logs_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_task_logs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["case_tasks.id"],
            name=op.f("fk_task_logs_task_id_case_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_logs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_task_logs_uuid")),
    )
    with op.batch_alter_table("task_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_logs_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_task_logs_task_id_id", ["task_id", "id"], unique=False)

    op.create_table(
        "case_observables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "value", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("value_key", sa.String(length=200), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("ioc", sa.Boolean(), nullable=False),
        sa.Column("sighted", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=True),
        sa.Column("created_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_case_observables_attribute_id_attributes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_observables_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_observables")),
        sa.UniqueConstraint(
            "case_id", "type", "value_key", name=op.f("uq_case_observables_case_id_type_value_key")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_case_observables_uuid")),
    )
    with op.batch_alter_table("case_observables", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_observables_attribute_id"), ["attribute_id"], unique=False
        )
        batch_op.create_index("ix_case_observables_value_key", ["value_key"], unique=False)

    op.create_table(
        "deployment_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_deployment_logs_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_logs_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_logs")),
    )
    with op.batch_alter_table("deployment_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployment_logs_deployment_id_id", ["deployment_id", "id"], unique=False
        )

    op.create_table(
        "deployment_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_members_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_deployment_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_members")),
        sa.UniqueConstraint(
            "deployment_id", "user_id", name=op.f("uq_deployment_members_deployment_id_user_id")
        ),
    )
    with op.batch_alter_table("deployment_members", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_members_user_id", ["user_id"], unique=False)

    op.create_table(
        "alert_observables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column(
            "value", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("value_key", sa.String(length=200), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("ioc", sa.Boolean(), nullable=False),
        sa.Column("sighted", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_observables_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_observables")),
        sa.UniqueConstraint(
            "alert_id",
            "type",
            "value_key",
            name=op.f("uq_alert_observables_alert_id_type_value_key"),
        ),
    )
    with op.batch_alter_table("alert_observables", schema=None) as batch_op:
        batch_op.create_index("ix_alert_observables_value_key", ["value_key"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("type", sa.String(length=64), nullable=False, server_default="hunt")
        )
        batch_op.add_column(
            sa.Column("source", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("source_ref", sa.String(length=512), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("tlp", sa.String(length=16), nullable=False, server_default="amber")
        )
        batch_op.add_column(
            sa.Column("pap", sa.String(length=16), nullable=False, server_default="amber")
        )
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "acknowledged_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("acknowledged_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ack_due_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "ack_breached_at", shieldwall.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.alter_column("attribute_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column("event_id", existing_type=sa.INTEGER(), nullable=True)

    # Hunt alerts so far: their identity becomes (sensor, attribute, observable) as text.
    op.execute(
        "UPDATE alerts SET source = 'sensor:' || sensor_name, "
        "source_ref = 'sensor-' || COALESCE(CAST(sensor_id AS VARCHAR), '') || '/attribute-' "
        "|| CAST(attribute_id AS VARCHAR) || '/' || observable_key"
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_alerts_sensor_id_attribute_id_observable_key"), type_="unique"
        )
        batch_op.create_index(batch_op.f("ix_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_alerts_org_id_severity_id", ["org_id", "severity", "id"], unique=False
        )
        batch_op.create_index(
            "ix_alerts_org_id_status_id", ["org_id", "status", "id"], unique=False
        )
        batch_op.create_index("ix_alerts_status_ack_due_at", ["status", "ack_due_at"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_alerts_org_id_source_source_ref"), ["org_id", "source", "source_ref"]
        )
        batch_op.drop_constraint(batch_op.f("fk_alerts_event_id_events"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_attribute_id_attributes"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_case_id_cases"), "cases", ["case_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_event_id_events"),
            "events",
            ["event_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_acknowledged_by_id_users"),
            "users",
            ["acknowledged_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_attribute_id_attributes"),
            "attributes",
            ["attribute_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_created_by_id_users"),
            "users",
            ["created_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    _grant_response_permissions()


# The response permissions the seeded roles get (MISP's ids), and the Coordinator role;
# written out here, as this revision released them.
_USER = [
    "response:alert:create",
    "response:alert:manage",
    "response:case:manage",
    "response:case:share",
]
_ORG = [
    "response:config:manage",
    "response:constituency:manage",
    "response:webhook:manage",
    "response:assistance:request",
]
_GRANTS = {
    1: _USER + _ORG + ["response:assistance:coordinate"],
    2: _USER + _ORG,
    3: _USER,
    4: [*_USER, "response:assistance:request"],
    5: _USER,
}
_COORDINATOR = [
    "auth:key:use",
    "intel:event:add",
    "intel:event:modify",
    "intel:event:modify_org",
    "intel:event:publish",
    "intel:sighting:add",
    "intel:tag:attach",
    *_USER,
    "response:assistance:coordinate",
    "response:assistance:request",
]


def _grant_response_permissions() -> None:
    roles = sa.table(
        "roles",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("permissions", sa.JSON),
        sa.column("default_role", sa.Boolean),
        sa.column("created_at", shieldwall.db.base.UTCDateTime(timezone=True)),
        sa.column("modified_at", shieldwall.db.base.UTCDateTime(timezone=True)),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(roles.c.id, roles.c.permissions)).all()
    if not rows:
        return  # a new database: the first run seeds every role with its permissions
    for role_id, perms in rows:
        extra = _GRANTS.get(role_id)
        if extra:
            conn.execute(
                roles.update()
                .where(roles.c.id == role_id)
                .values(permissions=sorted(set(perms or []) | set(extra)))
            )
    ids = {r[0] for r in rows}
    names = {n for (n,) in conn.execute(sa.select(roles.c.name)).all()}
    if 7 not in ids and "Coordinator" not in names:
        conn.execute(
            roles.insert().values(
                id=7,
                name="Coordinator",
                permissions=sorted(_COORDINATOR),
                default_role=False,
                created_at=datetime.now(UTC),
                modified_at=datetime.now(UTC),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alerts_created_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_attribute_id_attributes"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_acknowledged_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_alerts_event_id_events"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_alerts_case_id_cases"), type_="foreignkey")
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_attribute_id_attributes"),
            "attributes",
            ["attribute_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_event_id_events"),
            "events",
            ["event_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint(batch_op.f("uq_alerts_org_id_source_source_ref"), type_="unique")
        batch_op.drop_index("ix_alerts_status_ack_due_at")
        batch_op.drop_index("ix_alerts_org_id_status_id")
        batch_op.drop_index("ix_alerts_org_id_severity_id")
        batch_op.drop_index(batch_op.f("ix_alerts_case_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_alerts_sensor_id_attribute_id_observable_key"),
            ["sensor_id", "attribute_id", "observable_key"],
        )
        batch_op.alter_column("event_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.alter_column("attribute_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("ack_breached_at")
        batch_op.drop_column("ack_due_at")
        batch_op.drop_column("acknowledged_by_id")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("case_id")
        batch_op.drop_column("tags")
        batch_op.drop_column("pap")
        batch_op.drop_column("tlp")
        batch_op.drop_column("description")
        batch_op.drop_column("source_ref")
        batch_op.drop_column("source")
        batch_op.drop_column("type")

    with op.batch_alter_table("alert_observables", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_observables_value_key")

    op.drop_table("alert_observables")
    with op.batch_alter_table("deployment_members", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_members_user_id")

    op.drop_table("deployment_members")
    with op.batch_alter_table("deployment_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_logs_deployment_id_id")

    op.drop_table("deployment_logs")
    with op.batch_alter_table("case_observables", schema=None) as batch_op:
        batch_op.drop_index("ix_case_observables_value_key")
        batch_op.drop_index(batch_op.f("ix_case_observables_attribute_id"))

    op.drop_table("case_observables")
    with op.batch_alter_table("task_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_task_logs_task_id_id")
        batch_op.drop_index(batch_op.f("ix_task_logs_case_id"))

    op.drop_table("task_logs")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_team_id"))
        batch_op.drop_index(batch_op.f("ix_deployments_request_id"))
        batch_op.drop_index(batch_op.f("ix_deployments_case_id"))

    op.drop_table("deployments")
    with op.batch_alter_table("case_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_case_timeline_case_id_id")

    op.drop_table("case_timeline")
    with op.batch_alter_table("case_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_case_tasks_case_id_order")
        batch_op.drop_index(batch_op.f("ix_case_tasks_assignee_id"))

    op.drop_table("case_tasks")
    with op.batch_alter_table("case_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_case_shares_org_id_case_id")

    op.drop_table("case_shares")
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachments_sha256"))
        batch_op.drop_index(batch_op.f("ix_case_attachments_case_id"))

    op.drop_table("case_attachments")
    with op.batch_alter_table("assistance_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_assistance_requests_status_id")
        batch_op.drop_index(batch_op.f("ix_assistance_requests_org_id"))
        batch_op.drop_index(batch_op.f("ix_assistance_requests_case_id"))

    op.drop_table("assistance_requests")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_webhook_id_id")
        batch_op.drop_index("ix_webhook_deliveries_state_next_attempt_at")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_members_user_id"))

    op.drop_table("team_members")
    op.drop_table("subscriptions")
    with op.batch_alter_table("roster_shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roster_shifts_user_id"))
        batch_op.drop_index("ix_roster_shifts_roster_id_starts_at")

    op.drop_table("roster_shifts")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_id")
        batch_op.drop_index("ix_notifications_mail_state_id")

    op.drop_table("notifications")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_resolve_due_at")
        batch_op.drop_index("ix_cases_status_ack_due_at")
        batch_op.drop_index("ix_cases_org_id_status_id")
        batch_op.drop_index("ix_cases_org_id_severity_id")
        batch_op.drop_index("ix_cases_org_id_id")
        batch_op.drop_index("ix_cases_assignee_id_status")

    op.drop_table("cases")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_org_id"))

    op.drop_table("webhooks")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_org_id"))

    op.drop_table("teams")
    op.drop_table("sla_policies")
    with op.batch_alter_table("rosters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rosters_org_id"))

    op.drop_table("rosters")
    with op.batch_alter_table("constituency_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_constituency_entries_org_id"))

    op.drop_table("constituency_entries")
    with op.batch_alter_table("case_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_templates_org_id"))

    op.drop_table("case_templates")
    op.drop_table("job_marks")
