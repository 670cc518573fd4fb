"""Appointments and the outbox of their written confirmations: models and async repository.

Why it is shaped like this:
- no double booking, even with two advisors clicking at once: the migration's exclusion constraint
  (``ex_appointments_no_overlap``: same office, same agent slot, overlapping times, not cancelled) is
  the guarantee; a per-office advisory lock taken by every booking and reschedule makes concurrent
  requests pick different agent slots instead of failing;
- a message is queued in the SAME transaction as the change it tells about (booked, rescheduled,
  cancelled): no appointment without its confirmation, no confirmation of a change rolled back;
- sending is at least once, never twice for the same idempotency key: a worker claims one due row
  with ``FOR UPDATE SKIP LOCKED``, sends it, and marks it sent in that same transaction. The one
  window left: the process dies (or loses the database) after the send succeeded and before the
  COMMIT; the row is then still pending and sent again. The key travels with the message (e-mail
  Message-ID, gateway ``Idempotency-Key`` header) so that a receiver may drop that duplicate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from ccpros_agi.appointments import agenda as rules
from ccpros_agi.appointments import calls as call_rules
from ccpros_agi.appointments.config import AppointmentsConfig
from ccpros_agi.appointments.messages import Message, render

from .models import TSTZ, Base, _in
from .pgcluster import psycopg_url

log = structlog.get_logger("ccpros.appointments")

UTC = timezone.utc
CHANNELS = ("phone", "desk")
MESSAGE_CHANNELS = ("email", "sms")
OUTBOX_STATUSES = ("pending", "sent", "failed")
EXCLUSION_VIOLATION = "23P01"
ERROR_MAX = 500  # last_error is cut to this many characters
CALL_RESULTS = call_rules.RESULTS


class Appointment(Base):
    """One appointment of an office's agenda, booked by an advisor for a business."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", rules.STATUSES), name="status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("agent_slot >= 0", name="agent_slot"),
        # + EXCLUDE USING gist (office_id =, agent_slot =, tstzrange(starts_at, ends_at) &&)
        #   WHERE status <> 'cancelled'  -- created by migration 0005 (Alembic does not compare it)
        Index("ix_appointments_office_id_starts_at", "office_id", "starts_at"),
        Index("ix_appointments_starts_at", "starts_at"),
        Index("ix_appointments_linkedid", "linkedid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    office_id: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(TSTZ)
    ends_at: Mapped[datetime] = mapped_column(TSTZ)
    agent_slot: Mapped[int] = mapped_column(Integer)  # which of the period's agents, 0-based
    status: Mapped[str] = mapped_column(Text, server_default=text("'booked'"))
    phone: Mapped[str] = mapped_column(Text)  # E.164
    email: Mapped[str | None] = mapped_column(Text)
    business_name: Mapped[str | None] = mapped_column(Text)
    siren: Mapped[str | None] = mapped_column(Text)
    linkedid: Mapped[str | None] = mapped_column(Text)  # the call it was booked during
    advisor_id: Mapped[str | None] = mapped_column(Text)
    reschedules: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))
    updated_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))
    cancelled_at: Mapped[datetime | None] = mapped_column(TSTZ)
    outcome_at: Mapped[datetime | None] = mapped_column(TSTZ)


class OutboxMessage(Base):
    """A written confirmation to send (e-mail or SMS), once per idempotency key."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("channel", MESSAGE_CHANNELS), name="channel"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_appointment_id", "appointment_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    channel: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    appointment_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("appointments.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TSTZ, server_default=text("now()"))
    sent_at: Mapped[datetime | None] = mapped_column(TSTZ)


class AppointmentCall(Base):
    """One attempt of an appointment's return call (ccpros_agi.appointments.calls): the office's agent
    first, then the business."""

    __tablename__ = "appointment_calls"
    __table_args__ = (
        CheckConstraint(_in("result", CALL_RESULTS), name="result"),
        UniqueConstraint("appointment_id", "attempt"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appointment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("appointments.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[str] = mapped_column(Text, unique=True)
    office_line: Mapped[str] = mapped_column(Text)
    number: Mapped[str] = mapped_column(Text)
    caller_id: Mapped[str] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TSTZ)
    agent_answered_at: Mapped[datetime | None] = mapped_column(TSTZ)
    ended_at: Mapped[datetime | None] = mapped_column(TSTZ)
    result: Mapped[str | None] = mapped_column(Text)


appointments = Appointment.__table__
outbox = OutboxMessage.__table__
appointment_calls = AppointmentCall.__table__


@dataclass(frozen=True)
class Booking:
    """What an advisor books (already validated by the API: E.164 phone, SIREN digits...)."""

    office_id: str
    reason: str
    starts_at: datetime
    phone: str
    email: str | None = None
    business_name: str | None = None
    siren: str | None = None
    linkedid: str | None = None
    advisor_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    id: int
    key: str
    sent: bool
    error: str | None = None


Sender = Callable[[Mapping[str, Any]], Awaitable[None]]


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


class AppointmentStore:
    """Repository of appointments and their outbox on an AsyncEngine (``postgresql+psycopg``);
    the agenda configuration gives the rules and the texts."""

    def __init__(self, engine: AsyncEngine, config: AppointmentsConfig) -> None:
        self.engine = engine
        self.config = config

    @classmethod
    async def connect(cls, url: str, config: AppointmentsConfig, **engine_kwargs: Any) -> AppointmentStore:
        """Store on a new engine, sessions in UTC (as CallStore)."""
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine_kwargs.setdefault("connect_args", {"options": "-c TimeZone=UTC"})
        return cls(create_async_engine(psycopg_url(url), **engine_kwargs), config)

    async def close(self) -> None:
        await self.engine.dispose()

    # -- reads ---------------------------------------------------------------------------------------
    async def get(self, appointment_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(appointments).where(appointments.c.id == appointment_id))).first()
        return _row(row) if row else None

    async def busy(self, office_id: str, start: datetime, end: datetime) -> list[rules.Busy]:
        async with self.engine.connect() as conn:
            return await self._busy(conn, office_id, start, end)

    async def _busy(self, conn: AsyncConnection, office_id: str, start: datetime, end: datetime,
                    exclude: int | None = None) -> list[rules.Busy]:
        stmt = select(appointments.c.starts_at, appointments.c.ends_at, appointments.c.agent_slot).where(
            appointments.c.office_id == office_id, appointments.c.status != "cancelled",
            appointments.c.starts_at < end, appointments.c.ends_at > start)
        if exclude is not None:
            stmt = stmt.where(appointments.c.id != exclude)
        return [rules.Busy(r.starts_at, r.ends_at, r.agent_slot) for r in await conn.execute(stmt)]

    async def free_slots(self, office_id: str, reason: str, first: date, last: date,
                         now: datetime | None = None) -> list[rules.Slot]:
        start, end = rules.local_range(self.config, first, last)
        busy = await self.busy(office_id, start, end)
        return rules.free_slots(self.config, office_id, reason, first, last, busy, _now(now))

    async def day_agenda(self, office_id: str, day: date, *, include_cancelled: bool = True) -> list[dict[str, Any]]:
        """The office's appointments of a local day, by start time."""
        start, end = rules.local_range(self.config, day, day)
        stmt = (select(appointments).where(appointments.c.office_id == office_id,
                                           appointments.c.starts_at >= start, appointments.c.starts_at < end)
                .order_by(appointments.c.starts_at, appointments.c.agent_slot, appointments.c.id))
        if not include_cancelled:
            stmt = stmt.where(appointments.c.status != "cancelled")
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(stmt)]

    async def statistics(self, office_id: str, first: date, last: date) -> dict[str, int]:
        """Counts of the appointments starting in [first, last] (local days): every appointment
        booked, by status, and how many were rescheduled at least once."""
        start, end = rules.local_range(self.config, first, last)
        where = (appointments.c.office_id == office_id, appointments.c.starts_at >= start,
                 appointments.c.starts_at < end)
        stats = {"booked": 0, **{s: 0 for s in rules.STATUSES if s != "booked"}, "pending": 0, "rescheduled": 0}
        async with self.engine.connect() as conn:
            for status, count in await conn.execute(
                    select(appointments.c.status, func.count()).where(*where).group_by(appointments.c.status)):
                stats["booked"] += count
                stats["pending" if status == "booked" else status] = count
            stats["rescheduled"] = (await conn.execute(
                select(func.count()).where(*where, appointments.c.reschedules > 0))).scalar_one()
        return stats

    async def messages(self, appointment_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(outbox).order_by(outbox.c.id)
        if appointment_id is not None:
            stmt = stmt.where(outbox.c.appointment_id == appointment_id)
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(stmt)]

    # -- changes (each with its messages, in one transaction) --------------------------------------
    async def _lock_office(self, conn: AsyncConnection, office_id: str) -> None:
        """Serialise bookings of one office (released at COMMIT/ROLLBACK)."""
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                           {"k": f"ccpros.appointments:{office_id}"})

    async def _pick_agent(self, conn: AsyncConnection, slot: rules.Slot, office_id: str,
                          exclude: int | None = None) -> int:
        busy = await self._busy(conn, office_id, slot.start, slot.end, exclude)
        agent = rules.free_agent(slot.start, slot.end, slot.agents, busy)
        if agent is None:
            local = slot.start.astimezone(ZoneInfo(self.config.timezone))
            raise rules.RuleError("taken", f"the slot {local:%Y-%m-%d %H:%M} is already taken; choose "
                                           "another free slot")
        return agent

    async def _queue(self, conn: AsyncConnection, appointment: Mapping[str, Any], kind: str, now: datetime,
                     previous_start: datetime | None = None) -> int:
        """Insert the event's messages (a key already queued is skipped); how many were new."""
        reason = self.config.reason(appointment["reason"])
        msgs: list[Message] = render(
            appointment, kind, office_name=self.config.office_names.get(appointment["office_id"],
                                                                        appointment["office_id"]),
            reason_label=reason.label, tz=self.config.timezone, previous_start=previous_start)
        if not msgs:
            return 0
        stmt = insert(outbox).values([
            {"idempotency_key": m.idempotency_key, "channel": m.channel, "recipient": m.recipient,
             "subject": m.subject, "body": m.body, "appointment_id": appointment["id"],
             "next_attempt_at": now} for m in msgs
        ]).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(outbox.c.id)
        return len((await conn.execute(stmt)).all())

    async def book(self, booking: Booking, now: datetime | None = None) -> dict[str, Any]:
        """Book a free slot; RuleError if the office/reason/slot is refused or the slot is taken."""
        now = _now(now)
        slot = rules.check_slot(self.config, booking.office_id, booking.reason, booking.starts_at, now)
        channel = self.config.reason(booking.reason).channel
        try:
            async with self.engine.begin() as conn:
                await self._lock_office(conn, booking.office_id)
                agent = await self._pick_agent(conn, slot, booking.office_id)
                row = (await conn.execute(insert(appointments).values(
                    office_id=booking.office_id, reason=booking.reason, channel=channel,
                    starts_at=slot.start, ends_at=slot.end, agent_slot=agent, phone=booking.phone,
                    email=booking.email, business_name=booking.business_name, siren=booking.siren,
                    linkedid=booking.linkedid, advisor_id=booking.advisor_id, created_at=now, updated_at=now,
                ).returning(*appointments.c))).one()
                appointment = _row(row)
                await self._queue(conn, appointment, "booked", now)
        except IntegrityError as exc:
            raise self._taken(exc, slot) from exc
        log.info("appointment_booked", id=appointment["id"], office=booking.office_id, reason=booking.reason,
                 starts_at=slot.start.isoformat(), agent_slot=agent, advisor=booking.advisor_id,
                 linkedid=booking.linkedid)
        return appointment

    def _taken(self, exc: IntegrityError, slot: rules.Slot) -> Exception:
        if getattr(exc.orig, "sqlstate", None) == EXCLUSION_VIOLATION:
            return rules.RuleError("taken", f"the slot {slot.start.isoformat()} was just taken; choose "
                                            "another free slot")
        return exc

    async def _locked(self, conn: AsyncConnection, appointment_id: int) -> dict[str, Any]:
        row = (await conn.execute(select(appointments).where(appointments.c.id == appointment_id)
                                  .with_for_update())).first()
        if row is None:
            raise rules.RuleError("unknown", f"no appointment {appointment_id}")
        return _row(row)

    async def reschedule(self, appointment_id: int, starts_at: datetime, now: datetime | None = None,
                         advisor_id: str | None = None) -> dict[str, Any]:
        """Move a booked appointment to another free slot of its office (same reason); notifies."""
        now = _now(now)
        current = await self.get(appointment_id)
        if current is None:
            raise rules.RuleError("unknown", f"no appointment {appointment_id}")
        slot = rules.check_slot(self.config, current["office_id"], current["reason"], starts_at, now)
        try:
            async with self.engine.begin() as conn:
                await self._lock_office(conn, current["office_id"])
                current = await self._locked(conn, appointment_id)
                rules.check_change(current["status"], current["starts_at"], now, "reschedule")
                if current["starts_at"] == slot.start:
                    raise rules.RuleError("conflict", "the appointment already starts at that time")
                agent = await self._pick_agent(conn, slot, current["office_id"], exclude=appointment_id)
                row = (await conn.execute(
                    update(appointments).where(appointments.c.id == appointment_id).values(
                        starts_at=slot.start, ends_at=slot.end, agent_slot=agent,
                        reschedules=appointments.c.reschedules + 1, updated_at=now,
                        advisor_id=func.coalesce(advisor_id, appointments.c.advisor_id),
                    ).returning(*appointments.c))).one()
                appointment = _row(row)
                await self._queue(conn, appointment, "rescheduled", now, previous_start=current["starts_at"])
        except IntegrityError as exc:
            raise self._taken(exc, slot) from exc
        log.info("appointment_rescheduled", id=appointment_id, office=current["office_id"],
                 previous=current["starts_at"].isoformat(), starts_at=slot.start.isoformat())
        return appointment

    async def cancel(self, appointment_id: int, now: datetime | None = None) -> dict[str, Any]:
        """Cancel a booked appointment (its slot is free again); notifies."""
        now = _now(now)
        async with self.engine.begin() as conn:
            current = await self._locked(conn, appointment_id)
            rules.check_change(current["status"], current["starts_at"], now, "cancel")
            row = (await conn.execute(
                update(appointments).where(appointments.c.id == appointment_id).values(
                    status="cancelled", cancelled_at=now, updated_at=now).returning(*appointments.c))).one()
            appointment = _row(row)
            await self._queue(conn, appointment, "cancelled", now)
        log.info("appointment_cancelled", id=appointment_id, office=appointment["office_id"])
        return appointment

    async def record_outcome(self, appointment_id: int, outcome: str,
                             now: datetime | None = None) -> dict[str, Any]:
        """honoured / no_answer / no_show, once the appointment has started (no message)."""
        now = _now(now)
        async with self.engine.begin() as conn:
            current = await self._locked(conn, appointment_id)
            rules.check_outcome(current["status"], current["starts_at"], outcome, now)
            row = (await conn.execute(
                update(appointments).where(appointments.c.id == appointment_id).values(
                    status=outcome, outcome_at=now, updated_at=now).returning(*appointments.c))).one()
        log.info("appointment_outcome", id=appointment_id, outcome=outcome)
        return _row(row)

    # -- outbox --------------------------------------------------------------------------------------
    async def queue_reminders(self, now: datetime | None = None) -> int:
        """Queue the reminders of tomorrow's booked appointments once the reminder time has passed
        (idempotent: a reminder already queued is skipped). How many messages were new."""
        now = _now(now)
        window = rules.reminder_day(self.config, now)
        if window is None:
            return 0
        count = 0
        async with self.engine.begin() as conn:
            rows = await conn.execute(select(appointments).where(
                appointments.c.status == "booked", appointments.c.starts_at >= window[0],
                appointments.c.starts_at < window[1], appointments.c.created_at < window[0] - timedelta(hours=12)))
            for row in rows.all():
                count += await self._queue(conn, _row(row), "reminder", now)
        if count:
            log.info("reminders_queued", messages=count)
        return count

    async def send_one(self, send: Sender, now: datetime | None = None) -> SendResult | None:
        """Claim one due message (``FOR UPDATE SKIP LOCKED``), send it, record the result in the
        same transaction. None when nothing is due. A failure is retried with exponential back-off
        until ``max_attempts``, then the message is ``failed`` (left for a person to look at)."""
        now = _now(now)
        policy = self.config.notifications
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                select(outbox).where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(1)
                .with_for_update(skip_locked=True))).first()
            if row is None:
                return None
            message = _row(row)
            try:
                await send(message)
            except Exception as exc:  # noqa: BLE001 - any sender failure is retried
                attempts = message["attempts"] + 1
                error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
                final = attempts >= policy.max_attempts
                delay = rules.backoff_seconds(attempts, policy.backoff_seconds, policy.backoff_max_seconds)
                await conn.execute(update(outbox).where(outbox.c.id == message["id"]).values(
                    attempts=attempts, last_error=error, status="failed" if final else "pending",
                    next_attempt_at=now + timedelta(seconds=delay)))
                log.warning("message_failed", id=message["id"], key=message["idempotency_key"],
                            channel=message["channel"], attempts=attempts, final=final, error=error)
                return SendResult(message["id"], message["idempotency_key"], False, error)
            await conn.execute(update(outbox).where(outbox.c.id == message["id"]).values(
                status="sent", sent_at=now, attempts=message["attempts"] + 1, last_error=None))
        log.info("message_sent", id=message["id"], key=message["idempotency_key"], channel=message["channel"])
        return SendResult(message["id"], message["idempotency_key"], True)

    # -- return calls (ccpros_agi.appointments.calls) ----------------------------------------------
    async def start_call(self, appointment_id: int, *, office_line: str, caller_id: str,
                         started_by: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """A new attempt of the appointment's return call (before it is originated); RuleError if the
        appointment may not be called now or an earlier attempt is still under way."""
        now = _now(now)
        async with self.engine.begin() as conn:
            current = await self._locked(conn, appointment_id)
            call_rules.check_call(current, now, self.config.timezone)
            earlier = [_row(r) for r in await conn.execute(
                select(appointment_calls).where(appointment_calls.c.appointment_id == appointment_id)
                .order_by(appointment_calls.c.attempt))]
            if any(call_rules.blocking(c, now) for c in earlier):
                raise rules.RuleError("conflict", f"a return call of appointment {appointment_id} is already "
                                                  "under way; wait for it to end")
            attempt = (earlier[-1]["attempt"] if earlier else 0) + 1
            row = (await conn.execute(insert(appointment_calls).values(
                appointment_id=appointment_id, attempt=attempt,
                channel_id=call_rules.channel_id(appointment_id, attempt), office_line=office_line,
                number=current["phone"], caller_id=caller_id, started_by=started_by, started_at=now,
            ).returning(*appointment_calls.c))).one()
        log.info("appointment_call_started", id=appointment_id, attempt=attempt, by=started_by)
        return _row(row)

    async def call_answered(self, channel_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        """The agent answered: the business may be dialled (once). The attempt, or None if it is unknown,
        over, or already dialled."""
        now = _now(now)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(appointment_calls).where(appointment_calls.c.channel_id == channel_id,
                                                appointment_calls.c.agent_answered_at.is_(None),
                                                appointment_calls.c.ended_at.is_(None))
                .values(agent_answered_at=now).returning(*appointment_calls.c))).first()
        return _row(row) if row else None

    async def call_ended(self, channel_id: str, result: str, now: datetime | None = None) -> dict[str, Any] | None:
        """Record an attempt's result, once (a second report of the same attempt is ignored: None), and
        the appointment's outcome it implies (honoured, no_answer) if the appointment is still booked.
        Returns the attempt with ``outcome`` (None: the appointment's status did not change)."""
        if result not in call_rules.RESULTS:
            raise ValueError(f"unknown call result {result!r}")
        now = _now(now)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(appointment_calls).where(appointment_calls.c.channel_id == channel_id,
                                                appointment_calls.c.ended_at.is_(None))
                .values(ended_at=now, result=result).returning(*appointment_calls.c))).first()
            if row is None:
                return None
            ended = _row(row)
            outcome = call_rules.OUTCOME_OF.get(result) if ended["agent_answered_at"] is not None else None
            changed = None
            if outcome is not None:
                changed = (await conn.execute(
                    update(appointments).where(appointments.c.id == ended["appointment_id"],
                                               appointments.c.status == "booked")
                    .values(status=outcome, outcome_at=now, updated_at=now).returning(appointments.c.id))).first()
        ended["outcome"] = outcome if changed is not None else None
        log.info("appointment_call_ended", id=ended["appointment_id"], attempt=ended["attempt"], result=result,
                 outcome=ended["outcome"])
        return ended

    async def calls(self, appointment_id: int) -> list[dict[str, Any]]:
        """The return call attempts of an appointment, oldest first."""
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(
                select(appointment_calls).where(appointment_calls.c.appointment_id == appointment_id)
                .order_by(appointment_calls.c.attempt))]
