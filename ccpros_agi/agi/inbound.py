"""FastAGI ``/inbound``: a call from the trunk, from arrival to the queue it joins.

Open or closed, one-level topic menu, queue. The dialplan has the last word: if this
handler fails or dies before setting CCPROS_DONE, the call goes to the general queue.
Database trouble never stops a call: a failed write is logged and the call goes on (the
AMI journey records the call too).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

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


def entry_kind(config: Config, called_e164: str | None) -> str:
    return "national" if called_e164 == config.national_number else "unknown"


async def _record(what: str, write: Awaitable[object]) -> None:
    try:
        await write
    except Exception:
        log.exception("record_failed", write=what)


async def inbound(req: AGIRequest, deps: InboundDeps) -> None:
    config, store = deps.config, deps.store
    linkedid = await req.get_full_variable("${CHANNEL(linkedid)}") or req.env.get("uniqueid", "")
    req.bind(linkedid=linkedid)
    now = deps.clock()
    if req.params.get("dialplan") != DIALPLAN_VERSION:
        log.warning("dialplan_version_mismatch", dialplan=req.params.get("dialplan"), expected=DIALPLAN_VERSION)

    called_raw = clean_raw(await req.get_variable(v.CALLED) or req.env.get("dnid", ""), 40)
    caller_raw = clean_raw(req.env.get("callerid", ""))
    called = to_e164(called_raw)
    kind = entry_kind(config, called)
    if kind == "unknown":
        log.warning("unknown_called_number", called=called_raw)
    await _record("ensure_call", store.ensure_call(
        linkedid, arrived_at=now, called_number=stored_number(called_raw),
        caller_raw=caller_raw or None, caller_number=to_e164(caller_raw), entry_kind=kind))
    await _record("entry_kind", store.update_call(linkedid, entry_kind=kind))

    if not routing.is_open(config.hours, now):
        log.info("closed")
        await _record("closed", store.update_call(linkedid, outcome="closed"))
        await _record("event", store.add_event(linkedid, now, "agi", "closed", {}))
        await req.set_variable(v.ACTION, v.ACTION_CLOSED)
        await req.set_variable(v.DONE, "1")
        await req.stream_file(f"{deps.sounds_dir}/closed")
        return

    await _record("menu", store.set_if_null(linkedid, menu_at=now))
    answer = await req.get_data(f"{deps.sounds_dir}/menu", config.menu_timeout_seconds * 1000, 1)
    topic, reason = routing.choose_topic(config, answer.digits)
    queue = routing.queue_name(topic.id)
    if topic.id != config.general_topic:
        logged = await req.get_full_variable(f"${{QUEUE_MEMBER({queue},logged)}}")
        if logged in (None, "", "0"):
            log.info("topic_queue_empty", queue=queue)
            queue = routing.queue_name(config.general_topic)
    log.info("menu_choice", topic=topic.id, reason=reason, queue=queue, timed_out=answer.timed_out)
    await _record("menu_choice", store.update_call(linkedid, topic=topic.id, menu_reason=reason, queue=queue))
    await _record("event", store.add_event(
        linkedid, deps.clock(), "agi", "menu_choice",
        {"digits": answer.digits[:4], "timed_out": answer.timed_out, "topic": topic.id, "queue": queue}))
    await req.set_variable(v.TOPIC, topic.id)
    await req.set_variable(v.QUEUE, queue)
    await req.set_variable(v.ACTION, v.ACTION_QUEUE)
    await req.set_variable(v.DONE, "1")
