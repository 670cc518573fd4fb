"""The indicators' summary tables (migration 0007_indicators), for the schema check."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Identity, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from ccpros_agi.store.models import TSTZ, Base

from .definitions import FLOAT_PARTIALS, PARTIALS


def _partials(namespace: dict) -> None:
    for name in PARTIALS:
        namespace[name] = mapped_column(Float if name in FLOAT_PARTIALS else BigInteger, nullable=False)


class Indicators15m(Base):
    """Summed partials (definitions.PARTIALS) of the calls arrived in a 15-minute bucket (UTC start)."""
    __tablename__ = "indicators_15m"
    __table_args__ = (Index("ix_indicators_15m_bucket", "bucket"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(TSTZ)
    site_id: Mapped[str | None] = mapped_column(Text)
    home_site: Mapped[str | None] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(Text)
    entry_kind: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsDay(Base):
    """Summed partials of the calls arrived on a local day, also cut by office."""
    __tablename__ = "indicators_day"
    __table_args__ = (Index("ix_indicators_day_day", "day"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    site_id: Mapped[str | None] = mapped_column(Text)
    home_site: Mapped[str | None] = mapped_column(Text)
    office_id: Mapped[str | None] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(Text)
    entry_kind: Mapped[str | None] = mapped_column(Text)
    _partials(locals())


class IndicatorsState(Base):
    """Watermark: the summary tables hold every call arrived before ``refreshed_until``."""
    __tablename__ = "indicators_state"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    refreshed_until: Mapped[datetime] = mapped_column(TSTZ)
