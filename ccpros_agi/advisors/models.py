"""The advisors' tables (migration 0008_advisor_states), for the schema check and typed access."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Identity, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from ccpros_agi.store.models import TSTZ, Base, _in

STATES = ("logged_out", "available", "on_call", "paused", "wrap_up")
MODES = ("listen", "whisper", "barge")


class AdvisorStateRow(Base):
    __tablename__ = "advisor_states"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        Index("ix_advisor_states_advisor_id_started_at", "advisor_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    advisor_id: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TSTZ)
    ended_at: Mapped[datetime | None] = mapped_column(TSTZ)


class SupervisionUseRow(Base):
    __tablename__ = "supervision_uses"
    __table_args__ = (
        CheckConstraint(_in("mode", MODES), name="mode"),
        Index("ix_supervision_uses_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    supervisor_id: Mapped[str] = mapped_column(Text)
    advisor_id: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    granted: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(TSTZ)
