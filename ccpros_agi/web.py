"""HTTP: the platform's status (JSON for probes, a page for people) and the call records."""
from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ccpros_agi.ami.client import AMIClient
from ccpros_agi.config import Config

STORE = web.AppKey("store", object)
AMI = web.AppKey("ami", AMIClient)
CONFIG = web.AppKey("config", Config)
HISTORY_DAYS = web.AppKey("history_days", int)  # how far back a call's context looks for the caller

#: What an Asterisk linkedid can look like ("1741944600.123"; names of other systems' calls too).
LINKEDID_RE = re.compile(r"[A-Za-z0-9._-]{1,150}")


def make_app(store, ami: AMIClient, config: Config, *, history_days: int = 30,
             appointments=None) -> web.Application:
    """``appointments``: an AppointmentStore to serve the office agendas (ccpros_agi.web_appointments)."""
    if history_days < 0:
        raise ValueError("history_days must be >= 0")
    app = web.Application()
    app[STORE], app[AMI], app[CONFIG] = store, ami, config
    app[HISTORY_DAYS] = history_days
    app.router.add_get("/", status_page)
    app.router.add_get("/status", status)
    app.router.add_get("/api/calls", calls)
    app.router.add_get("/api/calls/{linkedid}", call)
    app.router.add_get("/api/calls/{linkedid}/context", call_context)
    if appointments is not None:
        from ccpros_agi import web_appointments

        web_appointments.add_routes(app, appointments, directory=config.directory,
                                    advisors=[a.id for a in config.advisors])
    if getattr(store, "engine", None) is not None:  # indicators and reports (ccpros_agi.web_indicators)
        from ccpros_agi import web_indicators

        web_indicators.add_routes(app, store, config)
    return app


async def _health(app: web.Application) -> dict[str, Any]:
    db_ok = True
    try:
        await app[STORE].recent_calls(limit=1)
    except Exception:
        db_ok = False
    ami_ok = app[AMI].connected.is_set()
    return {"ok": db_ok and ami_ok, "database": db_ok, "ami": ami_ok}


async def status(request: web.Request) -> web.Response:
    health = await _health(request.app)
    return web.json_response(health, status=200 if health["ok"] else 503)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


async def calls(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(int(request.query.get("limit", "50")), 500))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer") from None
    rows = await request.app[STORE].recent_calls(limit=limit)
    return web.json_response([_jsonable(r) for r in rows])


def _linkedid(request: web.Request) -> str:
    linkedid = request.match_info["linkedid"]
    if len(linkedid) > 150:
        raise web.HTTPBadRequest(text="linkedid too long")
    if not LINKEDID_RE.fullmatch(linkedid):
        raise web.HTTPBadRequest(text="linkedid may only hold letters, digits, '.', '_' and '-'")
    return linkedid


async def call(request: web.Request) -> web.Response:
    linkedid = _linkedid(request)
    row = await request.app[STORE].get_call(linkedid)
    if row is None:
        raise web.HTTPNotFound(text="no such call")
    events = await request.app[STORE].call_events(linkedid)
    return web.json_response({**_jsonable(row), "events": [_jsonable(e) for e in events]})


def _office_name(config: object, office_id: str | None) -> str | None:
    """The office's name from the configuration's directory, if it has one that knows the office."""
    directory = getattr(config, "directory", None)
    if office_id is None or directory is None:
        return None
    try:
        return directory.office(office_id).name
    except KeyError:
        return None


async def call_context(request: web.Request) -> web.Response:
    """The live call's context for the advisor who answers it: caller, office, topic, home site,
    and the caller number's previous contacts over the app's ``history_days``."""
    linkedid = _linkedid(request)
    app = request.app
    context = await app[STORE].call_context(
        linkedid, history_days=app[HISTORY_DAYS], now=datetime.now(timezone.utc))
    if context is None:
        raise web.HTTPNotFound(text="no such call")
    contacts = context.pop("previous_contacts")
    body = {**_jsonable(context), "office_name": _office_name(app[CONFIG], context["office_id"]),
            "previous_contacts": [_jsonable(c) for c in contacts]}
    return web.json_response(body)


_CALL_COLUMNS = ("arrived_at", "caller_number", "called_number", "entry_kind", "topic", "queue",
                 "advisor_id", "site_id", "outcome")


async def status_page(request: web.Request) -> web.Response:
    app = request.app
    health = await _health(app)
    config = app[CONFIG]
    rows = await app[STORE].recent_calls(limit=30) if health["database"] else []
    esc = html.escape
    state = " · ".join(f"{k}: {'OK' if v else 'DOWN'}" for k, v in health.items() if k != "ok")
    head = "".join(f"<th>{esc(c)}</th>" for c in _CALL_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(r.get(c) if r.get(c) is not None else ''))}</td>"
                         for c in _CALL_COLUMNS) + "</tr>" for r in rows)
    sites = "".join(f"<li>{esc(s.name)}: {sum(1 for a in config.advisors if a.site == s.id)} conseillers</li>"
                    for s in config.sites)
    page = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>ccpros — état de la plateforme</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;font-size:90%}}</style></head><body>
<h1>ccpros — état de la plateforme</h1>
<p id="health">{esc(state)}</p>
<p>Numéro national : {esc(config.national_number)}</p>
<h2>Derniers appels</h2><table id="calls"><tr>{head}</tr>{body}</table>
<h2>Sites</h2><ul>{sites}</ul>
</body></html>"""
    return web.Response(text=page, content_type="text/html")
