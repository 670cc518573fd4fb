"""office agendas: telephone and desk appointments, and the outbox of their written confirmations

Revision ID: 0005_appointments
Revises: 0004_repeat_callers
Create Date: 2026-11-24

Double booking is refused by the database itself: an exclusion constraint (btree_gist) forbids two
live (not cancelled) appointments of the same office and agent slot whose time ranges overlap.
The outbox's idempotency key is UNIQUE, so a message is queued at most once.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005_appointments"
down_revision: Union[str, Sequence[str], None] = "0004_repeat_callers"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Trusted extension since PostgreSQL 13: the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "appointments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("office_id", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("starts_at", TSTZ, nullable=False),
        sa.Column("ends_at", TSTZ, nullable=False),
        sa.Column("agent_slot", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'booked'")),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("business_name", sa.Text(), nullable=True),
        sa.Column("siren", sa.Text(), nullable=True),
        sa.Column("linkedid", sa.Text(), nullable=True),
        sa.Column("advisor_id", sa.Text(), nullable=True),
        sa.Column("reschedules", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("cancelled_at", TSTZ, nullable=True),
        sa.Column("outcome_at", TSTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_appointments"),
        sa.CheckConstraint("channel IN ('phone', 'desk')", name="ck_appointments_channel"),
        sa.CheckConstraint(
            "status IN ('booked', 'cancelled', 'honoured', 'no_answer', 'no_show')",
            name="ck_appointments_status",
        ),
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_ends_after_start"),
        sa.CheckConstraint("agent_slot >= 0", name="ck_appointments_agent_slot"),
    )
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT ex_appointments_no_overlap EXCLUDE USING gist "
        "(office_id WITH =, agent_slot WITH =, tstzrange(starts_at, ends_at) WITH &&) "
        "WHERE (status <> 'cancelled')"
    )
    op.create_index("ix_appointments_office_id_starts_at", "appointments", ["office_id", "starts_at"])
    op.create_index("ix_appointments_starts_at", "appointments", ["starts_at"])
    op.create_index("ix_appointments_linkedid", "appointments", ["linkedid"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("sent_at", TSTZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name="fk_outbox_appointment_id_appointments",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_outbox_channel"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_outbox_status"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_appointment_id", "outbox", ["appointment_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("appointments")
    # btree_gist is left installed: other objects may use it and it holds no data.
