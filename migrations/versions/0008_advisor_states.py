"""advisor_states: each advisor's states over time (logged out, available, on a call, paused with a reason,
wrap-up); supervision_uses: every listen / whisper / barge asked by a supervisor, granted or refused

Revision ID: 0008_advisor_states
Revises: 0007_indicators
Create Date: 2026-11-24

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_advisor_states"
down_revision: Union[str, Sequence[str], None] = "0007_indicators"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)
STATES = ("logged_out", "available", "on_call", "paused", "wrap_up")
MODES = ("listen", "whisper", "barge")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "advisor_states",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("advisor_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),             # the pause reason
        sa.Column("started_at", TSTZ, nullable=False),
        sa.Column("ended_at", TSTZ, nullable=True),                # NULL: the advisor's current state
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_advisor_states_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_advisor_states")),
    )
    op.create_index("ix_advisor_states_advisor_id_started_at", "advisor_states", ["advisor_id", "started_at"])
    op.create_table(
        "supervision_uses",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("supervisor_id", sa.Text(), nullable=False),
        sa.Column("advisor_id", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),            # "feature_code" or "web"
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),             # why it was refused, or what failed
        sa.Column("at", TSTZ, nullable=False),
        sa.CheckConstraint(_in("mode", MODES), name=op.f("ck_supervision_uses_mode")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_uses")),
    )
    op.create_index("ix_supervision_uses_at", "supervision_uses", ["at"])


def downgrade() -> None:
    op.drop_table("supervision_uses")
    op.drop_table("advisor_states")
