"""detection: sensors and their keys; alerts raised by hunts

Revision ID: 0014_detection
Revises: 0011_join_heads
Create Date: 2026-11-27 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shieldwall.db.base import UTCDateTime

revision: str = "0014_detection"
down_revision: str | None = "0011_join_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sensors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("retained_paths", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("retro_hunted_to", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_sensors_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensors")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_sensors_org_id_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_sensors_uuid")),
    )
    with op.batch_alter_table("sensors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sensors_org_id"), ["org_id"], unique=False)

    op.create_table(
        "sensor_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_start", sa.String(length=4), nullable=False),
        sa.Column("key_end", sa.String(length=4), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_sensor_keys_sensor_id_sensors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_sensor_keys_key_hash")),
        sa.UniqueConstraint("uuid", name=op.f("uq_sensor_keys_uuid")),
    )
    with op.batch_alter_table("sensor_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sensor_keys_sensor_id"), ["sensor_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=True),
        sa.Column("sensor_name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("observable", sa.Text(), nullable=False),
        sa.Column("observable_key", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("first_seen", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attributes.id"],
            name=op.f("fk_alerts_attribute_id_attributes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_alerts_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_alerts_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_alerts_sensor_id_sensors"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "sensor_id",
            "attribute_id",
            "observable_key",
            name=op.f("uq_alerts_sensor_id_attribute_id_observable_key"),
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_alerts_uuid")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_attribute_id"), ["attribute_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_alerts_org_id_id", ["org_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_sensor_id"), ["sensor_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_sensor_id"))
        batch_op.drop_index("ix_alerts_org_id_id")
        batch_op.drop_index(batch_op.f("ix_alerts_event_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_attribute_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("sensor_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensor_keys_sensor_id"))

    op.drop_table("sensor_keys")
    with op.batch_alter_table("sensors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensors_org_id"))

    op.drop_table("sensors")
