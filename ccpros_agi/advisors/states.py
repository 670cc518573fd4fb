"""Advisors' states as pure logic: from AMI queue events to one state per advisor, and the daily
accounting of a day of states against the norms (5 hours on the phone, a 20-minute break per half-day).

An advisor is a member of many queues (ccpros_agi.confgen.advisor_queues); their state is derived from
all their memberships:

- ``logged_out``: member of no queue;
- ``on_call``: connected to a queue call (AgentConnect, until AgentComplete);
- ``paused``: paused in every queue they are a member of (the reason is the pause's);
- ``wrap_up``: after a queue call, for the queue's wrapuptime (0 in the demo: no wrap-up);
- ``available``: otherwise.

Nothing here reads a clock: every event comes with its time, and :meth:`AdvisorStates.tick` is given
``now`` to end wrap-ups.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

LOGGED_OUT, AVAILABLE, ON_CALL, PAUSED, WRAP_UP = "logged_out", "available", "on_call", "paused", "wrap_up"
STATES = (LOGGED_OUT, AVAILABLE, ON_CALL, PAUSED, WRAP_UP)

PHONE_NORM_S = 5 * 3600          # an advisor is on the phone 5 hours a day
BREAK_NORM_S = 20 * 60           # with a 20-minute break per half-day
BREAK_REASON = "break"


@dataclass(frozen=True)
class Change:
    """An advisor enters ``state`` at ``at`` (``reason``: the pause reason)."""

    advisor: str
    state: str
    reason: str | None
    at: datetime


@dataclass
class _Member:
    queues: dict[str, bool] = field(default_factory=dict)     # queue -> paused
    reason: str | None = None
    wrapuptime: int = 0
    calls: set[str] = field(default_factory=set)              # uniqueids of the queue calls connected
    wrap_until: datetime | None = None
    state: str = LOGGED_OUT
    state_reason: str | None = None
    since: datetime | None = None


def advisor_of(event: Mapping[str, str]) -> str:
    """The advisor id of a queue member event: its member name, else its interface's endpoint."""
    name = event.get("MemberName") or event.get("Name") or ""
    if not name:
        name = (event.get("Interface") or event.get("Location") or "").removeprefix("PJSIP/")
    return name


class AdvisorStates:
    """The live state of every known advisor, fed with AMI events in order."""

    def __init__(self, advisors: Iterable[str]) -> None:
        self.members: dict[str, _Member] = {a: _Member() for a in advisors}

    def current(self) -> dict[str, tuple[str, str | None, datetime | None]]:
        """advisor -> (state, reason, since)."""
        return {a: (m.state, m.state_reason, m.since) for a, m in self.members.items()}

    def on_event(self, event: Mapping[str, str], at: datetime) -> list[Change]:
        kind = event.get("Event", "")
        advisor = advisor_of(event)
        member = self.members.get(advisor)
        if member is None:
            return []
        queue = event.get("Queue", "")
        if kind in ("QueueMemberAdded", "QueueMember", "QueueMemberStatus", "QueueMemberPause"):
            if kind == "QueueMemberStatus" and queue not in member.queues:
                return []
            member.queues[queue] = event.get("Paused") == "1"
            if event.get("Paused") == "1":
                member.reason = event.get("PausedReason") or None
            member.wrapuptime = max(member.wrapuptime, _int(event.get("Wrapuptime")))
        elif kind == "QueueMemberRemoved":
            member.queues.pop(queue, None)
            if not member.queues:
                member.calls.clear()
                member.wrap_until = None
        elif kind == "AgentConnect":
            member.calls.add(event.get("Uniqueid") or event.get("Linkedid") or queue)
        elif kind == "AgentComplete":
            member.calls.discard(event.get("Uniqueid") or event.get("Linkedid") or queue)
            if member.wrapuptime > 0 and not member.calls:
                member.wrap_until = at + timedelta(seconds=member.wrapuptime)
        else:
            return []
        return self._update(advisor, member, at)

    def reset(self, at: datetime) -> None:
        """Forget every membership (before a resync from QueueStatus): states are recomputed then."""
        for member in self.members.values():
            member.queues.clear()
            member.calls.clear()

    def settle(self, at: datetime) -> list[Change]:
        """Recompute every advisor's state (after a resync)."""
        return [c for a, m in self.members.items() for c in self._update(a, m, at)]

    def tick(self, now: datetime) -> list[Change]:
        """End the wrap-ups due by ``now``."""
        out = []
        for advisor, member in self.members.items():
            if member.wrap_until is not None and member.wrap_until <= now:
                out += self._update(advisor, member, member.wrap_until)
        return out

    def _update(self, advisor: str, member: _Member, at: datetime) -> list[Change]:
        if member.wrap_until is not None and member.wrap_until <= at:
            member.wrap_until = None
        reason = None
        if not member.queues:
            state = LOGGED_OUT
        elif member.calls:
            state = ON_CALL
        elif all(member.queues.values()):
            state, reason = PAUSED, member.reason
        elif member.wrap_until is not None:
            state = WRAP_UP
        else:
            state = AVAILABLE
        if state != PAUSED and not any(member.queues.values()):
            member.reason = None
        if (state, reason) == (member.state, member.state_reason) and member.since is not None:
            return []
        member.state, member.state_reason, member.since = state, reason, at
        return [Change(advisor, state, reason, at)]


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


# --- daily accounting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """One recorded state: [start, end) (``end`` None: still going)."""

    advisor: str
    state: str
    reason: str | None
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Accounting:
    advisor: str
    logged_in_s: int
    phone_s: int                     # on a call
    available_s: int
    wrap_up_s: int
    paused_s: dict[str, int]         # by pause reason ("" when none was given)
    break_morning_s: int             # breaks (reason "break") before noon_split, after it
    break_afternoon_s: int
    phone_norm_s: int = PHONE_NORM_S
    break_norm_s: int = BREAK_NORM_S

    @property
    def phone_vs_norm_s(self) -> int:
        """Negative: under the 5 hours on the phone."""
        return self.phone_s - self.phone_norm_s

    def flags(self) -> list[str]:
        out = []
        if self.phone_s < self.phone_norm_s:
            out.append("phone_under_norm")
        if self.break_morning_s > self.break_norm_s:
            out.append("break_over_morning")
        if self.break_afternoon_s > self.break_norm_s:
            out.append("break_over_afternoon")
        return out

    def as_dict(self) -> dict:
        return {"advisor": self.advisor, "logged_in_s": self.logged_in_s, "phone_s": self.phone_s,
                "available_s": self.available_s, "wrap_up_s": self.wrap_up_s, "paused_s": dict(self.paused_s),
                "break_morning_s": self.break_morning_s, "break_afternoon_s": self.break_afternoon_s,
                "phone_norm_s": self.phone_norm_s, "break_norm_s": self.break_norm_s,
                "phone_vs_norm_s": self.phone_vs_norm_s, "flags": self.flags()}


def day_bounds(day: date, tz: str, split: time = time(13, 0)) -> tuple[datetime, datetime, datetime]:
    """(start, half-day split, end) of a local day, in UTC."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return (start.astimezone(timezone.utc), datetime.combine(day, split, zone).astimezone(timezone.utc),
            end.astimezone(timezone.utc))


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def daily_accounting(intervals: Iterable[Interval], start: datetime, split: datetime, end: datetime,
                     now: datetime) -> dict[str, Accounting]:
    """Each advisor's day [start, end) from their recorded states, clipped to the day (a state still going
    counts until ``now``); breaks are split at ``split`` (the half-day)."""
    totals: dict[str, dict[str, float]] = {}
    paused: dict[str, dict[str, float]] = {}
    for iv in intervals:
        stop = iv.end if iv.end is not None else min(now, end)
        seconds = _overlap(iv.start, stop, start, end)
        t = totals.setdefault(iv.advisor, {s: 0.0 for s in (*STATES, "break_am", "break_pm")})
        paused.setdefault(iv.advisor, {})
        if seconds <= 0:
            continue
        t[iv.state] += seconds
        if iv.state == PAUSED:
            reason = iv.reason or ""
            paused[iv.advisor][reason] = paused[iv.advisor].get(reason, 0.0) + seconds
            if reason == BREAK_REASON:
                t["break_am"] += _overlap(iv.start, stop, start, split)
                t["break_pm"] += _overlap(iv.start, stop, split, end)
    out = {}
    for advisor, t in sorted(totals.items()):
        logged_in = t[AVAILABLE] + t[ON_CALL] + t[PAUSED] + t[WRAP_UP]
        out[advisor] = Accounting(
            advisor, round(logged_in), round(t[ON_CALL]), round(t[AVAILABLE]), round(t[WRAP_UP]),
            {r: round(s) for r, s in sorted(paused[advisor].items())}, round(t["break_am"]), round(t["break_pm"]))
    return out
