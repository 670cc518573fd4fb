"""FastAGI handlers of the appointments' return calls (dialplan/appointments.conf; the rules:
ccpros_agi.appointments.calls).

- ``/appointment-call-dial?channel=ccpros-appt-<id>-<n>``: the office's agent answered; record it (once:
  a second run finds the attempt already dialled and the dialplan does not dial), present the office's
  published number to the business, give the dialplan the business's number, the carrier and the ring
  time, then ``CCPROS_DONE=1``.
- ``/appointment-call-result?channel=...&leg=agent|business&status=${DIALSTATUS}``: the attempt ended
  (the agent did not answer, or the business leg hung up): its result, recorded once, and the
  appointment's outcome (honoured / no_answer).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog

from ccpros_agi.agi import variables as v
from ccpros_agi.agi.fastagi import AGIRequest
from ccpros_agi.config import Config
from ccpros_agi.store.appointments import AppointmentStore

from . import calls as rules
from .config import load_appointments

log = structlog.get_logger("ccpros.agi.appointment_call")

DEFAULT_BUSINESS_RING_SECONDS = 30


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AppointmentCallDeps:
    config: Config
    store: AppointmentStore
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def business_ring_seconds(self) -> int:
        """How long the business rings: the callbacks' ring time (platform.yaml callback.ring_seconds)."""
        return self.config.callback.ring_seconds if self.config.callback else DEFAULT_BUSINESS_RING_SECONDS


async def call_dial(req: AGIRequest, deps: AppointmentCallDeps) -> None:
    channel = req.params.get("channel", "")
    ids = rules.parse_channel_id(channel)
    if ids is None:
        log.warning("appointment_call_unknown_channel", channel=channel[:40])
        return
    req.bind(appointment_id=ids[0], attempt=ids[1])
    row = await deps.store.call_answered(channel, deps.clock())
    if row is None:
        log.warning("appointment_call_not_dialled", channel=channel)    # unknown, over, or already dialled
        return
    log.info("appointment_call_dialing", office_line=row["office_line"])
    await req.set_variable("CALLERID(all)", f'"{row["caller_id"]}" <{row["caller_id"]}>')
    await req.set_variable("CCPROS_APPT_NUMBER", row["number"])
    await req.set_variable("CCPROS_APPT_TRUNK", deps.config.trunk.name)
    await req.set_variable("CCPROS_APPT_BUSINESS_RING", str(deps.business_ring_seconds))
    await req.set_variable(v.DONE, "1")


async def call_result(req: AGIRequest, deps: AppointmentCallDeps) -> None:
    channel = req.params.get("channel", "")
    ids = rules.parse_channel_id(channel)
    if ids is None:
        return
    req.bind(appointment_id=ids[0], attempt=ids[1])
    status = req.params.get("status", "")
    if req.params.get("leg") == "agent":
        result: str | None = rules.agent_result(status)
    else:
        result = rules.business_result(status)
    if result is None:
        return          # the business leg did not dial (already dialled, or the app was down)
    ended = await deps.store.call_ended(channel, result, deps.clock())
    if ended is not None:
        log.info("appointment_call_result", result=result, status=status, outcome=ended["outcome"])


def appointment_call_routes(config: Config, engine) -> dict[str, Callable[[AGIRequest], Awaitable[None]]]:
    """The FastAGI routes (none without appointments.yaml) on the CallStore's engine."""
    appointments_config = load_appointments(config)
    if appointments_config is None:
        return {}
    deps = AppointmentCallDeps(config, AppointmentStore(engine, appointments_config))

    def bound(handler):
        async def handle(req: AGIRequest) -> None:
            await handler(req, deps)
        return handle

    return {"/appointment-call-dial": bound(call_dial), "/appointment-call-result": bound(call_result)}
