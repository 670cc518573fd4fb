"""Agenda rules as pure functions: which slots an office offers, which are free, what may be done to
an appointment, when reminders are due, how long to wait before retrying a message.

No I/O: callers pass the configuration, what is already booked and ``now`` (tz-aware). The database
enforces the one rule that must hold under concurrency (no two live appointments of an office's agent
slot overlap); these functions decide everything else and give the API its clear messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ccpros_agi.routing import is_holiday

from .config import Agenda, AppointmentsConfig, Reason

UTC = timezone.utc
#: Statuses of an appointment. ``booked`` until its outcome is recorded or it is cancelled.
STATUSES = ("booked", "cancelled", "honoured", "no_answer", "no_show")
OUTCOMES = ("honoured", "no_answer", "no_show")
#: Statuses holding their slot (everything but a cancellation).
LIVE = tuple(s for s in STATUSES if s != "cancelled")


@dataclass(frozen=True)
class Busy:
    """A live appointment as far as the agenda is concerned."""

    start: datetime
    end: datetime
    agent_slot: int


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    agents: int  # agents of the period
    free: int  # agents still free for the whole slot


class RuleError(Exception):
    """A request the agenda refuses; ``kind`` maps to the HTTP status, ``message`` is for people.

    kinds: ``unknown`` (404), ``taken`` (409), ``conflict`` (409: the appointment's state forbids it),
    ``invalid`` (422: outside the agenda, in the past, beyond the horizon, wrong reason).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _tz(config: AppointmentsConfig) -> ZoneInfo:
    return ZoneInfo(config.timezone)


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def is_closed(config: AppointmentsConfig, agenda: Agenda, day: date) -> bool:
    """No appointment on ``day``: public holiday or closed date of hours.yaml, of the agenda file, of
    the office's agenda."""
    return day in config.closed_dates or day in agenda.closed_dates or is_holiday(config.hours, day)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # A clock time inside a DST gap does not exist: normalise it through UTC.
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC).astimezone(tz)


def day_slots(config: AppointmentsConfig, agenda: Agenda, reason: Reason, day: date) -> list[Slot]:
    """Every slot the agenda offers for ``reason`` on ``day`` (booked or not): starts every
    ``step_minutes`` from each period's start, the whole appointment inside the period."""
    if reason.id not in agenda.reasons or is_closed(config, agenda, day):
        return []
    tz, step, length = _tz(config), timedelta(minutes=config.step_minutes), timedelta(
        minutes=reason.duration_minutes)
    slots = []
    for period in agenda.weekly.get(day.weekday(), ()):
        start, end = _at(day, period.start, tz), _at(day, period.end, tz)
        while start + length <= end:
            slots.append(Slot(start, start + length, period.agents, period.agents))
            start += step
    return slots


def free_agent(start: datetime, end: datetime, agents: int, busy: Iterable[Busy]) -> int | None:
    """The lowest agent slot in 0..agents-1 free over [start, end), or None."""
    taken = {b.agent_slot for b in busy if b.start < end and start < b.end}
    return next((k for k in range(agents) if k not in taken), None)


def _free_count(slot: Slot, busy: list[Busy]) -> int:
    taken = {b.agent_slot for b in busy if b.start < slot.end and slot.start < b.end}
    return sum(1 for k in range(slot.agents) if k not in taken)


def bookable_window(config: AppointmentsConfig, now: datetime) -> tuple[datetime, date]:
    """(earliest start, last day) an appointment may be booked for at ``now``."""
    _aware("now", now)
    earliest = now + timedelta(minutes=config.min_notice_minutes)
    last_day = now.astimezone(_tz(config)).date() + timedelta(days=config.horizon_days)
    return earliest, last_day


def free_slots(config: AppointmentsConfig, office_id: str, reason_id: str, first: date, last: date,
               busy: Iterable[Busy], now: datetime) -> list[Slot]:
    """Slots of ``first``..``last`` (local dates, included) with at least one free agent, that may
    still be booked at ``now``. Raises RuleError for an office without agenda or an unknown reason."""
    agenda, reason = resolve(config, office_id, reason_id)
    earliest, last_day = bookable_window(config, now)
    busy = list(busy)
    result = []
    day = first
    while day <= min(last, last_day):
        for slot in day_slots(config, agenda, reason, day):
            if slot.start < earliest:
                continue
            free = _free_count(slot, busy)
            if free:
                result.append(Slot(slot.start, slot.end, slot.agents, free))
        day += timedelta(days=1)
    return result


def resolve(config: AppointmentsConfig, office_id: str, reason_id: str) -> tuple[Agenda, Reason]:
    """The office's agenda and the reason, or RuleError (unknown office agenda / reason not offered)."""
    agenda = config.agenda(office_id)
    if agenda is None:
        raise RuleError("unknown", f"office {office_id!r} takes no appointment (no agenda in "
                                   "appointments.yaml)")
    try:
        reason = config.reason(reason_id)
    except KeyError:
        known = ", ".join(agenda.reasons)
        raise RuleError("invalid", f"unknown reason {reason_id!r}; use one of: {known}") from None
    if reason.id not in agenda.reasons:
        raise RuleError("invalid", f"office {office_id!r} does not offer reason {reason_id!r}; use one "
                                   f"of: {', '.join(agenda.reasons)}")
    return agenda, reason


def check_slot(config: AppointmentsConfig, office_id: str, reason_id: str, start: datetime,
               now: datetime) -> Slot:
    """The agenda's slot starting at ``start`` if it may be booked at ``now`` (free agents not
    checked: that needs the bookings); RuleError ``invalid`` otherwise, saying why."""
    _aware("start", start)
    agenda, reason = resolve(config, office_id, reason_id)
    earliest, last_day = bookable_window(config, now)
    local = start.astimezone(_tz(config))
    if start <= now:
        raise RuleError("invalid", f"the slot {local:%Y-%m-%d %H:%M} is in the past; choose a later slot")
    if start < earliest:
        raise RuleError("invalid", f"the slot {local:%Y-%m-%d %H:%M} is too soon: appointments are booked "
                                   f"at least {config.min_notice_minutes} minutes ahead")
    if local.date() > last_day:
        raise RuleError("invalid", f"the slot {local:%Y-%m-%d} is beyond the booking horizon "
                                   f"({config.horizon_days} days, until {last_day}); choose an earlier day")
    for slot in day_slots(config, agenda, reason, local.date()):
        if slot.start == start:
            return slot
    raise RuleError("invalid", f"{local:%Y-%m-%d %H:%M} is not a slot of office {office_id!r}'s agenda for "
                               f"reason {reason_id!r}; list the free slots and choose one of them")


def check_change(status: str, starts_at: datetime, now: datetime, action: str) -> None:
    """Cancel or reschedule: only a booked appointment that has not started."""
    if status != "booked":
        raise RuleError("conflict", f"cannot {action} an appointment whose status is {status!r}")
    if starts_at <= now:
        raise RuleError("conflict", f"cannot {action} an appointment that has already started; record "
                                    "its outcome instead")


def check_outcome(status: str, starts_at: datetime, outcome: str, now: datetime) -> None:
    """Record an outcome: one of OUTCOMES, once the appointment has started, never on a cancelled
    one (a wrong outcome may be corrected)."""
    if outcome not in OUTCOMES:
        raise RuleError("invalid", f"unknown outcome {outcome!r}; use one of: {', '.join(OUTCOMES)}")
    if status == "cancelled":
        raise RuleError("conflict", "the appointment was cancelled: it has no outcome")
    if starts_at > now:
        raise RuleError("conflict", "the appointment has not started yet; record its outcome afterwards")


def reminder_day(config: AppointmentsConfig, now: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of tomorrow (local) once the day's reminder time has passed, else None: the
    appointments starting then get their reminder."""
    _aware("now", now)
    tz = _tz(config)
    local = now.astimezone(tz)
    if local.time().replace(tzinfo=None) < config.notifications.reminder_time:
        return None
    tomorrow = local.date() + timedelta(days=1)
    return _at(tomorrow, time(0), tz), _at(tomorrow + timedelta(days=1), time(0), tz)


def backoff_seconds(attempts: int, base: int, cap: int) -> int:
    """Wait before the next try after ``attempts`` failed ones: base, 2·base, 4·base ... at most cap."""
    if attempts < 1:
        return 0
    return min(cap, base * 2 ** min(attempts - 1, 30))


def local_range(config: AppointmentsConfig, first: date, last: date) -> tuple[datetime, datetime]:
    """[start of ``first``, end of ``last``) in the agenda's time zone, for database queries."""
    tz = _tz(config)
    return _at(first, time(0), tz), _at(last + timedelta(days=1), time(0), tz)
