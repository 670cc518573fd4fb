"""Reconciliation: call journeys rebuilt from Asterisk's CEL when the Python services missed them.

The live journey (:mod:`ccpros_agi.ami.journey`) writes ``calls`` / ``call_events`` from AMI events;
when the events service is down or restarting, calls go on in Asterisk and only its CEL (the ``cel``
table, written by ``cel_pgsql``) knows them. :func:`reconcile` reads the CEL of the calls from the
trunk over a period and rebuilds what the journey would have written, for the calls whose record is
missing or unfinished, then appends one ``call_events`` row of kind ``reconciled`` (source ``ami``)
saying what it rebuilt. ``ccpros reconcile`` runs it (``ccpros_agi/cli.py``).

What is rebuilt, from the CEL rows of one linkedid (ordered by eventtime, id):

- a call from the trunk is a ``CHAN_START`` in context ``from-trunk`` whose uniqueid is the linkedid
  (the caller's channel); callback legs (linkedid ``ccpros-cb-...``) are skipped, as the journey does;
- ``arrived_at`` = that CHAN_START's time; ``called_number`` = ``stored_number(exten)`` (``cid_dnid``
  when exten is empty); ``caller_raw`` / ``caller_number`` = ``clean_raw(cid_num)`` / ``to_e164``;
- ``queue`` / ``queued_at``: the caller channel's first ``APP_START`` of app ``Queue``: its appdata's
  first argument, its time;
- ``answered_at`` / ``advisor_id`` / ``site_id``: the first ``BRIDGE_ENTER`` of an advisor's channel
  (``PJSIP/<advisor>-<8 hex>``, the advisor known to the configuration, its site from it); without
  one, the first ``ANSWER`` of an advisor's channel;
- ``ended_at`` / ``hangup_cause``: the caller channel's ``HANGUP`` (cause from its ``extra`` JSON,
  as text like AMI's ``Cause-txt``), else its ``CHAN_END``, else ``LINKEDID_END``;
- ``fallback``: the caller channel ran ``UserEvent(CcprosFallback,...)`` (the FastAGI app was down);
- ``outcome``: :func:`ccpros_agi.store.repo.decide_outcome` on the completed row (the journey's rule:
  an outcome the app decided is kept; ``menu_at``, which only the app writes, is never invented);
- ``overflowed`` when the answering site is not the call's ``home_site`` (as the journey does).

Never overwriting what the live journey (or the app) wrote:

- calls whose ``LINKEDID_END`` is not in CEL, or is less than :data:`SETTLE` old, are live: left to
  the journey (counted ``live``);
- a missing row is created; an existing row only gets its NULL columns filled, ``fallback`` set when
  CEL shows it, ``outcome`` decided when still ``in_progress``, and ``arrived_at`` moved earlier when
  CEL's channel creation is more than :data:`ARRIVAL_TOLERANCE` before it (the row was made by a later
  event; the journey keeps the earliest arrival too). A finished row (outcome decided and ``ended_at``
  set) only gets its NULL caller / called numbers and that arrival. The queue, answer and end of a
  finished row are never touched, even if CEL disagrees;
- each call is written in one transaction holding its row lock, so the live journey waits;
- a second run finds nothing to fill and writes nothing: idempotent.

Assumptions on Asterisk 22's CEL (cel.conf ``events=ALL``, ``apps=all``; main/cel.c), as the tests'
hand-written rows model them:

- APP_START is reported whenever the channel's current application changes (every tracked app, with
  its substituted appdata); the queue's outgoing leg to an advisor runs ``AppQueue``, not ``Queue``;
- HANGUP's ``extra`` is ``{"hangupcause": N, "hangupsource": "...", "dialstatus": "..."}``;
- BRIDGE_ENTER is reported for both the caller's and the advisor's channel when the queue connects them;
  advisors ringing without answering have CHAN_START / HANGUP / CHAN_END only;
- LINKEDID_END comes after the last channel of the linkedid is gone (the call is over);
- eventtime is UTC (``usegmtime=yes`` with the writer role's TimeZone=UTC: ``ensure_cel_writer``).

Not rebuilt (only the FastAGI app knows them, or not recorded by CEL in a way worth guessing): topic,
menu, entry kind and office, transfers to offices, the journey's detailed events (queued, answered...).
The first Queue of a repeat caller is their last advisor's own queue (``q-direct-...``), as the journey
records it when the caller joins it; CEL cannot tell when that queue refused the caller.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from ccpros_agi.ami.journey import CALLBACK_PREFIX, TRUNK_CONTEXT
from ccpros_agi.numbers import clean_raw, stored_number, to_e164
from ccpros_agi.store.models import CALLER_RAW_MAX
from ccpros_agi.store.repo import call_events, calls, cel, decide_outcome

log = structlog.get_logger("ccpros.reconcile")

#: How far back ``ccpros reconcile`` looks without ``--since``.
DEFAULT_LOOKBACK = timedelta(days=2)
#: arrived_at is moved earlier only when CEL's channel creation is earlier than this.
ARRIVAL_TOLERANCE = timedelta(seconds=1)
#: Calls over in CEL for less than this are left to the live journey (its events may still be on their way).
SETTLE = timedelta(seconds=30)
#: Calls read from CEL per batch.
BATCH = 200
EVENT_KIND = "reconciled"
EVENT_SOURCE = "ami"
FALLBACK_USEREVENT = "CcprosFallback"

#: Asterisk's text of the usual hangup causes (main/channel.c ``causes``, what AMI's Cause-txt says).
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    127: "Interworking, unspecified",
}

#: Columns an unfinished row gets from CEL when they are NULL (answered_at goes with advisor and site).
_FILL_COLUMNS = ("called_number", "caller_raw", "caller_number", "queue", "queued_at",
                 "answered_at", "advisor_id", "site_id", "ended_at", "hangup_cause")
#: Columns a finished row still gets from CEL when they are NULL.
_IDENTITY_COLUMNS = ("called_number", "caller_raw", "caller_number")


# -- pure helpers -----------------------------------------------------------------------------------
def queue_from_appdata(appdata: str | None) -> str | None:
    """The queue named by ``Queue()``'s data: its first argument (``q-pau-tva,,,,,,,rule`` → ``q-pau-tva``)."""
    name = (appdata or "").split(",", 1)[0].strip()
    return name or None


def endpoint_of_channel(channame: str | None) -> str | None:
    """The PJSIP endpoint of a channel name (``PJSIP/lons-le-saunier-01-0000000a`` → ``lons-le-saunier-01``)."""
    if not channame or not channame.startswith("PJSIP/"):
        return None
    endpoint, sep, suffix = channame.removeprefix("PJSIP/").rpartition("-")
    if not sep or not endpoint or not suffix:
        return None
    return endpoint


def hangup_cause_text(extra: str | None) -> str | None:
    """A HANGUP's cause from its ``extra`` JSON, as AMI's Cause-txt words it (the number when unknown)."""
    if not extra:
        return None
    try:
        cause = json.loads(extra).get("hangupcause")
    except (ValueError, AttributeError):
        return None
    if isinstance(cause, bool) or not isinstance(cause, (int, str)) or str(cause).strip() == "":
        return None
    try:
        number = int(cause)
    except ValueError:
        return str(cause)
    return CAUSE_TEXT.get(number, str(number))


@dataclass(frozen=True)
class CelCall:
    """What the CEL of one call from the trunk says (the journey's columns)."""

    linkedid: str
    arrived_at: datetime
    called_number: str | None = None
    caller_raw: str | None = None
    caller_number: str | None = None
    queue: str | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    advisor_id: str | None = None
    site_id: str | None = None
    ended_at: datetime | None = None
    hangup_cause: str | None = None
    fallback: bool = False
    finished: bool = False  # LINKEDID_END is in CEL
    over_at: datetime | None = None  # its time
    events: int = 0  # CEL rows read

    def columns(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("arrived_at", *_FILL_COLUMNS)}


def call_from_cel(linkedid: str, rows: Iterable[Mapping[str, Any]], advisors: Mapping[str, str]) -> CelCall | None:
    """The journey's columns of a call from the CEL rows of its linkedid (ordered by eventtime, id);
    None when they are not a call from the trunk (or are a callback's legs).

    ``advisors`` maps each advisor id of the configuration to its site.
    """
    if linkedid.startswith(CALLBACK_PREFIX):
        return None
    rows = list(rows)
    start = next((r for r in rows if r["eventtype"] == "CHAN_START" and r["uniqueid"] == linkedid
                  and r["context"] == TRUNK_CONTEXT), None)
    if start is None:
        return None
    caller_raw = clean_raw(start.get("cid_num"))[:CALLER_RAW_MAX]
    found: dict[str, Any] = {
        "arrived_at": start["eventtime"],
        "called_number": stored_number(start.get("exten") or start.get("cid_dnid")),
        "caller_raw": caller_raw or None,
        "caller_number": to_e164(caller_raw),
    }
    bridged: tuple[datetime, str] | None = None
    answered: tuple[datetime, str] | None = None
    end: dict[str, datetime] = {}
    fallback = finished = False
    for r in rows:
        kind, own = r["eventtype"], r["uniqueid"] == linkedid
        if own:
            app = (r.get("appname") or "").lower()
            if kind == "APP_START" and app == "queue" and "queued_at" not in found:
                found["queued_at"], found["queue"] = r["eventtime"], queue_from_appdata(r.get("appdata"))
            elif kind == "APP_START" and app == "userevent" and \
                    (r.get("appdata") or "").split(",", 1)[0].strip() == FALLBACK_USEREVENT:
                fallback = True
            elif kind == "HANGUP" and "hangup" not in end:
                end["hangup"] = r["eventtime"]
                found["hangup_cause"] = hangup_cause_text(r.get("extra"))
            elif kind == "CHAN_END" and "chan_end" not in end:
                end["chan_end"] = r["eventtime"]
        elif kind in ("BRIDGE_ENTER", "ANSWER"):
            advisor = endpoint_of_channel(r.get("channame"))
            if advisor in advisors:
                if kind == "BRIDGE_ENTER" and bridged is None:
                    bridged = (r["eventtime"], advisor)
                elif kind == "ANSWER" and answered is None:
                    answered = (r["eventtime"], advisor)
        if kind == "LINKEDID_END":
            finished = True
            end.setdefault("linkedid_end", r["eventtime"])
    leg = bridged or answered
    if leg is not None:
        found["answered_at"], found["advisor_id"] = leg
        found["site_id"] = advisors.get(leg[1])
    found["ended_at"] = end.get("hangup") or end.get("chan_end") or end.get("linkedid_end")
    return CelCall(linkedid=linkedid, fallback=fallback, finished=finished, over_at=end.get("linkedid_end"),
                   events=len(rows), **found)


def is_finished(row: Mapping[str, Any]) -> bool:
    """A row the journey finished: outcome decided and ended_at set."""
    return row["outcome"] != "in_progress" and row.get("ended_at") is not None


def plan_changes(row: Mapping[str, Any] | None, found: CelCall) -> dict[str, Any]:
    """The columns to write so that the call's row says what CEL says, never overwriting a value:
    for a missing row (None) every column of the new row; for an existing one only the changes
    (empty: nothing to do). Calls not finished in CEL get nothing (the live journey has them)."""
    if not found.finished:
        return {}
    cel_columns = found.columns()
    if row is None:
        new = {name: value for name, value in cel_columns.items() if value is not None}
        new["fallback"] = found.fallback
        new["outcome"] = decide_outcome({"outcome": "in_progress", **new})
        return new
    changes: dict[str, Any] = {}
    if found.arrived_at < row["arrived_at"] - ARRIVAL_TOLERANCE:
        changes["arrived_at"] = found.arrived_at
    finished = is_finished(row)
    for name in _IDENTITY_COLUMNS if finished else _FILL_COLUMNS:
        if name in ("advisor_id", "site_id"):
            continue  # with answered_at
        if name == "caller_number" and "caller_raw" not in changes:
            continue  # with caller_raw (a raw caller id that is no valid number has none)
        if row.get(name) is None and cel_columns[name] is not None:
            changes[name] = cel_columns[name]
    if finished:
        return changes
    if "answered_at" in changes:
        for name in ("advisor_id", "site_id"):
            if row.get(name) is None and cel_columns[name] is not None:
                changes[name] = cel_columns[name]
        site, home = changes.get("site_id") or row.get("site_id"), row.get("home_site")
        if site and home and site != home and not row.get("overflowed"):
            changes["overflowed"] = True
    if found.fallback and not row.get("fallback"):
        changes["fallback"] = True
    if row["outcome"] == "in_progress":
        changes["outcome"] = decide_outcome({**row, **changes})
    return changes


@dataclass
class Report:
    """What a run did."""

    since: datetime
    until: datetime
    checked: int = 0    # calls from the trunk found in CEL over the period
    live: int = 0       # not over in CEL (no LINKEDID_END, or too recent): left to the journey
    created: int = 0    # no row: rebuilt from CEL
    completed: int = 0  # an unfinished or incomplete row completed
    linkedids: list[str] = field(default_factory=list)  # the rebuilt calls

    @property
    def rebuilt(self) -> int:
        return self.created + self.completed

    def summary(self) -> str:
        return (f"checked {self.checked} call{'s' if self.checked != 1 else ''} from CEL "
                f"({self.since.isoformat()} .. {self.until.isoformat()}): rebuilt {self.rebuilt} "
                f"({self.created} missing, {self.completed} unfinished), {self.live} still live")


# -- database --------------------------------------------------------------------------------------
def _event_data(created: bool, changes: Mapping[str, Any], found: CelCall) -> dict[str, Any]:
    return {"from": "cel", "created": created, "filled": sorted(changes), "outcome": changes.get("outcome"),
            "cel_events": found.events}


async def _write(engine, found: CelCall, now: datetime) -> str | None:
    """Apply one call's changes under its row lock; 'created', 'completed' or None (nothing to do)."""
    async with engine.begin() as conn:
        lock = select(calls).where(calls.c.linkedid == found.linkedid).with_for_update()
        row = (await conn.execute(lock)).mappings().first()
        created = False
        if row is None:
            changes = plan_changes(None, found)
            if not changes:
                return None
            stmt = (insert(calls).values(linkedid=found.linkedid, **changes)
                    .on_conflict_do_nothing(index_elements=[calls.c.linkedid]).returning(calls.c.id))
            created = (await conn.execute(stmt)).first() is not None
            if not created:  # the journey has just created it: complete it instead
                row = (await conn.execute(lock)).mappings().first()
        if not created:
            changes = plan_changes(row, found)
            if not changes:
                return None
            await conn.execute(calls.update().where(calls.c.linkedid == found.linkedid)
                               .values(**changes, updated_at=func.now()))
        await conn.execute(call_events.insert().values(
            linkedid=found.linkedid, at=now, source=EVENT_SOURCE, kind=EVENT_KIND,
            data=_event_data(created, changes, found)))
    log.info("call_reconciled", linkedid=found.linkedid, created=created, filled=sorted(changes),
             outcome=changes.get("outcome"))
    return "created" if created else "completed"


async def _trunk_calls(engine, since: datetime, until: datetime) -> list[str]:
    stmt = (select(cel.c.linkedid, func.min(cel.c.eventtime).label("at"))
            .where(cel.c.eventtype == "CHAN_START", cel.c.context == TRUNK_CONTEXT,
                   cel.c.uniqueid == cel.c.linkedid, cel.c.eventtime >= since, cel.c.eventtime < until,
                   ~cel.c.linkedid.startswith(CALLBACK_PREFIX, autoescape=True))
            .group_by(cel.c.linkedid).order_by("at", cel.c.linkedid))
    async with engine.connect() as conn:
        return [r.linkedid for r in await conn.execute(stmt)]


async def _batch(engine, linkedids: Sequence[str]) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    cel_stmt = select(cel).where(cel.c.linkedid.in_(linkedids)).order_by(cel.c.linkedid, cel.c.eventtime, cel.c.id)
    rows_stmt = select(calls).where(calls.c.linkedid.in_(linkedids))
    by_call: dict[str, list[dict]] = {}
    async with engine.connect() as conn:
        for r in (await conn.execute(cel_stmt)).mappings():
            by_call.setdefault(r["linkedid"], []).append(dict(r))
        rows = {r["linkedid"]: dict(r) for r in (await conn.execute(rows_stmt)).mappings()}
    return by_call, rows


async def reconcile(
    store,
    advisors: Mapping[str, str],
    *,
    since: datetime,
    until: datetime,
    now: datetime | None = None,
    settle: timedelta = SETTLE,
    batch: int = BATCH,
) -> Report:
    """Rebuild from CEL the journeys of the calls from the trunk that arrived in [since, until)
    (CHAN_START time) whose row is missing or unfinished. ``store``: a CallStore;
    ``advisors``: advisor id → site, from the configuration. Calls over in CEL less than ``settle``
    before ``now`` are left to the live journey. Idempotent."""
    for name, value in (("since", since), ("until", until), ("now", now)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime")
    now = now or datetime.now(timezone.utc)
    report = Report(since=since, until=until)
    engine = store.engine
    linkedids = await _trunk_calls(engine, since, until)
    for i in range(0, len(linkedids), max(1, batch)):
        chunk = linkedids[i:i + max(1, batch)]
        by_call, rows = await _batch(engine, chunk)
        for linkedid in chunk:
            found = call_from_cel(linkedid, by_call.get(linkedid, ()), advisors)
            if found is None:
                continue
            report.checked += 1
            if not found.finished or found.over_at is None or found.over_at > now - settle:
                report.live += 1
                continue
            if not plan_changes(rows.get(linkedid), found):
                continue  # complete (re-checked under the row lock only when something is to be done)
            done = await _write(engine, found, now)
            if done == "created":
                report.created += 1
            elif done == "completed":
                report.completed += 1
            if done:
                report.linkedids.append(linkedid)
    log.info("reconcile_done", checked=report.checked, created=report.created, completed=report.completed,
             live=report.live)
    return report
