"""appointment_calls: the return calls of phone appointments (click-to-call: the office's agent first,
then the business), one row per attempt with its result

Revision ID: 0009_appointment_calls
Revises: 0008_advisor_states
Create Date: 2026-11-25

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_appointment_calls"
down_revision: Union[str, Sequence[str], None] = "0008_advisor_states"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)
RESULTS = ("answered", "no_answer", "busy", "cancelled", "failed", "agent_no_answer", "agent_unreachable")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "appointment_calls",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("appointment_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),         # ccpros-appt-<id>-<attempt>
        sa.Column("office_line", sa.Text(), nullable=False),        # the agent's phone: the office's own line
        sa.Column("number", sa.Text(), nullable=False),             # the business, E.164
        sa.Column("caller_id", sa.Text(), nullable=False),          # presented to the business
        sa.Column("started_by", sa.Text(), nullable=True),          # who clicked (advisor/agent id)
        sa.Column("started_at", TSTZ, nullable=False),
        sa.Column("agent_answered_at", TSTZ, nullable=True),        # then the business is dialled
        sa.Column("ended_at", TSTZ, nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.CheckConstraint(_in("result", RESULTS), name=op.f("ck_appointment_calls_result")),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointments.id"], ondelete="CASCADE",
                                name=op.f("fk_appointment_calls_appointment_id_appointments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_calls")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_appointment_calls_channel_id")),
        sa.UniqueConstraint("appointment_id", "attempt", name=op.f("uq_appointment_calls_appointment_id_attempt")),
    )


def downgrade() -> None:
    op.drop_table("appointment_calls")
