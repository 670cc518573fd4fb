"""HTTP of the appointments' return calls (click-to-call; the rules: ccpros_agi.appointments.calls).

- ``POST /api/appointments/{id}/call`` (JSON body optional: ``{"agent_id": "..."}``): rings the office's
  agent on the office's own line, then calls the business. 202 with the attempt. Refusals change
  nothing: 404 unknown appointment, 409 not booked / too early / over / a call under way, 422 a desk
  appointment, 503 the telephony cannot place calls (AMI down, no gateway or carrier contact), 502
  Asterisk refused the call (the attempt is then recorded as failed).
- ``GET /api/appointments/{id}/calls``: its attempts and their results.
- ``POST /agenda/{office}/call/{id}``: the agenda page's "Appeler" button (303 back to the day).
"""
from __future__ import annotations

import html
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web

from ccpros_agi import web as webapp
from ccpros_agi.ami.client import AMIError
from ccpros_agi.appointments import calls as rules
from ccpros_agi.appointments.agenda import RuleError
from ccpros_agi.web_appointments import (
    APPOINTMENTS,
    CLOCK,
    DIRECTORY,
    KIND_STATUS,
    Invalid,
    _appointment_id,
    _handled,
    _jsonable,
    _office,
    page_agenda,
)

log = structlog.get_logger("ccpros.appointments")

BUSINESS_CONTEXT = "ccpros-appointment-business"
AGENT_CONTEXT = "ccpros-appointment-agent"


def add_routes(app: web.Application) -> None:
    """Called by web_appointments.add_routes (the store, directory and clock are there; the AMI client
    and the platform's Config are the app's ccpros_agi.web keys)."""
    r = app.router
    r.add_post("/api/appointments/{id}/call", api_call)
    r.add_get("/api/appointments/{id}/calls", api_calls)
    r.add_post("/agenda/{office}/call/{id}", page_call)


def caller_id_for(office: Any, national_number: str) -> str:
    """What the business sees: the office's published number, else the national number."""
    return office.numbers[0] if getattr(office, "numbers", None) else national_number


async def start_call(app: web.Application, appointment_id: int, started_by: str | None = None,
                     office_id: str | None = None) -> dict[str, Any]:
    """Check, record the attempt, originate. Invalid / RuleError when refused (nothing changed, except
    a failed attempt when Asterisk refuses the Originate)."""
    store, now = app[APPOINTMENTS], app[CLOCK]()
    current = await store.get(appointment_id)
    if current is None or (office_id is not None and current["office_id"] != office_id):
        raise Invalid(404, f"no appointment {appointment_id}" + (" in this office's agenda" if office_id else ""))
    rules.check_call(current, now, store.config.timezone)      # clear refusals before anything else
    config = app.get(webapp.CONFIG)
    ami = app.get(webapp.AMI)
    try:
        office = app[DIRECTORY].office(current["office_id"])
    except KeyError:
        raise Invalid(409, f"office {current['office_id']!r} is no longer in the directory: its line is "
                           "unknown") from None
    if config is None or not config.admin_gateway:
        raise Invalid(503, "no administration gateway (platform.yaml admin_gateway): offices' lines cannot "
                           "be called")
    if not config.trunk.contact:
        raise Invalid(503, "the carrier has no contact (platform.yaml trunk.contact): businesses cannot be "
                           "called")
    if ami is None or not ami.connected.is_set():
        raise Invalid(503, "the telephony is not reachable (AMI not connected); try again in a moment")
    call = await store.start_call(appointment_id, office_line=office.internal_line,
                                  caller_id=caller_id_for(office, config.national_number),
                                  started_by=started_by, now=now)
    cid = call["channel_id"]
    reason = current["reason"]
    try:
        reason = store.config.reason(reason).label
    except KeyError:
        pass
    display = rules.safe(f"RDV {current['business_name'] or reason}")
    variables = {"CCPROS_APPT_LINE": office.internal_line, "CCPROS_APPT_RING": str(rules.AGENT_RING_SECONDS),
                 "CCPROS_APPT_DISPLAY": display, "CCPROS_APPT_NUMBER": current["phone"]}
    try:
        reply = await ami.action(
            "Originate", Channel=f"Local/{cid}@{AGENT_CONTEXT}/n", Context=BUSINESS_CONTEXT, Exten=cid,
            Priority="1", Async="true", Timeout=str(rules.ORIGINATE_TIMEOUT_MS), ChannelId=cid,
            OtherChannelId=f"{cid}-agent", CallerID=f'"{display}" <{current["phone"]}>',
            Variable=",".join(f"{k}={v}" for k, v in variables.items()))
    except AMIError as exc:
        reply = {"Response": "Error", "Message": str(exc)}
    if reply.get("Response") != "Success":
        await store.call_ended(cid, "failed", app[CLOCK]())
        log.error("appointment_call_refused", id=appointment_id, message=reply.get("Message"))
        raise Invalid(502, f"the telephony refused the call ({reply.get('Message') or 'no reason'}); try again")
    log.info("appointment_call_originated", id=appointment_id, attempt=call["attempt"], channel=cid)
    return call


@_handled
async def api_call(request: web.Request) -> web.Response:
    """Start the return call: the office's agent first, then the business. 202 with the attempt."""
    appointment_id = _appointment_id(request)
    started_by = None
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise Invalid(400, "the request body is not valid JSON") from None
        if body is not None and not isinstance(body, dict):
            raise Invalid(400, "the request body must be a JSON object")
        agent = (body or {}).get("agent_id")
        if agent is not None and (not isinstance(agent, str) or len(agent) > 100 or not agent.isprintable()):
            raise Invalid(422, "agent_id: printable text of at most 100 characters")
        started_by = agent or None
    call = await start_call(request.app, appointment_id, started_by)
    return web.json_response(_jsonable(call), status=202)


@_handled
async def api_calls(request: web.Request) -> web.Response:
    appointment_id = _appointment_id(request)
    store = request.app[APPOINTMENTS]
    if await store.get(appointment_id) is None:
        raise Invalid(404, "no such appointment")
    return web.json_response([_jsonable(c) for c in await store.calls(appointment_id)])


async def page_call(request: web.Request) -> web.StreamResponse:
    try:
        office_id = _office(request)
        call = await start_call(request.app, _appointment_id(request), office_id=office_id)
    except Invalid as exc:
        return await page_agenda(request, error=exc.message, status=exc.status)
    except RuleError as exc:
        return await page_agenda(request, error=exc.message, status=KIND_STATUS[exc.kind])
    query = urlencode({"date": request.query.get("date", ""), "calling": call["appointment_id"]})
    raise web.HTTPSeeOther(f"/agenda/{office_id}?{query}")


def call_button(office_id: str, row: dict[str, Any], now: datetime, day: date) -> str:
    """The "Appeler" button of a booked phone appointment, around its time (else nothing)."""
    if row["status"] != "booked" or row["channel"] != "phone":
        return ""
    if not (row["starts_at"] - rules.EARLY <= now < row["ends_at"]):
        return ""
    action = (f"/agenda/{html.escape(office_id)}/call/{row['id']}?"
              f"{html.escape(urlencode({'date': day.isoformat()}))}")
    return f'<form method="post" action="{action}"><button>Appeler</button></form>'


def calling_message(query: Any) -> str:
    """The page's note after a click ("the agent's phone rings")."""
    calling = query.get("calling")
    if not calling or not calling.isdigit():
        return ""
    return (f'<p class="ok">Rendez-vous n° {html.escape(calling)} : votre poste sonne, puis '
            "l'entreprise est appelée.</p>")
