"""The callback dialer (``ccpros serve dialer``): puts each due callback back into its queue, in its turn.

A callback waits in the queue in the caller's place as a Local channel pair made by AMI Originate:

- the *queue leg* (``ccpros-cb-<id>-<n>-q``, dialplan [ccpros-callback-queue]) joins the callback's queue
  at the position of its original arrival (among the calls waiting there, by their first queueing),
  shows "Rappel · SIE de Pau · TVA" on the advisor's phone and whispers "rappel, <topic>" to the
  advisor who answers (Queue's announce);
- the *business leg* (``ccpros-cb-<id>-<n>``, [ccpros-callback-dial]) starts only once an advisor has
  answered: it records the advisor, then dials the business through the carrier, then records the
  result (FastAGI ``/callback-dial`` and ``/callback-result``). The advisor is rung first, the business
  second.

State is in PostgreSQL (:mod:`ccpros_agi.callbacks.store`): a callback is claimed with
``FOR UPDATE SKIP LOCKED`` (two dialers never place the same one), and an attempt is dialled only
after ``dialed_at`` is written (the business is never dialled twice for one attempt). After a restart
(or if Asterisk lost the legs), attempts whose legs no longer exist are placed again if they were never
dialled, and counted as ended (``unknown``) if they were.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import structlog

from ccpros_agi import routing
from ccpros_agi.ami.client import every
from ccpros_agi.config import Config

from .policy import parse_channel_id, position_for, queue_leg_id
from .store import CallbackStore, Placement

log = structlog.get_logger("ccpros.dialer")

ORIGINATE_TIMEOUT_MS = 8 * 3600 * 1000      # the queue leg may wait for an advisor for hours
RECOVER_AFTER = timedelta(seconds=10)       # an attempt this old must have its legs in Asterisk


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def whisper_prompt(topic: str | None) -> str:
    return f"callback-whisper-{topic}" if topic else "callback-whisper"


class Dialer:
    def __init__(self, ami, store: CallbackStore, calls, config: Config, sounds_dir: str, *,
                 interval_s: float = 1.0, clock=utcnow) -> None:
        self.ami, self.store, self.calls, self.config = ami, store, calls, config
        self.sounds_dir, self.interval_s, self.clock = sounds_dir, interval_s, clock
        self.topics = {t.id: t for t in config.topics}

    async def run(self) -> None:
        await every(self.interval_s, self.tick, "dialer")

    async def tick(self) -> None:
        settings = self.config.callback
        if settings is None or not self.ami.connected.is_set():
            return
        now = self.clock()
        channels = await self.ami.collect("CoreShowChannels")
        alive = {c.get("Uniqueid", "") for c in channels if c.get("Event") == "CoreShowChannel"}
        again, lost = await self.store.recover(now, now - RECOVER_AFTER, alive)
        for channel in lost:
            result = await self.store.ended(channel, "unknown", now, settings)
            if result:
                await self._event(result["linkedid"], "callback_attempt_lost", {"channel": channel, **_json(result)})
        placements, failed = await self.store.claim_due(now, settings)
        for callback_id in failed:
            log.warning("callback_number_limit", callback_id=callback_id)
        for placement in again + placements:
            await self.place(placement, again=placement in again)

    async def place(self, p: Placement, *, again: bool = False) -> None:
        """Originate the callback's legs into its queue at its turn."""
        with structlog.contextvars.bound_contextvars(linkedid=p.linkedid, callback_id=p.callback_id):
            position = await self.position(p)
            topic = self.topics.get(p.topic or "")
            variables = {
                "CCPROS_CB_QUEUE": p.queue, "CCPROS_CB_POSITION": str(position),
                "CCPROS_CB_WHISPER": f"{self.sounds_dir}/{whisper_prompt(p.topic)}",
                "CCPROS_CB_DISPLAY": _safe(p.display or "Rappel"), "CCPROS_CB_NUMBER": p.number,
            }
            plan = routing.queue_plan(topic, _home_of(p.queue, self.config)) if topic else routing.QueuePlan()
            waited = (self.clock() - p.arrival_at).total_seconds()
            if plan.max_penalty is not None and not (plan.widen_after_s is not None and waited >= plan.widen_after_s):
                variables["QUEUE_MAX_PENALTY"] = str(plan.max_penalty)
                variables["CCPROS_CB_RULE"] = plan.rule or ""
            reply = await self.ami.action(
                "Originate", Channel=f"Local/{p.channel_id}@ccpros-callback-queue/n", Context="ccpros-callback-dial",
                Exten=p.channel_id, Priority="1", Async="true", Timeout=str(ORIGINATE_TIMEOUT_MS),
                ChannelId=p.channel_id, OtherChannelId=queue_leg_id(p.callback_id, p.attempt),
                CallerID=f'"{variables["CCPROS_CB_DISPLAY"]}" <{p.number}>',
                Variable=",".join(f"{k}={v}" for k, v in variables.items()))
            if reply.get("Response") != "Success":
                log.error("callback_originate_refused", message=reply.get("Message"))
                return      # still "placing": recovered (placed again) once RECOVER_AFTER has passed
            await self.store.placed(p.channel_id, position)
            log.info("callback_placed", queue=p.queue, position=position, attempt=p.attempt, again=again)
            await self._event(p.linkedid, "callback_placed", {
                "attempt": p.attempt, "queue": p.queue, "position": position, "again": again})

    async def position(self, p: Placement) -> int:
        """Its turn among the calls waiting in its queue now: by first queueing time."""
        entries = [e for e in await self.ami.collect("QueueStatus", Queue=p.queue) if e.get("Event") == "QueueEntry"]
        now = self.clock()
        callbacks = {e["Uniqueid"]: ids[0] for e in entries if (ids := parse_channel_id(e.get("Uniqueid", "")))}
        call_arrivals = await self.store.arrivals([e.get("Uniqueid", "") for e in entries
                                                   if e.get("Uniqueid") not in callbacks])
        callback_arrivals = await self.store.callback_arrivals(list(callbacks.values()))
        others = []
        for entry in entries:
            uniqueid = entry.get("Uniqueid", "")
            if uniqueid in callbacks:
                others.append(callback_arrivals.get(callbacks[uniqueid]))
            else:
                others.append(call_arrivals.get(uniqueid) or now - timedelta(seconds=_int(entry.get("Wait"))))
        return position_for(p.arrival_at, others)

    async def _event(self, linkedid: str, kind: str, data: dict) -> None:
        try:
            await self.calls.add_event(linkedid, self.clock(), "ami", kind, data)
        except Exception:
            log.exception("record_failed", write=kind)


def _home_of(queue: str, config: Config) -> str | None:
    for site in config.sites:
        if queue.startswith(f"q-{site.id}-"):
            return site.id
    return None


def _safe(text: str) -> str:
    """A value safe in an AMI Variable list and a quoted caller ID."""
    return "".join(c for c in text if c.isprintable() and c not in ',"\\<>;|=')[:80]


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _json(result: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in result.items()}
