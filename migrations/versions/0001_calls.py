"""calls, call_events and cel (Asterisk cel_pgsql) tables

Revision ID: 0001_calls
Revises:
Create Date: 2025-01-01

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0001_calls"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("called_number", sa.Text(), nullable=True),
        sa.Column("caller_number", sa.Text(), nullable=True),
        sa.Column("caller_raw", sa.Text(), nullable=True),
        sa.Column("entry_kind", sa.Text(), server_default=sa.text("'unknown'"), nullable=False),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("menu_reason", sa.Text(), nullable=True),
        sa.Column("queue", sa.Text(), nullable=True),
        sa.Column("arrived_at", TSTZ, nullable=False),
        sa.Column("menu_at", TSTZ, nullable=True),
        sa.Column("queued_at", TSTZ, nullable=True),
        sa.Column("answered_at", TSTZ, nullable=True),
        sa.Column("ended_at", TSTZ, nullable=True),
        sa.Column("advisor_id", sa.Text(), nullable=True),
        sa.Column("site_id", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), server_default=sa.text("'in_progress'"), nullable=False),
        sa.Column("fallback", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("hangup_cause", sa.Text(), nullable=True),
        sa.Column("updated_at", TSTZ, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "entry_kind IN ('national', 'office', 'unknown')", name=op.f("ck_calls_entry_kind")
        ),
        sa.CheckConstraint(
            "menu_reason IN ('choice', 'no_input', 'invalid')", name=op.f("ck_calls_menu_reason")
        ),
        sa.CheckConstraint(
            "outcome IN ('in_progress', 'answered', 'abandoned_queue', 'abandoned_menu', "
            "'closed', 'failed')",
            name=op.f("ck_calls_outcome"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_calls_linkedid")),
    )
    op.create_index("ix_calls_arrived_at", "calls", ["arrived_at"])
    op.create_index("ix_calls_outcome_arrived_at", "calls", ["outcome", "arrived_at"])

    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("at", TSTZ, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('agi', 'ami', 'dialplan')", name=op.f("ck_call_events_source")
        ),
        sa.ForeignKeyConstraint(
            ["linkedid"],
            ["calls.linkedid"],
            name=op.f("fk_call_events_linkedid_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    op.create_index("ix_call_events_linkedid", "call_events", ["linkedid"])
    op.create_index("ix_call_events_linkedid_at", "call_events", ["linkedid", "at"])

    # Column names/types of Asterisk's contrib CEL schema: cel_pgsql maps columns by name.
    op.create_table(
        "cel",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),  # serial
        sa.Column("eventtype", sa.String(30), nullable=False),
        sa.Column("eventtime", TSTZ, nullable=False),
        sa.Column("userdeftype", sa.String(255), nullable=True),
        sa.Column("cid_name", sa.String(80), nullable=True),
        sa.Column("cid_num", sa.String(80), nullable=True),
        sa.Column("cid_ani", sa.String(80), nullable=True),
        sa.Column("cid_rdnis", sa.String(80), nullable=True),
        sa.Column("cid_dnid", sa.String(80), nullable=True),
        sa.Column("exten", sa.String(80), nullable=True),
        sa.Column("context", sa.String(80), nullable=True),
        sa.Column("channame", sa.String(80), nullable=True),
        sa.Column("appname", sa.String(80), nullable=True),
        sa.Column("appdata", sa.String(512), nullable=True),
        sa.Column("amaflags", sa.Integer(), nullable=True),
        sa.Column("accountcode", sa.String(20), nullable=True),
        sa.Column("peeraccount", sa.String(20), nullable=True),
        sa.Column("uniqueid", sa.String(150), nullable=True),
        sa.Column("linkedid", sa.String(150), nullable=True),
        sa.Column("userfield", sa.String(255), nullable=True),
        sa.Column("peer", sa.String(80), nullable=True),
        sa.Column("extra", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cel")),
    )
    op.create_index("ix_cel_linkedid", "cel", ["linkedid"])
    op.create_index("ix_cel_eventtime", "cel", ["eventtime"])


def downgrade() -> None:
    op.drop_table("cel")
    op.drop_table("call_events")
    op.drop_table("calls")
