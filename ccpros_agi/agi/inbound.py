"""FastAGI ``/inbound``: a call from the trunk, from arrival to where it goes.

The called number tells the entry (national number, an office's number, unknown); an office
nobody covers today keeps its own line; otherwise: open or closed, one-level menu (topic, or
"private individual"), queue of the topic for the call's home site. The dialplan has the last
word: if this handler fails or dies before setting CCPROS_DONE, the call goes to the general
queue. Database trouble never stops a call: a failed write is logged and the call goes on (the
AMI journey records the call too).
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select

from ccpros_agi import routing, waiting
from ccpros_agi.agi import variables as v
from ccpros_agi.agi.fastagi import AGIError, AGIRequest, ChannelHungUp
from ccpros_agi.callbacks import policy as callback_policy
from ccpros_agi.config import Config
from ccpros_agi.confgen import advisor_queues
from ccpros_agi.numbers import clean_raw, stored_number, to_e164
from ccpros_agi.store.models import Call as CallRow

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
        from ccpros_agi.callbacks.agi import closed_callback   # (it imports this module)
        await closed_callback(call, entry, now)
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
    await announce_wait(call, queue, plan, now)


async def announce_wait(call: Call, queue: str, plan: routing.QueuePlan, now: datetime) -> None:
    """Tell the caller, just before the call joins ``queue``, a bound on their wait they can rely on,
    or nothing (ccpros_agi.waiting decides, from the live state), and record what was said (call event
    ``wait_announced``). app_queue says the position itself when the call joins. Called once the call
    is safe (CCPROS_DONE set): whatever happens here, the call still queues."""
    req = call.req
    try:
        observed = await observe_wait(call, queue, plan, now)
    except ChannelHungUp:
        return
    except Exception:
        log.exception("wait_state_unreadable", queue=queue)
        await call.event("wait_announced", position=None, estimate_s=None, said=[], reason="no_state",
                         queue=queue)
        return
    announcement = waiting.decide(observed)
    try:
        if announcement.prompts and await req.get_variable(v.DIRECT):
            # a repeat caller first rings their last advisor, who is free: the wait is likely none
            announcement = waiting.Announcement(announcement.position, "direct_offer",
                                                bound_s=announcement.bound_s, mean_s=announcement.mean_s)
    except AGIError:
        return
    said: list[str] = []
    # a long wait: the callback key is offered too (ccpros_agi.callbacks)
    offer = callback_policy.offer_at_entry(call.deps.config.callback, announcement.reason, announcement.mean_s)
    try:
        for prompt in announcement.prompts + (("callback-offer",) if offer else ()):
            await call.play(prompt)
            said.append(prompt)
    except AGIError as exc:             # hung up, or a missing prompt: record what was really said
        log.info("wait_announcement_cut", reason=str(exc))
    finally:
        record = announcement.record() | {"said": said, "queue": queue, "handling_s": round(observed.handling_s, 1),
                                          "pools": [asdict(p) for p in observed.pools], "callback_offered": offer}
        if said[:len(announcement.prompts)] != list(announcement.prompts):
            record |= {"estimate_s": None, "minutes": None, "planned": list(announcement.prompts)}
        log.info("wait_announced", position=announcement.position, reason=announcement.reason,
                 minutes=record["minutes"], said=said)
        await call.event("wait_announced", **record)


# Asterisk reads an AGI command into a 2048-byte buffer: the expressions are sent a few at a time.
_COMMAND_BUDGET = 1500
_UNREACHABLE = ("UNAVAILABLE", "INVALID", "")
_FREE = ("NOT_INUSE", "UNKNOWN")      # app_queue rings members in these states


async def observe_wait(call: Call, queue: str, plan: routing.QueuePlan, now: datetime) -> waiting.Observed:
    """The live state a waiting-time bound needs, from Asterisk's dialplan functions: the callers waiting
    in ``queue``, its members (penalty, paused, device state), the callers waiting in the other queues
    those members serve, and the mean handling time of their calls today. ValueError when unreadable."""
    config, req = call.deps.config, call.req
    head = await req.get_full_variable(f"${{QUEUE_WAITING_COUNT({queue})}}|${{QUEUE_MEMBER_LIST({queue})}}")
    count, _, member_list = (head or "").partition("|")
    position = int(count) + 1
    interfaces = [m.strip() for m in member_list.split(",") if m.strip()]
    members: dict[str, tuple[int, bool, str]] = {}      # advisor -> (penalty, paused, device state)
    member_state = {m: f"${{QUEUE_MEMBER({queue},penalty,{m})}}:${{QUEUE_MEMBER({queue},paused,{m})}}:"
                       f"${{DEVICE_STATE({m})}}" for m in interfaces}
    for interface, value in (await _evaluate(req, member_state, "|")).items():
        penalty, paused, state = (value.split(":") + ["", "", ""])[:3]
        members[interface.partition("/")[2]] = (int(penalty or 0), paused == "1", state.strip().upper())
    staffed = {a: m for a, m in members.items() if not m[1] and m[2] not in _UNREACHABLE}

    max_penalty_text = await req.get_variable("QUEUE_MAX_PENALTY")
    max_penalty = int(max_penalty_text) if max_penalty_text not in (None, "") else None
    groups = [(0.0, [a for a, m in staffed.items() if max_penalty is None or m[0] <= max_penalty])]
    if max_penalty is not None and plan.rule_after_s is not None:
        groups.append((float(plan.rule_after_s), list(staffed)))

    known = {a.id: a for a in config.advisors}
    others: dict[str, set[str]] = {}                    # advisor -> the other queues they serve
    for advisor_id in staffed:
        if advisor_id in known:
            others[advisor_id] = {q for q, _ in advisor_queues(config, known[advisor_id])
                                  if q not in (queue, routing.direct_queue_name(advisor_id))}
    queues = sorted(set().union(*others.values())) if others else []
    counts = await _evaluate(req, {q: f"${{QUEUE_WAITING_COUNT({q})}}" for q in queues}, ",")
    waiting_in = {q: int(n or 0) for q, n in counts.items()}

    pools = []
    for after_s, advisors in groups:
        served = set().union(*(others.get(a, set()) for a in advisors)) if advisors else set()
        pools.append(waiting.Pool(staffed=len(advisors), free=sum(staffed[a][2] in _FREE for a in advisors),
                                  waiting_elsewhere=sum(waiting_in.get(q, 0) for q in served), after_s=after_s))
    handling = await handling_seconds(call, list(members), now)
    return waiting.Observed(position=position, pools=tuple(pools), handling_s=handling)


async def _evaluate(req: AGIRequest, expressions: dict[str, str], sep: str) -> dict[str, str]:
    """Each expression's value, by key, a few expressions to a command (joined by ``sep``, which no
    value may contain). ValueError when Asterisk's answer does not have one value per expression."""
    out: dict[str, str] = {}
    keys = list(expressions)
    while keys:
        batch, size = [], 0
        while keys and (not batch or size + len(expressions[keys[0]]) + 1 <= _COMMAND_BUDGET):
            size += len(expressions[keys[0]]) + 1
            batch.append(keys.pop(0))
        values = (await req.get_full_variable(sep.join(expressions[k] for k in batch)) or "").split(sep)
        if len(values) != len(batch):
            raise ValueError(f"{len(batch)} expressions, {len(values)} values")
        out.update(zip(batch, values))
    return out


_TALK_TTL_S = 30.0
_talk_cache: dict[str, Any] = {}


async def handling_seconds(call: Call, advisors: list[str], now: datetime) -> float:
    """Mean handling time of the calls these advisors answered today (ended ones), pulled towards the
    default while few are known (waiting.mean_handling_s). One grouped query for all advisors, kept
    30 s; the default when the store cannot tell."""
    if getattr(call.deps.store, "engine", None) is None:
        return waiting.mean_handling_s(count=0)
    tz = ZoneInfo(call.deps.config.hours.timezone)
    local = now.astimezone(tz)
    since = datetime(local.year, local.month, local.day, tzinfo=tz)
    cached = _talk_cache.get("data")
    if cached is None or _talk_cache.get("since") != since or time.monotonic() - _talk_cache["at"] > _TALK_TTL_S:
        try:
            cached = await _talk_today(call.deps.store, since)
        except Exception:
            log.exception("record_failed", write="talk_today")
            return waiting.mean_handling_s(count=0)
        _talk_cache.update(data=cached, since=since, at=time.monotonic())
    count = sum(cached.get(a, (0, 0.0))[0] for a in advisors)
    total = sum(cached.get(a, (0, 0.0))[1] for a in advisors)
    return waiting.mean_handling_s(count=count, total_s=total)


async def _talk_today(store, since: datetime) -> dict[str, tuple[int, float]]:
    """advisor -> (calls answered and ended since ``since``, their total talk seconds)."""
    talk = func.extract("epoch", CallRow.ended_at - CallRow.answered_at)
    stmt = (select(CallRow.advisor_id, func.count(), func.sum(talk))
            .where(CallRow.arrived_at >= since, CallRow.answered_at.is_not(None), CallRow.ended_at.is_not(None),
                   CallRow.advisor_id.is_not(None))
            .group_by(CallRow.advisor_id))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {advisor: (int(n), float(total or 0.0)) for advisor, n, total in rows}


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
