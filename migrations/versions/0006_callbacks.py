"""callbacks: waiting callers called back in their turn, each attempt of the dialer; outcome "callback"

Revision ID: 0006_callbacks
Revises: 0005_appointments
Create Date: 2026-11-23

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_callbacks"
down_revision: Union[str, Sequence[str], None] = "0005_appointments"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)
OUTCOMES_0002 = ("in_progress", "answered", "abandoned_queue", "abandoned_menu", "closed", "failed",
                 "misdirected", "office_line")
OUTCOMES_0006 = (*OUTCOMES_0002, "callback")
STATUSES = ("pending", "placing", "done", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_outcomes(values: tuple[str, ...]) -> None:
    op.drop_constraint(op.f("ck_calls_outcome"), "calls", type_="check")
    op.create_check_constraint(op.f("ck_calls_outcome"), "calls", _in("outcome", values))


def upgrade() -> None:
    _replace_outcomes(OUTCOMES_0006)
    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),           # the call it was asked during
        sa.Column("number", sa.Text(), nullable=False),             # E.164, French geographic or mobile
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("home_site", sa.Text(), nullable=True),
        sa.Column("office_id", sa.Text(), nullable=True),
        sa.Column("display", sa.Text(), nullable=True),             # what the advisor's phone shows
        sa.Column("arrival_at", TSTZ, nullable=False),              # its turn: the call's first queueing
        sa.Column("requested_at", TSTZ, nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TSTZ, nullable=False),
        sa.Column("advisor_id", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("updated_at", TSTZ, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_callbacks_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_callbacks_linkedid")),
    )
    op.create_index("ix_callbacks_status_next_attempt_at", "callbacks", ["status", "next_attempt_at"])
    op.create_index("ix_callbacks_number", "callbacks", ["number"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("callback_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Text(), nullable=False),        # Asterisk uniqueid of the business leg
        sa.Column("placed_at", TSTZ, nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("advisor_id", sa.Text(), nullable=True),
        sa.Column("dialed_at", TSTZ, nullable=True),                # the business's number was dialled
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("ended_at", TSTZ, nullable=True),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"], ondelete="CASCADE",
                                name=op.f("fk_callback_attempts_callback_id_callbacks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_callback_attempts_channel_id")),
        sa.UniqueConstraint("callback_id", "attempt", name=op.f("uq_callback_attempts_callback_id_attempt")),
    )


def downgrade() -> None:
    op.drop_table("callback_attempts")
    op.drop_table("callbacks")
    op.execute("UPDATE calls SET outcome = 'abandoned_queue' WHERE outcome = 'callback'")
    _replace_outcomes(OUTCOMES_0002)
