"""The indicators: every definition, written once (pure Python; ``sql.py`` is its PostgreSQL twin).

An indicator is computed in two steps, so that any period, grain and cut can be summed from
summary tables (``indicators_cut_15m`` ... ``_month``) as well as from the raw ``calls``:

1. :func:`partials` turns ONE call into additive counters ("partials", all sums except
   ``wait_max``); a bucket's partials are the sums over its calls (:func:`add`);
2. :func:`finalize` turns a bucket's partials into the published indicators (rates, means, p90).

Definitions (a call is one row of ``calls``; times are its columns; ``X`` = service-level
threshold, default :data:`SERVICE_LEVEL_S`; ``N`` = short-abandon threshold, default
:data:`SHORT_ABANDON_S`):

- queue start ``q0`` = ``queued_at``, or ``arrived_at`` when the app did not record the queueing;
- **calls**: every call arrived in the bucket (by ``arrived_at``);
- **offered**: calls that reached a queue: ``queued_at`` set, or outcome answered, abandoned_queue
  or callback;
- **answered**: outcome ``answered``; its **wait** = max(0, answered_at − q0) seconds;
- **abandoned in queue**: outcome ``abandoned_queue``; its wait = max(0, ended_at − q0);
  **short abandons**: those with wait < N s (counted apart: ``short_abandons``; ``abandoned_queue``
  counts only the others);
- **answered_rate** = answered / (offered − short_abandons);
- **service_level** = answered with wait ≤ X s / (offered − short_abandons);
- **mean_wait_s** = Σ wait / answered (answered calls only: the speed of answer);
- **p90_wait_s**: the smallest bound e of :data:`WAIT_EDGES` such that at least 90 % of the
  answered calls waited ≤ e s (a wait class, so that it sums from summary tables); when more
  than 10 % waited longer than the last bound, the longest wait;
- **mean_handling_s** = Σ (ended_at − answered_at) / answered calls with ``ended_at``;
- **abandoned_menu**, **closed** (closed hours), **misdirected** (private individuals),
  **office_line** (offices nobody covers), **failed**: calls of that outcome;
- **overflowed**: answered calls with ``overflowed`` (answered at another site than their home
  site); **overflowed_share** = overflowed / answered;
- **callbacks_requested**: calls with a ``callbacks`` row; **callbacks_completed** / **_failed**:
  its status ``done`` / ``failed``;
- **appointments_booked**: ``appointments`` rows booked during the call (same linkedid, any
  status); **appointments_honoured**: those with status ``honoured``.

Rates are ``None`` when their denominator is 0. Grains cut local time (the platform's time zone):
``15min``, ``hour``, ``day``, ``week`` (ISO, from Monday), ``month``, ``period`` (one bucket, the
whole period). Cuts: ``national`` (no cut), ``site`` (answering site ``site_id``), ``home_site``,
``office`` (``office_id``), ``departement`` (the office's département, from the directory),
``topic``, ``entry_kind`` (national/office/unknown).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SERVICE_LEVEL_S = 60
SHORT_ABANDON_S = 5
#: Bounds (s) of the answered waits' classes: the service-level thresholds the summary tables hold.
WAIT_EDGES = (0, 5, 10, 15, 20, 30, 40, 45, 50, 60, 75, 90, 120, 150, 180, 240, 300, 420, 600, 900, 1200)
#: The short-abandon thresholds the summary tables hold.
SHORT_EDGES = (1, 2, 3, 5, 8, 10, 15, 20, 30)
GRAINS = ("15min", "hour", "day", "week", "month", "period")
CUTS = ("national", "site", "home_site", "office", "departement", "topic", "entry_kind")
#: Column of ``calls`` behind each cut (departement: through the office).
CUT_COLUMNS = {"site": "site_id", "home_site": "home_site", "office": "office_id", "topic": "topic",
               "entry_kind": "entry_kind"}
OFFERED_OUTCOMES = ("answered", "abandoned_queue", "callback")
OUTCOME_COUNTS = ("abandoned_menu", "closed", "misdirected", "office_line", "failed")

#: The additive counters of one call, in a fixed order (also the summary tables' columns).
PARTIALS = (
    "calls", "offered", "answered",
    *(f"answered_le_{e}" for e in WAIT_EDGES),
    "wait_sum", "wait_max", "handled", "handle_sum",
    "abandoned", *(f"abandoned_lt_{n}" for n in SHORT_EDGES),
    *OUTCOME_COUNTS,
    "overflowed", "callbacks_requested", "callbacks_completed", "callbacks_failed",
    "appointments_booked", "appointments_honoured",
)
FLOAT_PARTIALS = ("wait_sum", "wait_max", "handle_sum")
MAX_PARTIALS = ("wait_max",)

INDICATORS = (
    "calls", "offered", "answered", "answered_rate", "service_level", "mean_wait_s", "p90_wait_s",
    "mean_handling_s", "abandoned_queue", "short_abandons", "abandoned_menu", "closed", "misdirected",
    "office_line", "failed", "overflowed", "overflowed_share", "callbacks_requested", "callbacks_completed",
    "callbacks_failed", "appointments_booked", "appointments_honoured",
)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def partials(call: Mapping[str, Any]) -> dict[str, float]:
    """The additive counters of one call (a dict with the ``calls`` columns, plus optionally
    ``callback_status`` (None: no callback) and ``appointment_statuses`` (list))."""
    p = dict.fromkeys(PARTIALS, 0)
    for name in FLOAT_PARTIALS:
        p[name] = 0.0
    outcome = call["outcome"]
    q0 = call.get("queued_at") or call["arrived_at"]
    p["calls"] = 1
    p["offered"] = int(call.get("queued_at") is not None or outcome in OFFERED_OUTCOMES)
    if outcome == "answered":
        p["answered"] = 1
        wait = _seconds(call.get("answered_at"), q0) or 0.0
        for e in WAIT_EDGES:
            p[f"answered_le_{e}"] = int(wait <= e)
        p["wait_sum"] = p["wait_max"] = wait
        handle = _seconds(call.get("ended_at"), call.get("answered_at"))
        if handle is not None:
            p["handled"], p["handle_sum"] = 1, handle
        p["overflowed"] = int(bool(call.get("overflowed")))
    elif outcome == "abandoned_queue":
        p["abandoned"] = 1
        wait = _seconds(call.get("ended_at"), q0)
        for n in SHORT_EDGES:
            p[f"abandoned_lt_{n}"] = int(wait is not None and wait < n)
    elif outcome in OUTCOME_COUNTS:
        p[outcome] = 1
    status = call.get("callback_status")
    if status is not None:
        p["callbacks_requested"] = 1
        p["callbacks_completed"] = int(status == "done")
        p["callbacks_failed"] = int(status == "failed")
    statuses = call.get("appointment_statuses") or ()
    p["appointments_booked"] = len(statuses)
    p["appointments_honoured"] = sum(1 for s in statuses if s == "honoured")
    return p


def add(total: dict[str, float], other: Mapping[str, float]) -> dict[str, float]:
    """Sum ``other`` into ``total`` (max for ``wait_max``); returns ``total``."""
    for name in PARTIALS:
        if name in MAX_PARTIALS:
            total[name] = max(total.get(name, 0.0), other[name])
        else:
            total[name] = total.get(name, 0) + other[name]
    return total


def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def check_thresholds(service_level_s: int, short_abandon_s: int) -> None:
    """ValueError unless the thresholds are ones the summary tables hold."""
    if service_level_s not in WAIT_EDGES:
        raise ValueError(f"service-level threshold must be one of {', '.join(map(str, WAIT_EDGES))} (seconds)")
    if short_abandon_s not in SHORT_EDGES:
        raise ValueError(f"short-abandon threshold must be one of {', '.join(map(str, SHORT_EDGES))} (seconds)")


#: Longest period (days) of a query cut by office at a fine grain: ~300 offices make such an answer
#: tens of thousands of rows (a month: 160 k at 15 min, 67 k at hour), which cannot be served in 1 s.
#: Longer ones are refused (HTTP 400); other cuts have the API's general limit (62 days at these grains).
OFFICE_MAX_DAYS = {"15min": 7, "hour": 14}


def check_period(start: datetime, end: datetime, grain: str, by: str) -> None:
    """ValueError when [start, end) is too long for this grain and cut (:data:`OFFICE_MAX_DAYS`)."""
    limit = OFFICE_MAX_DAYS.get(grain) if by == "office" else None
    days = (end - start).total_seconds() / 86400
    if limit is not None and days > limit:
        raise ValueError(f"a period of {days:.0f} days is too long for grain {grain} by office (at most {limit} "
                         f"days; use by=departement, or a coarser grain, for longer periods)")


_LE_NAMES = tuple((e, f"answered_le_{e}") for e in WAIT_EDGES)
_COUNTS = (*OUTCOME_COUNTS, "overflowed", "callbacks_requested", "callbacks_completed", "callbacks_failed",
           "appointments_booked", "appointments_honoured")


def p90_wait(p: Mapping[str, float]) -> float | None:
    answered = p["answered"]
    if answered <= 0:
        return None
    need = math.ceil(0.9 * answered - 1e-9)
    for e, name in _LE_NAMES:
        if p[name] >= need:
            return float(e)
    return float(p["wait_max"])


def finalize(p: Mapping[str, float], *, service_level_s: int = SERVICE_LEVEL_S,
             short_abandon_s: int = SHORT_ABANDON_S) -> dict[str, Any]:
    """The published indicators of a bucket from its summed partials."""
    check_thresholds(service_level_s, short_abandon_s)
    short = int(p[f"abandoned_lt_{short_abandon_s}"])
    base = p["offered"] - short
    out: dict[str, Any] = {
        "calls": int(p["calls"]), "offered": int(p["offered"]), "answered": int(p["answered"]),
        "answered_rate": _ratio(p["answered"], base),
        "service_level": _ratio(p[f"answered_le_{service_level_s}"], base),
        "mean_wait_s": _ratio(p["wait_sum"], p["answered"]),
        "p90_wait_s": p90_wait(p),
        "mean_handling_s": _ratio(p["handle_sum"], p["handled"]),
        "abandoned_queue": int(p["abandoned"]) - short, "short_abandons": short,
    }
    for name in _COUNTS:
        out[name] = int(p[name])
    out["overflowed_share"] = _ratio(p["overflowed"], p["answered"])
    return out


def bucket(at: datetime, grain: str, tz: ZoneInfo, period_start: datetime | None = None) -> datetime:
    """Start of ``at``'s bucket, as a naive local time of ``tz``."""
    local = at.astimezone(tz).replace(tzinfo=None)
    if grain == "15min":
        return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    if grain == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "period":
        if period_start is None:
            raise ValueError("grain 'period' needs period_start")
        return period_start.astimezone(tz).replace(tzinfo=None)
    raise ValueError(f"grain must be one of {', '.join(GRAINS)}")


def cut_key(call: Mapping[str, Any], by: str, departements: Mapping[str, str] | None = None) -> str | None:
    if by == "national":
        return None
    if by == "departement":
        return (departements or {}).get(call.get("office_id"))  # type: ignore[arg-type]
    if by not in CUT_COLUMNS:
        raise ValueError(f"by must be one of {', '.join(CUTS)}")
    return call.get(CUT_COLUMNS[by])


def compute(calls: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime, grain: str = "day",
            by: str = "national", tz: ZoneInfo | str = "Europe/Paris", departements: Mapping[str, str] | None = None,
            service_level_s: int = SERVICE_LEVEL_S, short_abandon_s: int = SHORT_ABANDON_S) -> list[dict[str, Any]]:
    """The indicators of the calls arrived in [start, end), per bucket of ``grain`` and key of ``by``:
    rows ``{"bucket", "key", **indicators}`` sorted by bucket then key (None first)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    sums = summed_partials(calls, start=start, end=end, grain=grain, by=by, tz=tz, departements=departements)
    return [{"bucket": b, "key": k, **finalize(p, service_level_s=service_level_s, short_abandon_s=short_abandon_s)}
            for (b, k), p in sorted(sums.items(), key=sort_key)]


def summed_partials(calls: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime, grain: str, by: str,
                    tz: ZoneInfo, departements: Mapping[str, str] | None = None
                    ) -> dict[tuple[datetime, str | None], dict[str, float]]:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}")
    if by not in CUTS:
        raise ValueError(f"by must be one of {', '.join(CUTS)}")
    sums: dict[tuple[datetime, str | None], dict[str, float]] = {}
    for call in calls:
        if not start <= call["arrived_at"] < end:
            continue
        k = (bucket(call["arrived_at"], grain, tz, start), cut_key(call, by, departements))
        add(sums.setdefault(k, {}), partials(call))
    return sums


def sort_key(item: tuple[tuple[datetime, str | None], Any]) -> tuple[datetime, int, str]:
    (b, k), _ = item
    return (b, 0 if k is None else 1, k or "")
