"""The indicators' summary tables (migrations 0007_indicators, 0010_indicators_rollups), for the schema check.

One table per bucket size, each with the partials of every single cut: rows (bucket, cut, key), cut one
of ``sql.STORED_CUTS`` (``national``: key NULL).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Float, Identity, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from ccpros_agi.store.models import TSTZ, Base

from .definitions import FLOAT_PARTIALS, PARTIALS


def _partials(namespace: dict) -> None:
    for name in PARTIALS:
        namespace[name] = mapped_column(Float if name in FLOAT_PARTIALS else BigInteger, nullable=False)


class IndicatorsCut15m(Base):
    """Summed partials (definitions.PARTIALS) of the calls arrived in a 15-minute bucket (UTC start), per cut."""
    __tablename__ = "indicators_cut_15m"
    __table_args__ = (Index("ix_indicators_cut_15m_cut_bucket", "cut", "bucket"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(TSTZ)
    cut: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsCutHour(Base):
    """The same per local hour (naive local time: the repeated hour of the autumn change is one bucket)."""
    __tablename__ = "indicators_cut_hour"
    __table_args__ = (Index("ix_indicators_cut_hour_cut_hour", "cut", "hour"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    cut: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsCutDay(Base):
    """The same per local day."""
    __tablename__ = "indicators_cut_day"
    __table_args__ = (Index("ix_indicators_cut_day_cut_day", "cut", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    cut: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsCutMonth(Base):
    """The same per local month (``month``: its first day), over its days before the watermark."""
    __tablename__ = "indicators_cut_month"
    __table_args__ = (Index("ix_indicators_cut_month_cut_month", "cut", "month"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    cut: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsState(Base):
    """Watermark: the summary tables hold every call arrived before ``refreshed_until``."""
    __tablename__ = "indicators_state"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    refreshed_until: Mapped[datetime] = mapped_column(TSTZ)
