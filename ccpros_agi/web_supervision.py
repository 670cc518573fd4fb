"""HTTP for advisors' sessions and the supervisors (issue 6), added to the events service's app:

- ``POST /api/advisors/{id}/login|logout|pause|resume`` (pause: JSON ``{"reason": "lunch"}``, a reason of
  platform.yaml pause_reasons): queue membership through AMI (QueueAdd/QueueRemove/QueuePause);
- ``GET /api/advisors/states``: every advisor's live state and since when;
- ``GET /api/advisors/accounting?date=YYYY-MM-DD``: the day per advisor against the norms;
- ``GET /wallboard`` (page), ``GET /api/wallboard`` (JSON), ``GET /api/wallboard/stream`` (server-sent events,
  a snapshot on every change);
- ``POST /api/supervision/listen`` JSON ``{"supervisor", "advisor", "mode": listen|whisper|barge}``.
"""
from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from aiohttp import web

from ccpros_agi.advisors import supervision
from ccpros_agi.advisors.live import Live
from ccpros_agi.advisors.states import daily_accounting, day_bounds
from ccpros_agi.advisors.store import AdvisorStore
from ccpros_agi.ami.client import AMIError
from ccpros_agi.confgen import advisor_queues
from ccpros_agi.config import Config

LIVE = web.AppKey("live", Live)
ADVISOR_STORE = web.AppKey("advisor_store", AdvisorStore)
SUP_AMI = web.AppKey("supervision_ami", object)
SUP_CONFIG = web.AppKey("supervision_config", Config)
SUPERVISORS = web.AppKey("supervisors", dict)
KEEPALIVE_S = 15.0


def add_routes(app: web.Application, *, live: Live, store: AdvisorStore, ami, config: Config,
               supervisors: dict | None = None) -> None:
    app[LIVE], app[ADVISOR_STORE], app[SUP_AMI], app[SUP_CONFIG] = live, store, ami, config
    app[SUPERVISORS] = supervisors or {}
    app.router.add_post("/api/advisors/{advisor}/{action:login|logout|pause|resume}", advisor_action)
    app.router.add_get("/api/advisors/states", advisor_states)
    app.router.add_get("/api/advisors/accounting", accounting)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/api/wallboard", wallboard_json)
    app.router.add_get("/api/wallboard/stream", wallboard_stream)
    app.router.add_post("/api/supervision/listen", supervision_listen)


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def advisor_action(request: web.Request) -> web.Response:
    config, ami = request.app[SUP_CONFIG], request.app[SUP_AMI]
    advisor_id, action = request.match_info["advisor"], request.match_info["action"]
    try:
        advisor = config.advisor(advisor_id)
    except KeyError:
        raise web.HTTPNotFound(text=f"no advisor {advisor_id!r}") from None
    interface = f"PJSIP/{advisor.id}"
    body = await _json_body(request)
    reasons = dict((r, k) for k, r in config.pause_reasons)
    replies = []
    try:
        if action == "login":
            for queue, penalty in advisor_queues(config, advisor):
                replies.append(await ami.action("QueueAdd", Queue=queue, Interface=interface, Penalty=str(penalty),
                                                MemberName=advisor.id, StateInterface=interface))
        elif action == "logout":
            for queue, _ in advisor_queues(config, advisor):
                replies.append(await ami.action("QueueRemove", Queue=queue, Interface=interface))
        elif action == "pause":
            reason = body.get("reason")
            if reasons and reason not in reasons:
                raise web.HTTPBadRequest(text=f"'reason' must be one of {', '.join(reasons)}")
            replies.append(await ami.action("QueuePause", Interface=interface, Paused="true", Reason=str(reason or "")))
        else:
            replies.append(await ami.action("QueuePause", Interface=interface, Paused="false"))
    except AMIError as exc:
        raise web.HTTPServiceUnavailable(text=f"Asterisk unreachable: {exc}") from None
    failed = [r.get("Message", "") for r in replies if r.get("Response") != "Success"]
    if failed and len(failed) == len(replies):
        # already in (login) / not in (logout, pause): say so, it is not a server error
        return web.json_response({"ok": False, "advisor": advisor.id, "action": action, "message": failed[0]},
                                 status=409)
    return web.json_response({"ok": True, "advisor": advisor.id, "action": action, "failed": len(failed)})


async def advisor_states(request: web.Request) -> web.Response:
    return web.json_response(request.app[LIVE].snapshot()["advisors"])


async def accounting(request: web.Request) -> web.Response:
    config = request.app[SUP_CONFIG]
    now = datetime.now(timezone.utc)
    raw = request.query.get("date")
    try:
        day = date.fromisoformat(raw) if raw else now.astimezone(ZoneInfo(config.timezone)).date()
    except ValueError:
        raise web.HTTPBadRequest(text="date must be YYYY-MM-DD") from None
    start, split, end = day_bounds(day, config.timezone)
    intervals = await request.app[ADVISOR_STORE].intervals(start, end)
    result = daily_accounting(intervals, start, split, end, now)
    sites = {a.id: a.site for a in config.advisors}
    return web.json_response({"date": day.isoformat(), "advisors": [
        {**a.as_dict(), "site": sites.get(a.advisor)} for a in result.values()]})


async def wallboard_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[LIVE].snapshot())


async def wallboard_stream(request: web.Request) -> web.StreamResponse:
    live = request.app[LIVE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        await response.write(f"data: {json.dumps(live.snapshot())}\n\n".encode())
        while True:
            if await live.changed(KEEPALIVE_S):
                await asyncio.sleep(0.05)             # a burst of events (a log-in: one per queue) -> one push
                await response.write(f"data: {json.dumps(live.snapshot())}\n\n".encode())
            else:
                await response.write(b": keepalive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def supervision_listen(request: web.Request) -> web.Response:
    body = await _json_body(request)
    supervisor, advisor, mode = body.get("supervisor"), body.get("advisor"), body.get("mode", "listen")
    if not isinstance(supervisor, str) or not isinstance(advisor, str) or not isinstance(mode, str):
        raise web.HTTPBadRequest(text="give 'supervisor' and 'advisor' (ids) and maybe 'mode'")
    if mode not in supervision.MODES:
        raise web.HTTPBadRequest(text=f"'mode' must be one of {', '.join(supervision.MODES)}")
    try:
        ok, detail = await supervision.listen(request.app[SUP_AMI], request.app[ADVISOR_STORE],
                                              request.app[SUPERVISORS], request.app[SUP_CONFIG],
                                              supervisor=supervisor, advisor=advisor, mode=mode, source="web")
    except AMIError as exc:
        raise web.HTTPServiceUnavailable(text=f"Asterisk unreachable: {exc}") from None
    return web.json_response({"ok": ok, "detail": detail}, status=200 if ok else 403)


WALLBOARD = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>ccpros — mur d'écrans</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.2em .5em}.big{font-size:200%}.paused{color:#a60}.on_call{color:#06a}
.available{color:#080}.logged_out{color:#999}</style></head><body>
<h1>Plateau unique virtuel</h1>
<p>En attente : <span id="waiting" class="big">0</span> · attente la plus longue :
<span id="longest">-</span> s · décrochés aujourd'hui : <span id="answered-rate">-</span> ·
niveau de service (<span id="sl-s"></span> s) : <span id="service-level">-</span></p>
<h2>Files</h2><table id="queues"><thead><tr><th>file</th><th>motif</th><th>site</th><th>en attente</th>
<th>plus longue (s)</th></tr></thead><tbody></tbody></table>
<h2>Conseillers</h2><table id="counts"><thead></thead><tbody></tbody></table>
<table id="advisors"><thead><tr><th>conseiller</th><th>site</th><th>état</th><th>depuis</th><th></th></tr></thead>
<tbody></tbody></table>
<p>Superviseur : <input id="supervisor" size="12"> <span id="listen-result"></span></p>
<script>
"use strict";
let last = null;
const $ = (id) => document.getElementById(id);
function secs(iso) { return iso ? Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)) : "-"; }
function pct(x) { return x === null ? "-" : Math.round(x * 100) + " %"; }
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
function render(s) {
  last = s;
  $("waiting").textContent = s.waiting.waiting;
  $("longest").textContent = secs(s.waiting.oldest_since);
  $("answered-rate").textContent = pct(s.today.answered_rate);
  $("service-level").textContent = pct(s.today.service_level);
  $("sl-s").textContent = s.today.service_level_s;
  const q = $("queues").tBodies[0]; q.replaceChildren();
  for (const x of s.queues) {
    const r = q.insertRow(); r.dataset.queue = x.queue;
    cell(r, x.queue); cell(r, x.topic || ""); cell(r, x.site || "national"); cell(r, x.waiting);
    cell(r, secs(x.oldest_since)).className = "wait";
  }
  const states = Object.keys(s.counts.national);
  $("counts").tHead.replaceChildren(); const h = $("counts").tHead.insertRow(); cell(h, "site");
  states.forEach((st) => cell(h, st));
  const c = $("counts").tBodies[0]; c.replaceChildren();
  for (const [site, n] of Object.entries(s.counts)) { const r = c.insertRow(); cell(r, site); states.forEach((st) => cell(r, n[st])); }
  const a = $("advisors").tBodies[0]; a.replaceChildren();
  for (const x of s.advisors) {
    if (x.state === "logged_out") continue;
    const r = a.insertRow(); r.dataset.advisor = x.id;
    cell(r, x.name + " (" + x.id + ")"); cell(r, x.site);
    cell(r, x.state + (x.reason ? " : " + x.reason : ""), x.state); cell(r, secs(x.since) + " s").className = "since";
    const b = document.createElement("button"); b.textContent = "écouter"; b.onclick = () => listen(x.id);
    r.insertCell().appendChild(b);
  }
}
async function listen(advisor) {
  const r = await fetch("/api/supervision/listen", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({supervisor: $("supervisor").value, advisor: advisor, mode: "listen"})});
  $("listen-result").textContent = (await r.json()).detail;
}
setInterval(() => { if (last) { $("longest").textContent = secs(last.waiting.oldest_since);
  document.querySelectorAll("#queues tbody tr").forEach((r, i) => { r.cells[4].textContent = secs(last.queues[i].oldest_since); }); } }, 1000);
const source = new EventSource("/api/wallboard/stream");
source.onmessage = (e) => render(JSON.parse(e.data));
</script></body></html>"""


async def wallboard_page(request: web.Request) -> web.Response:
    return web.Response(text=WALLBOARD, content_type="text/html")
