"""FastAGI handlers of callbacks (dialplan/callbacks.conf).

- ``/callback``: a waiting caller pressed the callback key. The number is their caller ID when it is a
  French geographic or mobile number (said, then confirmed with 1), or typed (10 digits); other numbers
  are refused with a message. Booked: the caller is told they keep their turn and hangs up; the call's
  outcome is ``callback``. Not booked (declined, refused twice, no key): back into the queue at their
  place (the dialplan, QUEUEPOSITION).
- ``/callback-dial``: an advisor answered a callback's queue leg: record who, then the dialplan dials
  the business (never twice: the store records ``dialed_at`` once).
- ``/callback-result``: the business leg ended: record the result, decide retry or the end.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from ccpros_agi import routing
from ccpros_agi.agi import variables as v
from ccpros_agi.agi.fastagi import AGIRequest
from ccpros_agi.agi.inbound import InboundDeps, _record
from ccpros_agi.numbers import to_e164

from .policy import DIAL_RESULTS, callback_number, callback_slots, parse_channel_id
from .store import CallbackStore

log = structlog.get_logger("ccpros.agi.callback")

CONFIRM, OTHER = "1", "2"
SLOT_SAID = "A d B 'digits/at' HM"     # SayUnixTime format: "mardi 24 novembre à 8 heures 30"
TYPED_DIGITS = 10


@dataclass
class CallbackDeps:
    inbound: InboundDeps
    callbacks: CallbackStore


async def callback(req: AGIRequest, deps: CallbackDeps) -> None:
    base, config = deps.inbound, deps.inbound.config
    linkedid = await req.get_full_variable("${CHANNEL(linkedid)}") or req.env.get("uniqueid", "")
    req.bind(linkedid=linkedid)
    sounds = base.sounds_dir

    async def event(kind: str, **data) -> None:
        await _record(kind, base.store.add_event(linkedid, base.clock(), "agi", kind, data))

    call = await base.store.get_call(linkedid)
    queue = await req.get_variable(v.QUEUE)
    if config.callback is None or call is None or not queue or call.get("queued_at") is None:
        log.warning("callback_not_possible", queue=queue, known=call is not None)
        return                                          # back to the queue (no CCPROS_DONE)
    await event("callback_asked", position=await req.get_variable("QUEUEPOSITION"))
    number = await ask_number(req, sounds, event)
    if number is None:
        await req.stream_file(f"{sounds}/callback-back-to-queue")
        return
    topic = call.get("topic")
    display = routing.callback_display(config, call.get("office_id"), topic)
    callback_id = await deps.callbacks.create(
        linkedid=linkedid, number=number, queue=queue, topic=topic, home_site=call.get("home_site"),
        office_id=call.get("office_id"), display=display, arrival_at=call["queued_at"], now=base.clock())
    minutes = await _expected_minutes(req, base, linkedid, queue, topic, call.get("home_site"))
    log.info("callback_booked", callback_id=callback_id, queue=queue, within_minutes=minutes)
    await event("callback_booked", callback_id=callback_id, number=number, queue=queue, within_minutes=minutes)
    await _record("callback_outcome", base.store.update_call(linkedid, outcome="callback"))
    await req.set_variable(v.ACTION, v.ACTION_HANGUP)
    await req.set_variable(v.DONE, "1")
    await req.stream_file(f"{sounds}/callback-booked" if minutes is None else f"{sounds}/callback-within-{minutes}")


async def _expected_minutes(req: AGIRequest, base: InboundDeps, linkedid: str, queue: str, topic_id: str | None,
                            home_site: str | None) -> int | None:
    """When to expect the call: the waiting information's bound for the caller's place in the queue
    (ccpros_agi.waiting: "moins de N minutes"), or None when it cannot be defended (then nothing is said
    about time)."""
    from ccpros_agi import waiting
    from ccpros_agi.agi.inbound import Call, observe_wait

    topic = next((t for t in base.config.topics if t.id == topic_id), None) or base.config.general()
    try:
        observed = await observe_wait(Call(req, base, linkedid), queue, routing.queue_plan(topic, home_site),
                                      base.clock())
        position = int(await req.get_variable("CCPROS_RETURN_POSITION") or 0)
        if position > 0:            # its place when it left, not the end of the queue
            observed = replace(observed, position=position)
        return waiting.decide(observed).minutes
    except Exception:
        log.exception("callback_estimate_failed")
        return None


async def ask_number(req: AGIRequest, sounds: str, event) -> str | None:
    """The number to call back: the caller ID if it can be called back and the caller confirms it (a key
    pressed while it is read out counts), else typed (two tries); None if none."""
    number, why = callback_number(to_e164(req.env.get("callerid", "")) or req.env.get("callerid", ""))
    if number is not None:
        keys = CONFIRM + OTHER
        key = (await req.stream_file(f"{sounds}/callback-confirm-intro", keys)
               or await req.say_digits(_national(number), keys)
               or (await req.get_data(f"{sounds}/callback-confirm-keys", 5000, 1)).digits)
        if key != CONFIRM:
            number = None
    for _ in range(2):
        if number is not None:
            break
        typed = await req.get_data(f"{sounds}/callback-type", 10000, TYPED_DIGITS)
        number, why = callback_number(typed.digits)
        if number is None:
            log.info("callback_number_refused", reason=why, digits=len(typed.digits))
            await event("callback_number_refused", reason=why)
            await req.stream_file(f"{sounds}/callback-refused")
    return number


async def closed_callback(call, entry, now: datetime) -> None:
    """The platform is closed (the closed message has been played, the call is marked closed): offer a
    callback at one of the next opening slots (keys 1 to 3), confirm the number, book it for that time
    in the general queue of the call's home site. Its turn is the slot's time."""
    config, req, sounds = call.deps.config, call.req, call.deps.sounds_dir
    if config.callback is None:
        return
    slots = callback_slots(config.hours, now)
    if not slots:
        return
    keys = "".join(str(k) for k in range(1, len(slots) + 1))
    key = await req.stream_file(f"{sounds}/callback-closed-intro", keys)
    for index, slot in enumerate(slots, start=1):
        key = (key or await req.stream_file(f"{sounds}/callback-slot-on", keys)
               or await req.say_datetime(int(slot.timestamp()), keys, SLOT_SAID, config.hours.timezone)
               or await req.stream_file(f"{sounds}/callback-slot-key-{index}", keys))
        if key:
            break
    if not key:
        key = (await req.get_data("silence/1", 5000, 1)).digits
    if key not in keys or not key:
        await call.event("callback_slots_offered", slots=[s.isoformat() for s in slots], chosen=None)
        return
    slot = slots[int(key) - 1]
    number = await ask_number(req, sounds, call.event)
    if number is None:
        await call.event("callback_slots_offered", slots=[s.isoformat() for s in slots], chosen=slot.isoformat())
        return
    general = config.general()
    queue = routing.queue_for(general.id, entry.home_site)
    callbacks = CallbackStore(call.deps.store.engine)
    callback_id = await callbacks.create(
        linkedid=call.linkedid, number=number, queue=queue, topic=general.id, home_site=entry.home_site,
        office_id=entry.office.id if entry.office else None,
        display=routing.callback_display(config, entry.office.id if entry.office else None, general.id),
        arrival_at=slot, now=call.deps.clock(), due_at=slot)
    log.info("callback_booked", callback_id=callback_id, queue=queue, slot=slot.isoformat())
    await call.event("callback_booked", callback_id=callback_id, number=number, queue=queue, slot=slot.isoformat())
    await call.record("callback_outcome", outcome="callback")
    await req.stream_file(f"{sounds}/callback-closed-booked")


async def callback_dial(req: AGIRequest, deps: CallbackDeps) -> None:
    """The queue leg was answered by an advisor: record it, and let the dialplan dial the business."""
    channel = req.params.get("channel", "")
    if parse_channel_id(channel) is None:
        log.warning("callback_unknown_channel", channel=channel[:40])
        return
    peer = (await req.get_full_variable("${CHANNEL(name)}") or "").removesuffix(";1") + ";2"
    advisor = await req.get_full_variable(f"${{IMPORT({peer},MEMBERNAME)}}") or None
    row = await deps.callbacks.connected(channel, advisor, deps.inbound.clock())
    if row is None:
        log.warning("callback_not_dialled", channel=channel)   # ended, cancelled or already dialled
        return
    req.bind(linkedid=row["linkedid"], callback_id=row["id"])
    config = deps.inbound.config
    await _record("callback_dialed", deps.inbound.store.add_event(
        row["linkedid"], deps.inbound.clock(), "agi", "callback_dialed",
        {"attempt": row["attempt"], "advisor": advisor}))
    log.info("callback_dialing", advisor=advisor, attempt=row["attempt"])
    await req.set_variable("CALLERID(all)", f'"{config.national_number}" <{config.national_number}>')
    await req.set_variable("CCPROS_CB_NUMBER", row["number"])
    await req.set_variable("CCPROS_CB_TRUNK", config.trunk.name)
    await req.set_variable("CCPROS_CB_RING", str(config.callback.ring_seconds if config.callback else 30))
    await req.set_variable(v.DONE, "1")


async def callback_result(req: AGIRequest, deps: CallbackDeps) -> None:
    channel = req.params.get("channel", "")
    status = (req.params.get("status") or "").upper()
    config = deps.inbound.config
    if parse_channel_id(channel) is None or config.callback is None:
        return
    result = DIAL_RESULTS.get(status, "failed" if status else "not_dialled")
    if result == "not_dialled":
        return          # the attempt was not dialled (app down): the dialer places it again
    ended = await deps.callbacks.ended(channel, result, deps.inbound.clock(), config.callback)
    if ended is None:
        return
    req.bind(linkedid=ended["linkedid"], callback_id=ended["callback_id"])
    log.info("callback_attempt_ended", result=result, status=ended["status"], attempt=ended["attempt"])
    await _record("callback_result", deps.inbound.store.add_event(
        ended["linkedid"], deps.inbound.clock(), "agi", "callback_result",
        {"attempt": ended["attempt"], "result": result, "status": ended["status"], "outcome": ended["outcome"]}))


def _national(e164: str) -> str:
    return "0" + e164[3:] if e164.startswith("+33") else e164.lstrip("+")
