"""indicators: one summary table per bucket size (15 min, local hour, day, month), each holding every
single cut (rows bucket, cut, key), replacing indicators_15m and indicators_day

Revision ID: 0010_indicators_rollups
Revises: 0009_appointment_calls
Create Date: 2026-11-23

A query reads one cut (by office, by site, ...), never a combination: one row per (bucket, cut, key)
is all it needs, and a table of all the cut columns together is as big as the calls themselves at fine
grains (indicators_day: ~1.1 M rows a year). The tables are emptied and the watermark forgotten: the
next `ccpros indicators refresh` rebuilds them from the first call (see docs/indicators.md).
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_indicators_rollups"
down_revision: Union[str, Sequence[str], None] = "0009_appointment_calls"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)
#: The additive counters (ccpros_agi.indicators.definitions.PARTIALS as of this revision), in order.
PARTIALS = ('calls', 'offered', 'answered', 'answered_le_0', 'answered_le_5', 'answered_le_10', 'answered_le_15', 'answered_le_20', 'answered_le_30', 'answered_le_40', 'answered_le_45', 'answered_le_50', 'answered_le_60', 'answered_le_75', 'answered_le_90', 'answered_le_120', 'answered_le_150', 'answered_le_180', 'answered_le_240', 'answered_le_300', 'answered_le_420', 'answered_le_600', 'answered_le_900', 'answered_le_1200', 'wait_sum', 'wait_max', 'handled', 'handle_sum', 'abandoned', 'abandoned_lt_1', 'abandoned_lt_2', 'abandoned_lt_3', 'abandoned_lt_5', 'abandoned_lt_8', 'abandoned_lt_10', 'abandoned_lt_15', 'abandoned_lt_20', 'abandoned_lt_30', 'abandoned_menu', 'closed', 'misdirected', 'office_line', 'failed', 'overflowed', 'callbacks_requested', 'callbacks_completed', 'callbacks_failed', 'appointments_booked', 'appointments_honoured')
FLOAT_PARTIALS = ('wait_sum', 'wait_max', 'handle_sum')
#: (table, bucket column, its type)
CUT_TABLES = (
    ("indicators_cut_15m", "bucket", TSTZ),
    ("indicators_cut_hour", "hour", sa.DateTime(timezone=False)),
    ("indicators_cut_day", "day", sa.Date()),
    ("indicators_cut_month", "month", sa.Date()),
)


def _partials() -> list[sa.Column]:
    return [sa.Column(p, sa.Float() if p in FLOAT_PARTIALS else sa.BigInteger(), nullable=False) for p in PARTIALS]


def upgrade() -> None:
    for table, column, type_ in CUT_TABLES:
        op.create_table(
            table,
            sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
            sa.Column(column, type_, nullable=False),
            sa.Column("cut", sa.Text(), nullable=False),
            sa.Column("key", sa.Text(), nullable=True),
            *_partials(),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        op.create_index(f"ix_{table}_cut_{column}", table, ["cut", column])
    op.drop_table("indicators_day")
    op.drop_table("indicators_15m")
    op.execute("DELETE FROM indicators_state")  # the next refresh rebuilds everything


def downgrade() -> None:
    # 0007's tables, empty: the next refresh (of that revision's code) rebuilds them
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
    op.execute("DELETE FROM indicators_state")
    for table, _, _ in reversed(CUT_TABLES):
        op.drop_table(table)
