"""Return calls of phone appointments (click-to-call), as pure rules: when an appointment may be called,
how its Local channel pair is named, what a Dial status means for the appointment.

At the appointment's time the office's agent clicks "Appeler" on the agenda (``POST
/api/appointments/{id}/call``). The platform originates, through AMI, a Local channel pair
(dialplan/appointments.conf):

- the *agent leg* (``Local/ccpros-appt-<id>-<n>@ccpros-appointment-agent``, the ``;2`` side) dials the
  office's own line through the administration's gateway: the agent's phone rings first;
- the *business leg* (``;1``, [ccpros-appointment-business] ``ccpros-appt-<id>-<n>``) starts only once
  the agent answered: FastAGI ``/appointment-call-dial`` records that (once: never two dials for an
  attempt), presents the office's published number (else the national number), then the dialplan dials
  the business through the carrier; ``/appointment-call-result`` records the result when it ends
  (``h``, whoever hangs up; the first result of an attempt is the only one kept).

The appointment's outcome follows: ``honoured`` when the business answered, ``no_answer`` when it rang
without answer (or was busy). The agent not answering, the agent hanging up before the business
answered, or the carrier failing leaves the appointment booked: the agent may call again.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .agenda import RuleError

#: The call may start this long before the appointment (and until it ends).
EARLY = timedelta(minutes=10)
#: How long the agent's phone rings (seconds).
AGENT_RING_SECONDS = 30
#: An attempt not answered by the agent after this long is over (even if its result was lost).
PENDING_MAX = timedelta(seconds=AGENT_RING_SECONDS + 60)
#: An attempt whose agent answered blocks another one for this long unless its result came.
CONNECTED_MAX = timedelta(hours=2)
#: AMI Originate's timeout: longer than the agent's ring (the agent leg gives up first).
ORIGINATE_TIMEOUT_MS = (AGENT_RING_SECONDS + 15) * 1000

CHANNEL_PREFIX = "ccpros-appt-"
CHANNEL_RE = re.compile(r"ccpros-appt-([0-9]{1,18})-([0-9]{1,6})")

RESULTS = ("answered", "no_answer", "busy", "cancelled", "failed", "agent_no_answer", "agent_unreachable")
#: The business leg's DIALSTATUS -> the attempt's result (anything else: failed).
BUSINESS_RESULTS = {"ANSWER": "answered", "NOANSWER": "no_answer", "BUSY": "busy", "CANCEL": "cancelled",
                    "CONGESTION": "failed", "CHANUNAVAIL": "failed"}
#: The agent leg's DIALSTATUS (the agent did not answer) -> the attempt's result.
AGENT_RESULTS = {"NOANSWER": "agent_no_answer", "BUSY": "agent_no_answer", "CANCEL": "agent_no_answer",
                 "CONGESTION": "agent_unreachable", "CHANUNAVAIL": "agent_unreachable"}
#: The attempt's result -> the appointment's outcome (other results leave it booked).
OUTCOME_OF = {"answered": "honoured", "no_answer": "no_answer", "busy": "no_answer"}


def channel_id(appointment_id: int, attempt: int) -> str:
    return f"{CHANNEL_PREFIX}{appointment_id}-{attempt}"


def parse_channel_id(value: str) -> tuple[int, int] | None:
    """(appointment id, attempt) of a channel id, None if it is not one of ours."""
    match = CHANNEL_RE.fullmatch(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def business_result(status: str) -> str | None:
    """The result of the business leg's DIALSTATUS; None when nothing was dialled (empty status)."""
    status = (status or "").upper()
    if not status:
        return None
    return BUSINESS_RESULTS.get(status, "failed")


def agent_result(status: str) -> str:
    return AGENT_RESULTS.get((status or "").upper(), "agent_unreachable")


def check_call(appointment: Mapping[str, Any], now: datetime, tz: str) -> None:
    """May the return call of this appointment start at ``now``? RuleError (for people) if not:
    only a booked phone appointment, from EARLY before its start until its end."""
    status, channel = appointment["status"], appointment["channel"]
    if status != "booked":
        raise RuleError("conflict", f"appointment {appointment['id']} is {status!r}: only a booked appointment "
                                    "can be called (its outcome, if wrong, can be corrected with /outcome)")
    if channel != "phone":
        raise RuleError("invalid", f"appointment {appointment['id']} is at the desk (the business comes to the "
                                   "office): there is no call to make")
    local = ZoneInfo(tz)
    opens = appointment["starts_at"] - EARLY
    if now < opens:
        raise RuleError("conflict", f"too early: the return call can start from "
                                    f"{opens.astimezone(local):%d/%m/%Y %H:%M} ({int(EARLY.total_seconds() // 60)} "
                                    "minutes before the appointment)")
    if now >= appointment["ends_at"]:
        raise RuleError("conflict", f"the appointment ended at {appointment['ends_at'].astimezone(local):%H:%M}: "
                                    "too late to call; record its outcome instead")


def blocking(call: Mapping[str, Any], now: datetime) -> bool:
    """Is this earlier attempt still under way (a new one would ring the agent or the business twice)?"""
    if call["ended_at"] is not None:
        return False
    if call["agent_answered_at"] is not None:
        return now - call["agent_answered_at"] < CONNECTED_MAX
    return now - call["started_at"] < PENDING_MAX


def safe(text: str, limit: int = 60) -> str:
    """A value safe in an AMI Variable list and a quoted caller ID."""
    return "".join(c for c in text if c.isprintable() and c not in ',"\\<>;|=$(){}[]')[:limit]
