"""FastAGI ``/inbound``: a call from the trunk, from arrival to where it goes.

The called number tells the entry (national number, an office's number, unknown); an office
nobody covers today keeps its own line; otherwise: open or closed, one-level menu (topic, or
"private individual"), queue of the topic for the call's home site. The dialplan has the last
word: if this handler fails or dies before setting CCPROS_DONE, the call goes to the general
queue. Database trouble never stops a call: a failed write is logged and the call goes on (the
AMI journey records the call too).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import structlog

from ccpros_agi import routing
from ccpros_agi.agi import variables as v
from ccpros_agi.agi.fastagi import AGIRequest
from ccpros_agi.config import Config
from ccpros_agi.numbers import clean_raw, stored_number, to_e164

log = structlog.get_logger("ccpros.agi.inbound")

# The contract with dialplan/inbound.conf (the variables it reads), sent as ?dialplan=N.
DIALPLAN_VERSION = "1"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class InboundDeps:
    config: Config
    store: object              # ccpros_agi.store.CallStore
    sounds_dir: str            # as Asterisk sees it (inside its root filesystem)
    clock: Callable[[], datetime] = utcnow


async def _record(what: str, write: Awaitable[object]) -> None:
    try:
        await write
    except Exception:
        log.exception("record_failed", write=what)


class Call:
    """One call's conversation with Asterisk and its record, for the steps below."""

    def __init__(self, req: AGIRequest, deps: InboundDeps, linkedid: str) -> None:
        self.req, self.deps, self.linkedid = req, deps, linkedid
        self.caller_number: str | None = None

    async def record(self, what: str, **fields) -> None:
        await _record(what, self.deps.store.update_call(self.linkedid, **fields))

    async def event(self, kind: str, **data) -> None:
        await _record(kind, self.deps.store.add_event(self.linkedid, self.deps.clock(), "agi", kind, data))

    async def play(self, prompt: str) -> None:
        await self.req.stream_file(f"{self.deps.sounds_dir}/{prompt}")

    async def finish(self, action: str, **variables: str) -> None:
        for name, value in variables.items():
            await self.req.set_variable(name, value)
        await self.req.set_variable(v.ACTION, action)
        await self.req.set_variable(v.DONE, "1")


async def inbound(req: AGIRequest, deps: InboundDeps) -> None:
    config, store = deps.config, deps.store
    linkedid = await req.get_full_variable("${CHANNEL(linkedid)}") or req.env.get("uniqueid", "")
    req.bind(linkedid=linkedid)
    call = Call(req, deps, linkedid)
    now = deps.clock()
    if req.params.get("dialplan") != DIALPLAN_VERSION:
        log.warning("dialplan_version_mismatch", dialplan=req.params.get("dialplan"), expected=DIALPLAN_VERSION)

    called_raw = clean_raw(await req.get_variable(v.CALLED) or req.env.get("dnid", ""), 40)
    caller_raw = clean_raw(req.env.get("callerid", ""))
    caller_name = clean_raw(req.env.get("calleridname", ""))
    call.caller_number = to_e164(caller_raw)
    today = now.astimezone(ZoneInfo(config.hours.timezone)).date()
    entry = routing.classify_call(config, to_e164(called_raw), today)
    if entry.kind == "unknown":
        log.warning("unknown_called_number", called=called_raw)
    await _record("ensure_call", store.ensure_call(
        linkedid, arrived_at=now, called_number=stored_number(called_raw),
        caller_raw=caller_raw or None, caller_number=to_e164(caller_raw), entry_kind=entry.kind))
    await call.record("entry", entry_kind=entry.kind, office_id=entry.office.id if entry.office else None,
                      covering_site=entry.covering_site, home_site=entry.home_site,
                      caller_name=None if caller_name in ("", "unknown") else caller_name)
    open_now = routing.is_open(config.hours, now)

    if entry.own_line and config.admin_gateway:
        await own_line(call, entry, open_now)
        return
    if not open_now:
        log.info("closed")
        await call.record("closed", outcome="closed")
        await call.event("closed")
        await call.finish(v.ACTION_HANGUP)
        await call.play("closed")
        return
    await menu(call, entry, now)


async def own_line(call: Call, entry: routing.Entry, open_now: bool) -> None:
    """An office nobody covers today: its own line, or its closed message."""
    office = entry.office
    if not open_now:
        await call.record("closed", outcome="closed")
        await call.event("closed", office=office.id)
        await call.finish(v.ACTION_HANGUP)
        await call.play("office-closed")
        return
    log.info("office_own_line", office=office.id)
    await call.record("office_line", outcome="office_line")
    await call.event("office_line", office=office.id, number=office.internal_line)
    await call.finish(v.ACTION_OUTSIDE, **{v.DIAL: office.internal_line})


async def menu(call: Call, entry: routing.Entry, now: datetime) -> None:
    config, req = call.deps.config, call.req
    await _record("menu", call.deps.store.set_if_null(call.linkedid, menu_at=now))
    answer = await req.get_data(f"{call.deps.sounds_dir}/menu", config.menu_timeout_seconds * 1000, 1)

    if answer.digits == config.individuals.key:
        await misdirected(call)
        return

    topic, reason = routing.choose_topic(config, answer.digits)
    served_by = topic                     # the topic whose queue takes the call
    queue = routing.queue_for(topic.id, entry.home_site)
    if topic.id != config.general_topic:
        logged = await req.get_full_variable(f"${{QUEUE_MEMBER({queue},logged)}}")
        if logged in (None, "", "0"):
            log.info("topic_queue_empty", queue=queue)
            served_by = config.general()
            queue = routing.queue_for(served_by.id, entry.home_site)
    plan = routing.queue_plan(served_by, entry.home_site)
    log.info("menu_choice", topic=topic.id, reason=reason, queue=queue, timed_out=answer.timed_out,
             widen_after_s=plan.widen_after_s)
    await call.record("menu_choice", topic=topic.id, menu_reason=reason, queue=queue,
                      overflow_policy=served_by.overflow if entry.home_site else None,
                      widen_after_s=plan.widen_after_s)
    await call.event("menu_choice", digits=answer.digits[:4], timed_out=answer.timed_out, topic=topic.id,
                     queue=queue)
    await req.set_variable("CALLERID(name)", routing.display_name(entry, topic))
    await offer_to_last_advisor(call, now)
    if plan.max_penalty is not None:
        await req.set_variable("QUEUE_MAX_PENALTY", str(plan.max_penalty))
    await call.finish(v.ACTION_QUEUE, **{v.TOPIC: topic.id, v.QUEUE: queue, v.RULE: plan.rule or ""})


async def offer_to_last_advisor(call: Call, now: datetime) -> None:
    """A repeat caller first rings the advisor who last answered them, if that advisor is free."""
    config, req = call.deps.config, call.req
    if not config.repeat_caller_seconds or not call.caller_number:
        return
    try:
        contacts = await call.deps.store.previous_contacts(
            call.caller_number, since=now - timedelta(days=config.history_days), before_linkedid=call.linkedid,
            limit=10)
    except Exception:
        log.exception("record_failed", write="previous_contacts")
        return
    advisor = routing.last_advisor(config, contacts)
    if advisor is None:
        return
    direct = routing.direct_queue_name(advisor)
    logged = await req.get_full_variable(f"${{QUEUE_MEMBER({direct},logged)}}")
    state = await req.get_full_variable(f"${{DEVICE_STATE(PJSIP/{advisor})}}")
    if logged != "1" or state != "NOT_INUSE":
        log.info("last_advisor_not_free", advisor=advisor, logged=logged, state=state)
        return
    log.info("offered_to_last_advisor", advisor=advisor, seconds=config.repeat_caller_seconds)
    await call.record("repeat", repeat_advisor=advisor)
    await call.event("offered_to_last_advisor", advisor=advisor)
    await req.set_variable(v.DIRECT, direct)
    await req.set_variable(v.DIRECT_SECONDS, str(config.repeat_caller_seconds))


async def misdirected(call: Call) -> None:
    """A private individual: tell them their number (and transfer them if configured)."""
    config = call.deps.config
    log.info("misdirected_individual")
    await call.record("misdirected", misdirected=True, outcome="misdirected")
    await call.event("misdirected", transfer=config.individuals.transfer)
    if config.individuals.transfer and config.admin_gateway:
        await call.play("individuals")
        await call.finish(v.ACTION_OUTSIDE, **{v.DIAL: config.individuals.number})
        return
    await call.finish(v.ACTION_HANGUP)
    await call.play("individuals")
