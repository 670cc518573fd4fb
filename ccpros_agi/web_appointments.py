"""HTTP API and advisors' page of the office agendas (``add_routes(app, store, ...)``).

Every refusal is a 4xx with a JSON ``{"error": "..."}`` (HTML pages: the message on the page) and
changes nothing: input is checked before any write, and each write is one transaction.

- 400 malformed JSON or parameter (not a date, not an integer ...)
- 404 unknown office (or one without agenda), unknown appointment
- 409 slot taken, appointment in a state that forbids the change
- 422 slot in the past / too soon / beyond the horizon / not in the agenda, reason not offered,
  malformed or non-French phone number, bad e-mail or SIREN, unknown advisor or outcome
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import phonenumbers
import structlog
from aiohttp import web

from ccpros_agi.appointments.agenda import OUTCOMES, RuleError
from ccpros_agi.directory import Directory
from ccpros_agi.store.appointments import AppointmentStore, Booking

log = structlog.get_logger("ccpros.appointments")

APPOINTMENTS = web.AppKey("appointment_store", AppointmentStore)
DIRECTORY = web.AppKey("appointment_directory", Directory)
ADVISORS = web.AppKey("appointment_advisors", frozenset)
CLOCK = web.AppKey("appointment_clock", object)

LINKEDID_RE = re.compile(r"[A-Za-z0-9._-]{1,150}")
EMAIL_RE = re.compile(r"[^@\s<>\"',;]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
SIREN_RE = re.compile(r"[0-9]{9}")
TEXT_MAX = 200
MAX_RANGE_DAYS = 62
KIND_STATUS = {"unknown": 404, "taken": 409, "conflict": 409, "invalid": 422}
PHONE_TYPES = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
               phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def add_routes(app: web.Application, store: AppointmentStore, *, directory: Directory,
               advisors: Iterable[str] = (), clock: Callable[[], datetime] | None = None) -> None:
    """Add the agenda API (``/api/appointments``, ``/api/offices/{office}/...``) and the advisors'
    page (``/agenda``) to ``app``. ``advisors``: known advisor ids (empty: any id is accepted)."""
    app[APPOINTMENTS], app[DIRECTORY], app[ADVISORS] = store, directory, frozenset(advisors)
    app[CLOCK] = clock or (lambda: datetime.now(timezone.utc))
    r = app.router
    r.add_get("/api/appointments/reasons", api_reasons)
    r.add_post("/api/appointments", api_book)
    r.add_get("/api/appointments/{id}", api_get)
    r.add_post("/api/appointments/{id}/cancel", api_cancel)
    r.add_post("/api/appointments/{id}/reschedule", api_reschedule)
    r.add_post("/api/appointments/{id}/outcome", api_outcome)
    r.add_get("/api/offices/{office}/slots", api_slots)
    r.add_get("/api/offices/{office}/agenda", api_agenda)
    r.add_get("/api/offices/{office}/appointments/stats", api_stats)
    r.add_get("/agenda", page_offices)
    r.add_get("/agenda/{office}", page_agenda)
    r.add_post("/agenda/{office}/book", page_book)
    r.add_post("/agenda/{office}/cancel/{id}", page_cancel)
    from ccpros_agi import web_appointment_calls  # return calls (click-to-call); imports this module

    web_appointment_calls.add_routes(app)


# --- validation ----------------------------------------------------------------------------------


class Invalid(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def french_number(raw: Any) -> str:
    """E.164 of a French geographic or mobile number; Invalid(422) otherwise."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 40:
        raise Invalid(422, "phone: give the business's French number, e.g. 05 59 00 00 00 or +33612345678")
    try:
        number = phonenumbers.parse(raw.strip(), "FR")
    except phonenumbers.NumberParseException:
        raise Invalid(422, f"phone: {raw!r} is not a phone number; write e.g. 05 59 00 00 00") from None
    if number.country_code != 33:
        raise Invalid(422, f"phone: {raw!r} is not a French number (+{number.country_code}); only French "
                           "numbers can be called back and receive SMS")
    if not phonenumbers.is_valid_number(number):
        raise Invalid(422, f"phone: {raw!r} is not a valid French number; check the digits")
    if phonenumbers.number_type(number) not in PHONE_TYPES:
        raise Invalid(422, f"phone: {raw!r} is neither a geographic nor a mobile number; give a landline "
                           "(01-05) or mobile (06, 07) number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def siren_ok(value: str) -> bool:
    """9 digits with a valid Luhn key (the SIREN's check digit)."""
    if not SIREN_RE.fullmatch(value):
        return False
    total = 0
    for index, char in enumerate(reversed(value)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > TEXT_MAX or not value.isprintable():
        raise Invalid(422, f"{key}: must be printable text of at most {TEXT_MAX} characters")
    return value.strip() or None


def _parse_start(raw: Any, tz: str) -> datetime:
    """ISO 8601; without an offset it is the agenda's local time (what the HTML form sends)."""
    if not isinstance(raw, str):
        raise Invalid(422, "starts_at: give the slot's start as ISO 8601, e.g. 2026-12-01T09:30:00+01:00")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(422, f"starts_at: {raw!r} is not an ISO 8601 date-time, e.g. "
                           "2026-12-01T09:30:00+01:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value


def _parse_date(raw: str | None, name: str, default: date) -> date:
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(400, f"{name}: {raw!r} is not a date; write it as YYYY-MM-DD") from None


def _office(request: web.Request) -> str:
    return _check_office(request.app, request.match_info["office"])


def _check_office(app: web.Application, office_id: str) -> str:
    """The office id if the directory knows it and it has an agenda; Invalid(404) otherwise."""
    try:
        app[DIRECTORY].office(office_id)
    except KeyError:
        raise Invalid(404, f"unknown office {office_id!r}; use an office id of the directory") from None
    if app[APPOINTMENTS].config.agenda(office_id) is None:
        raise Invalid(404, f"office {office_id!r} takes no appointment (no agenda)")
    return office_id


def _appointment_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise Invalid(400, f"appointment id {raw!r} must be a positive integer")
    return int(raw)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Invalid(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Invalid(400, "the request body must be a JSON object")
    return body


def booking_from(body: dict[str, Any], app: web.Application) -> Booking:
    """A Booking from the API's JSON (or the form's fields); Invalid if anything is wrong."""
    store, directory = app[APPOINTMENTS], app[DIRECTORY]
    office_id, reason = body.get("office_id"), body.get("reason")
    if not isinstance(office_id, str) or not office_id:
        raise Invalid(422, "office_id: required, the id of the office (e.g. sie-64445-01)")
    try:
        directory.office(office_id)
    except KeyError:
        raise Invalid(404, f"unknown office {office_id!r}; use an office id of the directory") from None
    if not isinstance(reason, str) or not reason:
        raise Invalid(422, "reason: required, one of the reasons of GET /api/appointments/reasons")
    starts_at = _parse_start(body.get("starts_at"), store.config.timezone)
    phone = french_number(body.get("phone"))
    email = _optional_text(body, "email")
    if email is not None and (len(email) > 254 or not EMAIL_RE.fullmatch(email)):
        raise Invalid(422, f"email: {email!r} is not an e-mail address")
    siren = _optional_text(body, "siren")
    if siren is not None:
        siren = siren.replace(" ", "")
        if not siren_ok(siren):
            raise Invalid(422, f"siren: {siren!r} is not a SIREN (9 digits with a valid check digit)")
    linkedid = _optional_text(body, "linkedid")
    if linkedid is not None and not LINKEDID_RE.fullmatch(linkedid):
        raise Invalid(422, "linkedid: letters, digits, '.', '_' and '-' only (the call's linkedid)")
    advisor_id = _advisor(body, app)
    return Booking(office_id=office_id, reason=reason, starts_at=starts_at, phone=phone, email=email,
                   business_name=_optional_text(body, "business_name"), siren=siren, linkedid=linkedid,
                   advisor_id=advisor_id)


def _advisor(body: dict[str, Any], app: web.Application) -> str | None:
    advisor_id = _optional_text(body, "advisor_id")
    known = app[ADVISORS]
    if advisor_id is not None and known and advisor_id not in known:
        raise Invalid(422, f"advisor_id: unknown advisor {advisor_id!r}")
    return advisor_id


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _handled(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
    """Invalid and RuleError -> a JSON 4xx with the message."""
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Invalid as exc:
            return _error(exc.status, exc.message)
        except RuleError as exc:
            return _error(KIND_STATUS[exc.kind], exc.message)
    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


# --- API -----------------------------------------------------------------------------------------


@_handled
async def api_reasons(request: web.Request) -> web.Response:
    """The reasons; with ``?office=ID`` only those the office offers."""
    config = request.app[APPOINTMENTS].config
    offered: Iterable[str] | None = None
    if office_id := request.query.get("office"):
        offered = config.agenda(_check_office(request.app, office_id)).reasons  # type: ignore[union-attr]
    return web.json_response([
        {"id": r.id, "label": r.label, "duration_minutes": r.duration_minutes, "channel": r.channel}
        for r in config.reasons if offered is None or r.id in offered])


@_handled
async def api_slots(request: web.Request) -> web.Response:
    """Free slots of an office for a reason: ``?reason=tva&from=YYYY-MM-DD&to=YYYY-MM-DD``."""
    office_id = _office(request)
    app = request.app
    store, now = app[APPOINTMENTS], app[CLOCK]()
    today = now.astimezone(ZoneInfo(store.config.timezone)).date()
    reason = request.query.get("reason", "")
    if not reason:
        raise Invalid(422, "reason: required, e.g. ?reason=tva")
    first = _parse_date(request.query.get("from"), "from", today)
    last = _parse_date(request.query.get("to"), "to", first + timedelta(days=6))
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        raise Invalid(400, f"from/to: 'to' must be on or after 'from', at most {MAX_RANGE_DAYS} days later")
    slots = await store.free_slots(office_id, reason, first, last, now)
    return web.json_response([{"starts_at": s.start.isoformat(), "ends_at": s.end.isoformat(), "free": s.free}
                              for s in slots])


@_handled
async def api_agenda(request: web.Request) -> web.Response:
    """The office's appointments of a day: ``?date=YYYY-MM-DD`` (default today)."""
    office_id = _office(request)
    store, now = request.app[APPOINTMENTS], request.app[CLOCK]()
    day = _parse_date(request.query.get("date"), "date",
                      now.astimezone(ZoneInfo(store.config.timezone)).date())
    rows = await store.day_agenda(office_id, day)
    return web.json_response({"office_id": office_id, "date": day.isoformat(),
                              "appointments": [_jsonable(r) for r in rows]})


@_handled
async def api_stats(request: web.Request) -> web.Response:
    """Counts per status of the appointments starting ``?from=..&to=..`` (default: this month)."""
    office_id = _office(request)
    store, now = request.app[APPOINTMENTS], request.app[CLOCK]()
    today = now.astimezone(ZoneInfo(store.config.timezone)).date()
    first = _parse_date(request.query.get("from"), "from", today.replace(day=1))
    last = _parse_date(request.query.get("to"), "to", today)
    if last < first or (last - first).days > 366:
        raise Invalid(400, "from/to: 'to' must be on or after 'from', at most 366 days later")
    stats = await store.statistics(office_id, first, last)
    return web.json_response({"office_id": office_id, "from": first.isoformat(), "to": last.isoformat(),
                              **stats})


@_handled
async def api_book(request: web.Request) -> web.Response:
    """Book: JSON office_id, reason, starts_at, phone, and optional email, business_name, siren,
    linkedid (the call it is booked during), advisor_id. 201 with the appointment."""
    booking = booking_from(await _json(request), request.app)
    row = await request.app[APPOINTMENTS].book(booking, request.app[CLOCK]())
    return web.json_response(_jsonable(row), status=201)


@_handled
async def api_get(request: web.Request) -> web.Response:
    row = await request.app[APPOINTMENTS].get(_appointment_id(request))
    if row is None:
        raise Invalid(404, "no such appointment")
    return web.json_response(_jsonable(row))


@_handled
async def api_cancel(request: web.Request) -> web.Response:
    appointment_id = _appointment_id(request)
    row = await request.app[APPOINTMENTS].cancel(appointment_id, request.app[CLOCK]())
    return web.json_response(_jsonable(row))


@_handled
async def api_reschedule(request: web.Request) -> web.Response:
    """JSON ``starts_at`` (another free slot of the same office and reason), optional advisor_id."""
    appointment_id = _appointment_id(request)
    body = await _json(request)
    store = request.app[APPOINTMENTS]
    starts_at = _parse_start(body.get("starts_at"), store.config.timezone)
    row = await store.reschedule(appointment_id, starts_at, request.app[CLOCK](),
                                 advisor_id=_advisor(body, request.app))
    return web.json_response(_jsonable(row))


@_handled
async def api_outcome(request: web.Request) -> web.Response:
    """JSON ``outcome``: honoured, no_answer or no_show (recorded by the telephony or an agent)."""
    appointment_id = _appointment_id(request)
    body = await _json(request)
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise Invalid(422, f"outcome: one of {', '.join(OUTCOMES)}")
    row = await request.app[APPOINTMENTS].record_outcome(appointment_id, outcome, request.app[CLOCK]())
    return web.json_response(_jsonable(row))


# --- advisors' page (server-rendered, no JavaScript) -----------------------------------------------

STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
         "padding:.2em .5em;font-size:90%}.error{color:#a00;font-weight:bold}.ok{color:#070}"
         "label{display:block;margin:.3em 0}")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    esc = html.escape
    text = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{body}</body></html>")
    return web.Response(text=text, content_type="text/html", status=status)


async def page_offices(request: web.Request) -> web.Response:
    store, directory = request.app[APPOINTMENTS], request.app[DIRECTORY]
    items = "".join(f'<li><a href="/agenda/{html.escape(o.id)}">{html.escape(o.name)}</a></li>'
                    for o in directory if store.config.agenda(o.id) is not None)
    return _page("Agendas des SIE", f"<ul id=\"offices\">{items}</ul>")


async def page_agenda(request: web.Request, *, error: str | None = None, status: int = 200,
                      form: dict[str, Any] | None = None) -> web.Response:
    """The office's appointments of a day and a booking form with the free slots of a reason."""
    try:
        office_id = _office(request)
        store, now = request.app[APPOINTMENTS], request.app[CLOCK]()
        tz = ZoneInfo(store.config.timezone)
        day = _parse_date(request.query.get("date"), "date", now.astimezone(tz).date())
    except Invalid as exc:
        return _page("Agenda", f'<p class="error">{html.escape(exc.message)}</p>', exc.status)
    config, esc = store.config, html.escape
    from ccpros_agi.web_appointment_calls import call_button, calling_message  # the "Appeler" button

    agenda = config.agenda(office_id)
    assert agenda is not None
    reason_id = request.query.get("reason") or agenda.reasons[0]
    if reason_id not in agenda.reasons:
        reason_id = agenda.reasons[0]
    rows = await store.day_agenda(office_id, day)
    slots = await store.free_slots(office_id, reason_id, day, day, now)
    form = form or {}
    name = request.app[DIRECTORY].office(office_id).name
    base = f"/agenda/{esc(office_id)}"

    def link(d: date) -> str:
        return f"{base}?{esc(urlencode({'date': d.isoformat(), 'reason': reason_id}))}"

    lines = "".join(
        f"<tr><td>{r['starts_at'].astimezone(tz):%H:%M}–{r['ends_at'].astimezone(tz):%H:%M}</td>"
        f"<td>{esc(r['reason'])}</td><td>{esc(r['channel'])}</td><td>{esc(r['business_name'] or '')}</td>"
        f"<td>{esc(r['phone'])}</td><td>{esc(r['status'])}</td><td>"
        + (f'<form method="post" action="{base}/cancel/{r["id"]}?{esc(urlencode({"date": day.isoformat()}))}">'
           '<button>Annuler</button></form>' if r["status"] == "booked" and r["starts_at"] > now else "")
        + call_button(office_id, r, now, day)
        + "</td></tr>" for r in rows)
    reasons = "".join(f'<option value="{esc(rid)}"{" selected" if rid == reason_id else ""}>'
                      f"{esc(config.reason(rid).label)}</option>" for rid in agenda.reasons)
    options = "".join(f'<option value="{s.start.astimezone(tz):%Y-%m-%dT%H:%M}">'
                      f"{s.start.astimezone(tz):%H:%M} ({s.free} libre{'s' if s.free > 1 else ''})</option>"
                      for s in slots)

    def field(key: str, label: str, kind: str = "text") -> str:
        return (f'<label>{esc(label)} <input type="{kind}" name="{key}" '
                f'value="{esc(str(form.get(key) or ""))}"></label>')

    message = f'<p class="error" id="error">{esc(error)}</p>' if error else ""
    message += calling_message(request.query)
    if request.query.get("booked"):
        message += f'<p class="ok">Rendez-vous n° {esc(request.query["booked"])} réservé.</p>'
    booking = (f'<form method="post" action="{base}/book?{esc(urlencode({"date": day.isoformat()}))}">'
               f'<input type="hidden" name="reason" value="{esc(reason_id)}">'
               f'<label>Créneau <select name="starts_at">{options}</select></label>'
               + field("phone", "Téléphone", "tel") + field("email", "E-mail", "email")
               + field("business_name", "Entreprise") + field("siren", "SIREN")
               + field("advisor_id", "Conseiller") + field("linkedid", "Appel (linkedid)")
               + "<button>Réserver</button></form>") if slots else "<p>Aucun créneau libre ce jour.</p>"
    body = (f"{message}<p><a href=\"{link(day - timedelta(days=1))}\">← veille</a> · "
            f"<strong>{day:%d/%m/%Y}</strong> · <a href=\"{link(day + timedelta(days=1))}\">lendemain →</a></p>"
            f'<table id="agenda"><tr><th>Heure</th><th>Motif</th><th>Canal</th><th>Entreprise</th>'
            f"<th>Téléphone</th><th>État</th><th></th></tr>{lines}</table>"
            f"<h2>Réserver</h2><form method=\"get\" action=\"{base}\">"
            f'<input type="hidden" name="date" value="{day.isoformat()}">'
            f'<label>Motif <select name="reason">{reasons}</select></label><button>Voir les créneaux</button>'
            f"</form>{booking}")
    return _page(f"Agenda — {name}", body, status)


async def page_book(request: web.Request) -> web.StreamResponse:
    """The booking form: 303 back to the day's agenda, or the page again with the error (4xx)."""
    form = dict(await request.post())
    office_id = request.match_info["office"]
    form["office_id"] = office_id
    try:
        booking = booking_from(form, request.app)
        row = await request.app[APPOINTMENTS].book(booking, request.app[CLOCK]())
    except (Invalid, RuleError) as exc:
        status = exc.status if isinstance(exc, Invalid) else KIND_STATUS[exc.kind]
        return await page_agenda(request, error=exc.message, status=status, form=form)
    tz = ZoneInfo(request.app[APPOINTMENTS].config.timezone)
    query = urlencode({"date": row["starts_at"].astimezone(tz).date().isoformat(), "reason": row["reason"],
                       "booked": row["id"]})
    raise web.HTTPSeeOther(f"/agenda/{office_id}?{query}")


async def page_cancel(request: web.Request) -> web.StreamResponse:
    try:
        office_id = _office(request)
        store = request.app[APPOINTMENTS]
        appointment_id = _appointment_id(request)
        current = await store.get(appointment_id)
        if current is None or current["office_id"] != office_id:
            raise Invalid(404, f"no appointment {appointment_id} in this office's agenda")
        await store.cancel(appointment_id, request.app[CLOCK]())
    except Invalid as exc:
        return await page_agenda(request, error=exc.message, status=exc.status)
    except RuleError as exc:
        return await page_agenda(request, error=exc.message, status=KIND_STATUS[exc.kind])
    raise web.HTTPSeeOther(f"/agenda/{office_id}?{urlencode({'date': request.query.get('date', '')})}")
