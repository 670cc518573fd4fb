"""HTTP: the indicators (JSON and CSV) and a printable report page with inline SVG charts.

``GET /api/indicators?from=2025-03-01&to=2025-04-01&grain=day&by=site&service_level=60&short_abandon=5&format=csv``

- ``from`` / ``to``: local dates (``YYYY-MM-DD``, ``to`` excluded) or ISO datetimes with an offset;
  default: today;
- ``grain``: 15min, hour, day, week, month, period (one bucket); ``by``: national, site, home_site,
  office, departement, topic, entry_kind; ``service_level`` / ``short_abandon``: thresholds in s;
- ``format``: json (default) or csv. Definitions: ``docs/indicators.md``.

``GET /reports?from=&to=``: answered rate and service level by half-hour of the day, by site, by topic.
"""
from __future__ import annotations

import csv
import html
import io
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ccpros_agi.indicators import definitions as d
from ccpros_agi.indicators import sql

ENGINE = web.AppKey("indicators_engine", object)
TZ = web.AppKey("indicators_tz", ZoneInfo)
DEPARTEMENTS = web.AppKey("indicators_departements", dict)
NAMES = web.AppKey("indicators_names", dict)  # site and topic id -> label, for the report page
#: The longest period for fine grains (a year of 15-minute buckets is not a report).
MAX_DAYS = {"15min": 62, "hour": 62}
MAX_DAYS_ANY = 3700


def add_routes(app: web.Application, engine_or_store: Any, config: Any) -> None:
    """Serve the indicators from ``engine_or_store`` (an AsyncEngine or a store with ``.engine``)."""
    app[ENGINE] = getattr(engine_or_store, "engine", engine_or_store)
    app[TZ] = ZoneInfo(getattr(config, "timezone", None) or "Europe/Paris")
    directory = getattr(config, "directory", None)
    app[DEPARTEMENTS] = {o.id: o.departement for o in getattr(directory, "offices", ()) or ()
                         if hasattr(o, "departement")}
    names = {getattr(s, "id", s): getattr(s, "name", s) for s in getattr(config, "sites", ())}
    names.update({getattr(t, "id", t): getattr(t, "label", t) for t in getattr(config, "topics", ())})
    app[NAMES] = names
    app.router.add_get("/api/indicators", api_indicators)
    app.router.add_get("/reports", report_page)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def _moment(value: str, name: str, tz: ZoneInfo) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=tz)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(f"{name} must be a date YYYY-MM-DD or an ISO datetime with an offset, not {value!r}") from None
    if at.tzinfo is None:
        raise _bad(f"{name}: a datetime needs an offset (e.g. 2025-03-04T09:00:00+01:00), or give a date")
    return at


def _period(request: web.Request, default_days: int) -> tuple[datetime, datetime]:
    tz = request.app[TZ]
    today = datetime.combine(datetime.now(tz).date(), time(0), tzinfo=tz)
    q = request.query
    end = _moment(q["to"], "to", tz) if "to" in q else today + timedelta(days=1)
    start = _moment(q["from"], "from", tz) if "from" in q else end - timedelta(days=default_days)
    if start >= end:
        raise _bad("from must be before to")
    return start, end


def _int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _bad(f"{name} must be a whole number of seconds, not {value!r}") from None


def _params(request: web.Request) -> dict[str, Any]:
    q = request.query
    grain, by, fmt = q.get("grain", "day"), q.get("by", "national"), q.get("format", "json")
    if grain not in d.GRAINS:
        raise _bad(f"grain must be one of {', '.join(d.GRAINS)}, not {grain!r}")
    if by not in d.CUTS:
        raise _bad(f"by must be one of {', '.join(d.CUTS)}, not {by!r}")
    if fmt not in ("json", "csv"):
        raise _bad(f"format must be json or csv, not {fmt!r}")
    start, end = _period(request, 1)
    days = (end - start).total_seconds() / 86400
    limit = MAX_DAYS.get(grain, MAX_DAYS_ANY)
    if days > limit:
        raise _bad(f"a period of {days:.0f} days is too long for grain {grain} (at most {limit} days)")
    sl, short = _int(request, "service_level", d.SERVICE_LEVEL_S), _int(request, "short_abandon", d.SHORT_ABANDON_S)
    try:
        d.check_thresholds(sl, short)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return {"start": start, "end": end, "grain": grain, "by": by, "format": fmt, "service_level_s": sl,
            "short_abandon_s": short}


async def api_indicators(request: web.Request) -> web.Response:
    p = _params(request)
    app = request.app
    rows = await sql.query(app[ENGINE], start=p["start"], end=p["end"], grain=p["grain"], by=p["by"], tz=app[TZ],
                           departements=app[DEPARTEMENTS], service_level_s=p["service_level_s"],
                           short_abandon_s=p["short_abandon_s"])
    for r in rows:
        r["bucket"] = r["bucket"].isoformat()
    if p["format"] == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["bucket", "key", *d.INDICATORS], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return web.Response(text=out.getvalue(), content_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="indicators.csv"'})
    return web.json_response({
        "from": p["start"].isoformat(), "to": p["end"].isoformat(), "timezone": app[TZ].key,
        "grain": p["grain"], "by": p["by"], "service_level_s": p["service_level_s"],
        "short_abandon_s": p["short_abandon_s"], "rows": rows})


# -- report page ----------------------------------------------------------------------------------

def half_hour_profile(sums: list[tuple[datetime, str | None, dict[str, float]]], *, service_level_s: int,
                      short_abandon_s: int) -> list[tuple[str, dict[str, Any]]]:
    """15-minute sums -> the indicators of each half-hour of the day, over the whole period."""
    by_slot: dict[str, dict[str, float]] = {}
    for bucket, _, partials in sums:
        slot = f"{bucket.hour:02d}:{bucket.minute - bucket.minute % 30:02d}"
        d.add(by_slot.setdefault(slot, {}), partials)
    return [(slot, d.finalize(p, service_level_s=service_level_s, short_abandon_s=short_abandon_s))
            for slot, p in sorted(by_slot.items())]


def bar_chart(title: str, items: list[tuple[str, dict[str, Any]]]) -> str:
    """Grouped bars (answered rate, service level) from 0 to 100 %, as inline SVG."""
    series = (("answered_rate", "#1f5fa8", "answered rate"), ("service_level", "#e0822c", "service level"))
    group, bar, left, top, height = 34, 14, 40, 24, 160
    width = left + max(1, len(items)) * group + 10
    out = [f'<figure><figcaption>{html.escape(title)}</figcaption>'
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 70}" role="img">']
    for pct in (0, 50, 80, 100):
        y = top + height - height * pct / 100
        out.append(f'<line x1="{left}" x2="{width}" y1="{y}" y2="{y}" stroke="#ccc"/>'
                   f'<text x="{left - 4}" y="{y + 4}" text-anchor="end" font-size="10">{pct}%</text>')
    for i, (label, ind) in enumerate(items):
        x0 = left + i * group + 3
        for j, (name, colour, legend) in enumerate(series):
            v = ind.get(name)
            h = 0 if v is None else height * v
            tip = "n/a" if v is None else f"{v:.1%}"
            out.append(f'<rect x="{x0 + j * bar}" y="{top + height - h:.1f}" width="{bar - 1}" height="{h:.1f}" '
                       f'fill="{colour}"><title>{html.escape(label)} {legend}: {tip} '
                       f'({ind.get("answered", 0)}/{ind.get("offered", 0)})</title></rect>')
        out.append(f'<text font-size="10" transform="translate({x0 + bar},{top + height + 8}) rotate(60)">'
                   f'{html.escape(label)}</text>')
    out.append(f'<rect x="{left}" y="4" width="10" height="10" fill="{series[0][1]}"/>'
               f'<text x="{left + 14}" y="13" font-size="11">answered rate</text>'
               f'<rect x="{left + 110}" y="4" width="10" height="10" fill="{series[1][1]}"/>'
               f'<text x="{left + 124}" y="13" font-size="11">service level</text></svg></figure>')
    return "".join(out)


def _table(title: str, items: list[tuple[str, dict[str, Any]]]) -> str:
    cols = ("offered", "answered", "answered_rate", "service_level", "mean_wait_s", "p90_wait_s",
            "abandoned_queue", "short_abandons", "overflowed_share", "callbacks_requested")

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.1f}"
        return str(v)

    def fmt(name: str, v: Any) -> str:
        return ("–" if v is None else f"{v:.1%}") if name.endswith(("rate", "level", "share")) else cell(v)

    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(f"<tr><th>{html.escape(label)}</th>{''.join(f'<td>{fmt(c, ind[c])}</td>' for c in cols)}</tr>"
                   for label, ind in items)
    return f"<h2>{html.escape(title)}</h2><table><tr><th></th>{head}</tr>{body}</table>"


async def report_page(request: web.Request) -> web.Response:
    app = request.app
    start, end = _period(request, 30)
    if (end - start).days > MAX_DAYS["15min"]:
        raise _bad(f"the report covers at most {MAX_DAYS['15min']} days")
    sl, short = _int(request, "service_level", d.SERVICE_LEVEL_S), _int(request, "short_abandon", d.SHORT_ABANDON_S)
    try:
        d.check_thresholds(sl, short)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    kw = {"start": start, "end": end, "tz": app[TZ], "departements": app[DEPARTEMENTS]}
    names = app[NAMES]
    profile = half_hour_profile(await sql.query_sums(app[ENGINE], grain="15min", by="national", **kw),
                                service_level_s=sl, short_abandon_s=short)
    cuts = {}
    for by in ("national", "site", "topic"):
        rows = await sql.query(app[ENGINE], grain="period", by=by, service_level_s=sl, short_abandon_s=short, **kw)
        cuts[by] = [(names.get(r["key"], r["key"] or ("all" if by == "national" else "none")), r) for r in rows]
    period = f"{start.astimezone(app[TZ]):%Y-%m-%d %H:%M} – {end.astimezone(app[TZ]):%Y-%m-%d %H:%M}"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CC Pros report {period}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #bbb;padding:2px 6px;text-align:right;font-size:12px}} figure{{margin:1em 0;break-inside:avoid}}
figcaption{{font-weight:bold}} @media print{{form{{display:none}}}}</style></head><body>
<h1>CC Pros — indicators, {html.escape(period)}</h1>
<form method="get">from <input name="from" type="date"> to <input name="to" type="date"> <button>show</button></form>
<p>Service level: answered within {sl} s; short abandons: under {short} s (left out of the rates).
Times in {html.escape(app[TZ].key)}. Definitions: docs/indicators.md.</p>
{_table("National", cuts["national"])}
{bar_chart("By half-hour of the day", profile)}
{bar_chart("By answering site", cuts["site"])}{_table("By answering site", cuts["site"])}
{bar_chart("By topic", cuts["topic"])}{_table("By topic", cuts["topic"])}
</body></html>"""
    return web.Response(text=page, content_type="text/html")
