"""indicators: summary tables of the call partials (15-minute and daily), and their watermark

Revision ID: 0007_indicators
Revises: 0006_callbacks
Create Date: 2026-11-25

See ccpros_agi/indicators (definitions.PARTIALS are the columns, sql.refresh fills them) and
docs/indicators.md.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007_indicators"
down_revision: Union[str, Sequence[str], None] = "0006_callbacks"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)
#: The additive counters (ccpros_agi.indicators.definitions.PARTIALS as of this revision), in order.
PARTIALS = ('calls', 'offered', 'answered', 'answered_le_0', 'answered_le_5', 'answered_le_10', 'answered_le_15', 'answered_le_20', 'answered_le_30', 'answered_le_40', 'answered_le_45', 'answered_le_50', 'answered_le_60', 'answered_le_75', 'answered_le_90', 'answered_le_120', 'answered_le_150', 'answered_le_180', 'answered_le_240', 'answered_le_300', 'answered_le_420', 'answered_le_600', 'answered_le_900', 'answered_le_1200', 'wait_sum', 'wait_max', 'handled', 'handle_sum', 'abandoned', 'abandoned_lt_1', 'abandoned_lt_2', 'abandoned_lt_3', 'abandoned_lt_5', 'abandoned_lt_8', 'abandoned_lt_10', 'abandoned_lt_15', 'abandoned_lt_20', 'abandoned_lt_30', 'abandoned_menu', 'closed', 'misdirected', 'office_line', 'failed', 'overflowed', 'callbacks_requested', 'callbacks_completed', 'callbacks_failed', 'appointments_booked', 'appointments_honoured')
FLOAT_PARTIALS = ('wait_sum', 'wait_max', 'handle_sum')


def _partials() -> list[sa.Column]:
    return [sa.Column(p, sa.Float() if p in FLOAT_PARTIALS else sa.BigInteger(), nullable=False) for p in PARTIALS]


def upgrade() -> None:
    op.create_table(
        "indicators_15m",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("bucket", TSTZ, nullable=False),
        sa.Column("site_id", sa.Text(), nullable=True),
        sa.Column("home_site", sa.Text(), nullable=True),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("entry_kind", sa.Text(), nullable=True),
        *_partials(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators_15m")),
    )
    op.create_index("ix_indicators_15m_bucket", "indicators_15m", ["bucket"])
    op.create_table(
        "indicators_day",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("site_id", sa.Text(), nullable=True),
        sa.Column("home_site", sa.Text(), nullable=True),
        sa.Column("office_id", sa.Text(), nullable=True),
        sa.Column("topic", sa.Text(), nullable=True),
        sa.Column("entry_kind", sa.Text(), nullable=True),
        *_partials(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators_day")),
    )
    op.create_index("ix_indicators_day_day", "indicators_day", ["day"])
    op.create_table(
        "indicators_state",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("refreshed_until", TSTZ, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_indicators_state")),
    )


def downgrade() -> None:
    op.drop_table("indicators_state")
    op.drop_table("indicators_day")
    op.drop_table("indicators_15m")
