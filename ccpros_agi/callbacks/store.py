"""Callbacks in PostgreSQL: the dialer's whole state lives here, so that a restart loses nothing and two
dialers never place the same callback (rows are claimed with ``FOR UPDATE SKIP LOCKED``)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccpros_agi.config.models import Callback

from .policy import after_attempt, channel_id


@dataclass(frozen=True)
class Placement:
    """A callback attempt to place in its queue."""

    callback_id: int
    attempt: int
    channel_id: str
    linkedid: str
    number: str
    queue: str
    topic: str | None
    display: str | None
    arrival_at: datetime


_PLACEMENT_COLUMNS = "c.id, c.linkedid, c.number, c.queue, c.topic, c.display, c.arrival_at"


def _placement(row: Any, attempt: int) -> Placement:
    return Placement(row.id, attempt, channel_id(row.id, attempt), row.linkedid, row.number, row.queue, row.topic,
                     row.display, row.arrival_at)


class CallbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, *, linkedid: str, number: str, queue: str, topic: str | None, home_site: str | None,
                     office_id: str | None, display: str | None, arrival_at: datetime, now: datetime,
                     due_at: datetime | None = None) -> int | None:
        """A new callback, due at ``due_at`` (default: at once); None if the call already has one."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                "INSERT INTO callbacks (linkedid, number, queue, topic, home_site, office_id, display, arrival_at,"
                " requested_at, next_attempt_at) VALUES (:linkedid, :number, :queue, :topic, :home_site,"
                " :office_id, :display, :arrival_at, :now, :due) ON CONFLICT (linkedid) DO NOTHING RETURNING id"),
                dict(linkedid=linkedid, number=number, queue=queue, topic=topic, home_site=home_site,
                     office_id=office_id, display=display, arrival_at=arrival_at, now=now,
                     due=due_at or now))).first()
        return row.id if row else None

    async def claim_due(self, now: datetime, settings: Callback, limit: int = 20) -> tuple[list[Placement], list[int]]:
        """Claim the due callbacks (oldest turn first): each gets its next attempt, status ``placing``.
        Callbacks whose number reached today's attempt limit fail instead. Returns (placements, failed ids)."""
        placements: list[Placement] = []
        failed: list[int] = []
        async with self.engine.begin() as conn:
            rows = (await conn.execute(text(
                f"SELECT {_PLACEMENT_COLUMNS}, c.attempts FROM callbacks c WHERE c.status = 'pending'"
                " AND c.next_attempt_at <= :now ORDER BY c.arrival_at LIMIT :limit FOR UPDATE SKIP LOCKED"),
                dict(now=now, limit=limit))).all()
            for row in rows:
                today = (await conn.execute(text(
                    "SELECT count(*) FROM callback_attempts a JOIN callbacks c ON c.id = a.callback_id"
                    " WHERE c.number = :number AND a.placed_at >= date_trunc('day', CAST(:now AS timestamptz))"),
                    dict(number=row.number, now=now))).scalar_one()
                if today >= settings.max_attempts_per_number_per_day:
                    await conn.execute(text(
                        "UPDATE callbacks SET status = 'failed', outcome = 'number_limit', updated_at = :now"
                        " WHERE id = :id"), dict(id=row.id, now=now))
                    failed.append(row.id)
                    continue
                attempt = row.attempts + 1
                await conn.execute(text(
                    "UPDATE callbacks SET status = 'placing', attempts = :attempt, updated_at = :now WHERE id = :id"),
                    dict(id=row.id, attempt=attempt, now=now))
                await conn.execute(text(
                    "INSERT INTO callback_attempts (callback_id, attempt, channel_id, placed_at)"
                    " VALUES (:id, :attempt, :channel, :now)"),
                    dict(id=row.id, attempt=attempt, channel=channel_id(row.id, attempt), now=now))
                placements.append(_placement(row, attempt))
        return placements, failed

    async def recover(self, now: datetime, older_than: datetime, alive: set[str]) -> tuple[list[Placement], list[str]]:
        """Attempts being placed whose legs are gone from Asterisk (``alive``: the uniqueids of the
        channels that exist). Never dialled: placed again, same attempt (returned); dialled but no
        result recorded: ended as ``unknown`` (returned as channel ids), like any ended attempt."""
        again: list[Placement] = []
        ended: list[str] = []
        async with self.engine.begin() as conn:
            rows = (await conn.execute(text(
                f"SELECT {_PLACEMENT_COLUMNS}, a.attempt, a.channel_id, a.dialed_at FROM callbacks c"
                " JOIN callback_attempts a ON a.callback_id = c.id AND a.attempt = c.attempts"
                " WHERE c.status = 'placing' AND a.result IS NULL AND a.placed_at < :older"
                " FOR UPDATE OF c SKIP LOCKED"), dict(older=older_than))).all()
            for row in rows:
                if row.channel_id in alive or f"{row.channel_id}-q" in alive:
                    continue
                if row.dialed_at is None:
                    await conn.execute(text(
                        "UPDATE callback_attempts SET placed_at = :now WHERE channel_id = :channel"),
                        dict(now=now, channel=row.channel_id))
                    again.append(_placement(row, row.attempt))
                else:
                    ended.append(row.channel_id)
        return again, ended

    async def placed(self, channel: str, position: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("UPDATE callback_attempts SET position = :position WHERE channel_id = :channel"),
                               dict(position=position, channel=channel))

    async def connected(self, channel: str, advisor: str | None, now: datetime) -> dict[str, Any] | None:
        """An advisor took the callback: the business is dialled now (once: None if already dialled)."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                "UPDATE callback_attempts a SET advisor_id = :advisor, dialed_at = :now FROM callbacks c"
                " WHERE a.channel_id = :channel AND a.dialed_at IS NULL AND a.result IS NULL"
                " AND c.id = a.callback_id AND c.status = 'placing'"
                " RETURNING c.id, c.linkedid, c.number, a.attempt"),
                dict(advisor=advisor, now=now, channel=channel))).first()
        return dict(row._mapping) if row else None

    async def ended(self, channel: str, result: str, now: datetime, settings: Callback) -> dict[str, Any] | None:
        """Record an attempt's result (once) and decide the callback's next step."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                "UPDATE callback_attempts SET result = :result, ended_at = :now WHERE channel_id = :channel"
                " AND result IS NULL RETURNING callback_id, attempt, advisor_id"),
                dict(result=result, now=now, channel=channel))).first()
            if row is None:
                return None
            callback = (await conn.execute(text(
                "SELECT id, linkedid, attempts FROM callbacks WHERE id = :id FOR UPDATE"),
                dict(id=row.callback_id))).one()
            step = after_attempt(result, callback.attempts, settings, now)
            await conn.execute(text(
                "UPDATE callbacks SET status = :status, next_attempt_at = coalesce(:next, next_attempt_at),"
                " outcome = :outcome, advisor_id = coalesce(:advisor, advisor_id), updated_at = :now"
                " WHERE id = :id"),
                dict(status=step.status, next=step.next_attempt_at, outcome=step.outcome,
                     advisor=row.advisor_id if result == "answered" else None, now=now, id=callback.id))
        return {"callback_id": callback.id, "linkedid": callback.linkedid, "attempt": row.attempt,
                "status": step.status, "next_attempt_at": step.next_attempt_at, "outcome": step.outcome}

    async def arrivals(self, uniqueids: list[str]) -> dict[str, datetime]:
        """When the calls with these linkedids were first queued (their turn)."""
        if not uniqueids:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT linkedid, queued_at FROM calls WHERE linkedid = ANY(:ids) AND queued_at IS NOT NULL"),
                dict(ids=uniqueids))).all()
        return {r.linkedid: r.queued_at for r in rows}

    async def callback_arrivals(self, ids: list[int]) -> dict[int, datetime]:
        if not ids:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, arrival_at FROM callbacks WHERE id = ANY(:ids)"),
                                       dict(ids=ids))).all()
        return {r.id: r.arrival_at for r in rows}

    async def get(self, callback_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text("SELECT * FROM callbacks WHERE id = :id"), dict(id=callback_id))).first()
        return dict(row._mapping) if row else None
