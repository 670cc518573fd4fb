"""overflow to other sites: the policy a call was queued with, when it could widen, whether it did

Revision ID: 0003_overflow
Revises: 0002_offices
Create Date: 2026-11-23

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003_overflow"
down_revision: Union[str, Sequence[str], None] = "0002_offices"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("overflow_policy", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("widen_after_s", sa.Float(), nullable=True))
    op.add_column("calls", sa.Column("overflowed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("calls", "overflowed")
    op.drop_column("calls", "widen_after_s")
    op.drop_column("calls", "overflow_policy")
