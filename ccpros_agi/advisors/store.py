"""Advisors' states and supervision uses in PostgreSQL (tables of migration 0008_advisor_states)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .states import Change, Interval


class AdvisorStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, changes: Sequence[Change]) -> int:
        """Each change ends the advisor's open state and opens the new one, unless the open state is already
        this one (a resync after a restart repeats what is recorded). Returns how many rows were opened."""
        opened = 0
        async with self.engine.begin() as conn:
            for c in changes:
                current = (await conn.execute(text(
                    "SELECT id, state, reason FROM advisor_states WHERE advisor_id = :a AND ended_at IS NULL"
                    " ORDER BY started_at DESC, id DESC LIMIT 1 FOR UPDATE"), {"a": c.advisor})).first()
                if current is not None and (current.state, current.reason) == (c.state, c.reason):
                    continue
                if current is None and c.state == "logged_out":
                    continue                              # nothing known yet, nothing to say
                await conn.execute(text(
                    "UPDATE advisor_states SET ended_at = greatest(started_at, :at) WHERE advisor_id = :a"
                    " AND ended_at IS NULL"), {"a": c.advisor, "at": c.at})
                await conn.execute(text(
                    "INSERT INTO advisor_states (advisor_id, state, reason, started_at) VALUES (:a, :s, :r, :at)"),
                    {"a": c.advisor, "s": c.state, "r": c.reason, "at": c.at})
                opened += 1
        return opened

    async def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT advisor_id, state, reason, started_at, ended_at FROM advisor_states"
                " WHERE started_at < :end AND (ended_at IS NULL OR ended_at > :start)"
                " ORDER BY advisor_id, started_at, id"), {"start": start, "end": end})).all()
        return [Interval(r.advisor_id, r.state, r.reason, r.started_at, r.ended_at) for r in rows]

    async def states_of(self, advisor: str, since: datetime) -> list[Interval]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT advisor_id, state, reason, started_at, ended_at FROM advisor_states"
                " WHERE advisor_id = :a AND (ended_at IS NULL OR ended_at > :since) ORDER BY started_at, id"),
                {"a": advisor, "since": since})).all()
        return [Interval(r.advisor_id, r.state, r.reason, r.started_at, r.ended_at) for r in rows]

    async def record_supervision(self, *, supervisor: str, advisor: str, mode: str, source: str, granted: bool,
                                 detail: str | None, at: datetime) -> int:
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                "INSERT INTO supervision_uses (supervisor_id, advisor_id, mode, source, granted, detail, at)"
                " VALUES (:s, :a, :m, :src, :g, :d, :at) RETURNING id"),
                dict(s=supervisor, a=advisor, m=mode, src=source, g=granted, d=detail, at=at))).first()
        return row.id

    async def today_calls(self, since: datetime, sl_threshold_s: int) -> dict[str, int]:
        """Queue calls since ``since`` (the day's start): offered (answered or abandoned in a queue),
        answered, answered within the service-level threshold."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT count(*) FILTER (WHERE outcome = 'answered') AS answered,"
                " count(*) FILTER (WHERE outcome = 'abandoned_queue') AS abandoned,"
                " count(*) FILTER (WHERE outcome = 'answered' AND answered_at - queued_at"
                "   <= make_interval(secs => :sl)) AS within_sl"
                " FROM calls WHERE arrived_at >= :since AND queued_at IS NOT NULL"),
                {"since": since, "sl": sl_threshold_s})).first()
        return {"answered": row.answered, "abandoned": row.abandoned, "within_sl": row.within_sl}
