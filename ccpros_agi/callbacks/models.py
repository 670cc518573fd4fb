"""The callbacks' tables (migration 0006_callbacks), for the schema check and typed access."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ccpros_agi.store.models import TSTZ, Base, _in

STATUSES = ("pending", "placing", "done", "failed", "cancelled")


class CallbackRow(Base):
    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        Index("ix_callbacks_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_callbacks_number", "number"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    linkedid: Mapped[str] = mapped_column(Text, unique=True)
    number: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    home_site: Mapped[str | None] = mapped_column(Text)
    office_id: Mapped[str | None] = mapped_column(Text)
    display: Mapped[str | None] = mapped_column(Text)
    arrival_at: Mapped[datetime] = mapped_column(TSTZ)
    requested_at: Mapped[datetime] = mapped_column(TSTZ)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(TSTZ)
    advisor_id: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))


class CallbackAttemptRow(Base):
    __tablename__ = "callback_attempts"
    __table_args__ = (UniqueConstraint("callback_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    callback_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("callbacks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(Text, unique=True)
    placed_at: Mapped[datetime] = mapped_column(TSTZ)
    position: Mapped[int | None] = mapped_column(Integer)
    advisor_id: Mapped[str | None] = mapped_column(Text)
    dialed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    result: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(TSTZ)
