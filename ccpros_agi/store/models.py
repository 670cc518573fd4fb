"""SQLAlchemy 2 declarative models of the call record.

The schema is created ONLY by the Alembic migrations (``migrations/versions``);
these classes describe it (and a test checks they agree with the migrations).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ENTRY_KINDS = ("national", "office", "unknown")
MENU_REASONS = ("choice", "no_input", "invalid")
OUTCOMES = (
    "in_progress",
    "answered",
    "abandoned_queue",
    "abandoned_menu",
    "closed",
    "failed",
    "misdirected",  # a private individual, told the individuals' number (maybe transferred there)
    "office_line",  # an office nobody covers: sent to the office's own line
    "callback",     # the caller asked to be called back in their turn, and hung up (ccpros_agi/callbacks)
)
EVENT_SOURCES = ("agi", "ami", "dialplan", "web")  # web: an advisor's action through the HTTP API
CALLER_RAW_MAX = 80  # caller_raw and caller_name

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


TSTZ = DateTime(timezone=True)


class Call(Base):
    """One row per call, keyed by Asterisk's linkedid."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(_in("entry_kind", ENTRY_KINDS), name="entry_kind"),
        CheckConstraint(_in("menu_reason", MENU_REASONS), name="menu_reason"),
        CheckConstraint(_in("outcome", OUTCOMES), name="outcome"),
        Index("ix_calls_arrived_at", "arrived_at"),
        Index("ix_calls_outcome_arrived_at", "outcome", "arrived_at"),
        Index("ix_calls_caller_number_arrived_at", "caller_number", "arrived_at"),
        Index("ix_calls_office_id_arrived_at", "office_id", "arrived_at"),
        Index("ix_calls_home_site_arrived_at", "home_site", "arrived_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    linkedid: Mapped[str] = mapped_column(Text, unique=True)
    called_number: Mapped[str | None] = mapped_column(Text)
    caller_number: Mapped[str | None] = mapped_column(Text)  # E.164 when valid
    caller_raw: Mapped[str | None] = mapped_column(Text)  # as sent by the trunk, <= 80 chars
    entry_kind: Mapped[str] = mapped_column(Text, server_default=text("'unknown'"))
    topic: Mapped[str | None] = mapped_column(Text)
    menu_reason: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    arrived_at: Mapped[datetime] = mapped_column(TSTZ)
    menu_at: Mapped[datetime | None] = mapped_column(TSTZ)
    queued_at: Mapped[datetime | None] = mapped_column(TSTZ)
    answered_at: Mapped[datetime | None] = mapped_column(TSTZ)
    ended_at: Mapped[datetime | None] = mapped_column(TSTZ)
    advisor_id: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, server_default=text("'in_progress'"))
    # True when the call went through the dialplan fallback (FastAGI app unreachable or died).
    fallback: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    hangup_cause: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))
    # -- 0002: calls to local tax offices (SIE) --
    office_id: Mapped[str | None] = mapped_column(Text)  # the office whose number was called
    covering_site: Mapped[str | None] = mapped_column(Text)  # site covering that office at call time
    home_site: Mapped[str | None] = mapped_column(Text)  # whose advisors are tried first (None: anywhere)
    caller_name: Mapped[str | None] = mapped_column(Text)  # display name sent by the trunk, <= 80 chars
    misdirected: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    transferred_to_office: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    transferred_at: Mapped[datetime | None] = mapped_column(TSTZ)
    # -- 0003: overflow to other sites --
    overflow_policy: Mapped[str | None] = mapped_column(Text)  # the topic's policy, for calls with a home site
    widen_after_s: Mapped[float | None] = mapped_column(Float)  # when other sites could answer it
    overflowed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))  # answered at another site
    # -- 0004: repeat callers --
    repeat_advisor: Mapped[str | None] = mapped_column(Text)  # rung first: the caller's last advisor


class CallEvent(Base):
    """Timeline of a call, from the FastAGI app, the AMI listener or the dialplan."""

    __tablename__ = "call_events"
    __table_args__ = (
        CheckConstraint(_in("source", EVENT_SOURCES), name="source"),
        Index("ix_call_events_linkedid_at", "linkedid", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    linkedid: Mapped[str] = mapped_column(
        Text, ForeignKey("calls.linkedid", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(TSTZ)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Cel(Base):
    """Table written by Asterisk's ``cel_pgsql`` (column names are what the module maps)."""

    __tablename__ = "cel"
    __table_args__ = (
        Index("ix_cel_linkedid", "linkedid"),
        Index("ix_cel_eventtime", "eventtime"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # serial
    eventtype: Mapped[str] = mapped_column(String(30))
    eventtime: Mapped[datetime] = mapped_column(TSTZ)
    userdeftype: Mapped[str | None] = mapped_column(String(255))
    cid_name: Mapped[str | None] = mapped_column(String(80))
    cid_num: Mapped[str | None] = mapped_column(String(80))
    cid_ani: Mapped[str | None] = mapped_column(String(80))
    cid_rdnis: Mapped[str | None] = mapped_column(String(80))
    cid_dnid: Mapped[str | None] = mapped_column(String(80))
    exten: Mapped[str | None] = mapped_column(String(80))
    context: Mapped[str | None] = mapped_column(String(80))
    channame: Mapped[str | None] = mapped_column(String(80))
    appname: Mapped[str | None] = mapped_column(String(80))
    appdata: Mapped[str | None] = mapped_column(String(512))
    amaflags: Mapped[int | None] = mapped_column(Integer)
    accountcode: Mapped[str | None] = mapped_column(String(20))
    peeraccount: Mapped[str | None] = mapped_column(String(20))
    uniqueid: Mapped[str | None] = mapped_column(String(150))
    linkedid: Mapped[str | None] = mapped_column(String(150))
    userfield: Mapped[str | None] = mapped_column(String(255))
    peer: Mapped[str | None] = mapped_column(String(80))
    extra: Mapped[str | None] = mapped_column(String(512))
