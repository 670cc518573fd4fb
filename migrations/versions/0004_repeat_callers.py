"""repeat callers: the advisor a call was first offered to (the one who last answered the caller)

Revision ID: 0004_repeat_callers
Revises: 0003_overflow
Create Date: 2026-11-23

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004_repeat_callers"
down_revision: Union[str, Sequence[str], None] = "0003_overflow"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("repeat_advisor", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("calls", "repeat_advisor")
