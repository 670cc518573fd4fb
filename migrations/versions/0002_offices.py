"""calls to local tax offices (SIE): office, covering/home site, misdirected calls, transfers

Revision ID: 0002_offices
Revises: 0001_calls
Create Date: 2025-03-20

"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_offices"
down_revision: Union[str, Sequence[str], None] = "0001_calls"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TSTZ = sa.DateTime(timezone=True)

OUTCOMES_0001 = ("in_progress", "answered", "abandoned_queue", "abandoned_menu", "closed", "failed")
OUTCOMES_0002 = (*OUTCOMES_0001, "misdirected", "office_line")
SOURCES_0001 = ("agi", "ami", "dialplan")
SOURCES_0002 = (*SOURCES_0001, "web")

NEW_COLUMNS = (
    "office_id",
    "covering_site",
    "home_site",
    "caller_name",
    "misdirected",
    "transferred_to_office",
    "transferred_at",
)
NEW_INDEXES = {
    "ix_calls_caller_number_arrived_at": ["caller_number", "arrived_at"],
    "ix_calls_office_id_arrived_at": ["office_id", "arrived_at"],
    "ix_calls_home_site_arrived_at": ["home_site", "arrived_at"],
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_check(table: str, name: str, condition: str) -> None:
    # op.f(): the names are already final (naming convention of ccpros_agi.store.models)
    op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
    op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)


def upgrade() -> None:
    op.add_column("calls", sa.Column("office_id", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("covering_site", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("home_site", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("caller_name", sa.Text(), nullable=True))
    op.add_column(
        "calls", sa.Column("misdirected", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column(
        "calls",
        sa.Column("transferred_to_office", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("calls", sa.Column("transferred_at", TSTZ, nullable=True))
    _replace_check("calls", "outcome", _in("outcome", OUTCOMES_0002))
    _replace_check("call_events", "source", _in("source", SOURCES_0002))
    for name, columns in NEW_INDEXES.items():
        op.create_index(name, "calls", columns)


def downgrade() -> None:
    # Rows using the new values cannot satisfy the old checks (a downgrade loses data anyway):
    # the new outcomes become what 0001's rule would have decided; advisors' web events go.
    op.execute(
        "UPDATE calls SET outcome = CASE"
        " WHEN answered_at IS NOT NULL THEN 'answered'"
        " WHEN queued_at IS NOT NULL THEN 'abandoned_queue'"
        " WHEN menu_at IS NOT NULL THEN 'abandoned_menu'"
        " ELSE 'failed' END"
        " WHERE outcome IN ('misdirected', 'office_line')"
    )
    op.execute("DELETE FROM call_events WHERE source = 'web'")
    _replace_check("call_events", "source", _in("source", SOURCES_0001))
    _replace_check("calls", "outcome", _in("outcome", OUTCOMES_0001))
    for name in NEW_INDEXES:
        op.drop_index(name, table_name="calls")
    for column in reversed(NEW_COLUMNS):
        op.drop_column("calls", column)
