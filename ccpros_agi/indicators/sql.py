"""The indicators in PostgreSQL: the SQL twin of :mod:`definitions` and the summary tables.

One query shape serves every indicator: the per-bucket SUMS of the partials of
:func:`definitions.partials`, taken from up to two sources glued by ``UNION ALL``:

- a summary table for the settled past (before the watermark ``indicators_state.refreshed_until``,
  a local midnight): ``indicators_15m`` (15-minute buckets, cut columns site_id, home_site, topic,
  entry_kind) or ``indicators_day`` (local days, plus office_id), kept by :func:`refresh`;
- the raw ``calls`` (with ``callbacks`` and ``appointments``) for the rest (today), or for
  everything when no summary table can answer (office/département cuts at 15 min or hour,
  bounds not aligned on the table's buckets).

:func:`definitions.finalize` then makes the rates, means and p90 in Python: one formula for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

from . import definitions as d

UTC = timezone.utc
ROLLUP_15M = "indicators_15m"
ROLLUP_DAY = "indicators_day"
STATE = "indicators_state"
STATE_NAME = "rollup"
KEYS_15M = ("site_id", "home_site", "topic", "entry_kind")
KEYS_DAY = ("site_id", "home_site", "office_id", "topic", "entry_kind")

_ANSWERED = "c.outcome = 'answered'"
_ABANDONED = "c.outcome = 'abandoned_queue'"
_Q0 = "COALESCE(c.queued_at, c.arrived_at)"
_WAIT = f"GREATEST(0, COALESCE(EXTRACT(EPOCH FROM c.answered_at - {_Q0}), 0))::float8"
_AWAIT = f"GREATEST(0, EXTRACT(EPOCH FROM c.ended_at - {_Q0}))::float8"
_HANDLE = "GREATEST(0, EXTRACT(EPOCH FROM c.ended_at - c.answered_at))::float8"
_HANDLED = f"{_ANSWERED} AND c.answered_at IS NOT NULL AND c.ended_at IS NOT NULL"
_OFFERED = f"c.queued_at IS NOT NULL OR c.outcome IN ({', '.join(repr(o) for o in d.OFFERED_OUTCOMES)})"


def _count(where: str) -> str:
    return f"count(*) FILTER (WHERE {where})"


#: SQL aggregate of each partial over the raw calls (aliases: c calls, cb callbacks, ap appointments).
RAW_PARTIALS: dict[str, str] = {
    "calls": "count(*)",
    "offered": _count(_OFFERED),
    "answered": _count(_ANSWERED),
    **{f"answered_le_{e}": _count(f"{_ANSWERED} AND {_WAIT} <= {e}") for e in d.WAIT_EDGES},
    "wait_sum": f"COALESCE(sum({_WAIT}) FILTER (WHERE {_ANSWERED}), 0)",
    "wait_max": f"COALESCE(max({_WAIT}) FILTER (WHERE {_ANSWERED}), 0)",
    "handled": _count(_HANDLED),
    "handle_sum": f"COALESCE(sum({_HANDLE}) FILTER (WHERE {_HANDLED}), 0)",
    "abandoned": _count(_ABANDONED),
    **{f"abandoned_lt_{n}": _count(f"{_ABANDONED} AND c.ended_at IS NOT NULL AND {_AWAIT} < {n}")
       for n in d.SHORT_EDGES},
    **{o: _count(f"c.outcome = '{o}'") for o in d.OUTCOME_COUNTS},
    "overflowed": _count(f"{_ANSWERED} AND c.overflowed"),
    "callbacks_requested": "count(cb.id)",
    "callbacks_completed": _count("cb.status = 'done'"),
    "callbacks_failed": _count("cb.status = 'failed'"),
    "appointments_booked": "COALESCE(sum(ap.booked), 0)",
    "appointments_honoured": "COALESCE(sum(ap.honoured), 0)",
}
assert tuple(RAW_PARTIALS) == d.PARTIALS

RAW_FROM = """calls c
  LEFT JOIN callbacks cb ON cb.linkedid = c.linkedid
  LEFT JOIN (SELECT a.linkedid, count(*) AS booked, count(*) FILTER (WHERE a.status = 'honoured') AS honoured
             FROM appointments a WHERE a.linkedid IS NOT NULL GROUP BY a.linkedid) ap ON ap.linkedid = c.linkedid"""


def _rollup_partials(alias: str) -> str:
    return ",\n  ".join(f"{'max' if p in d.MAX_PARTIALS else 'sum'}({alias}.{p}) AS {p}" for p in d.PARTIALS)


def _bucket_expr(local: str, grain: str) -> str:
    if grain == "15min":
        return f"date_bin('15 minutes', {local}, TIMESTAMP '2000-01-01')"
    if grain == "period":
        return "CAST(:period_start AS timestamp)"
    return f"date_trunc('{grain}', {local})"


def _key_expr(alias: str, by: str) -> str:
    if by == "national":
        return "CAST(NULL AS text)"
    if by == "departement":
        return "dep.departement"
    return f"{alias}.{d.CUT_COLUMNS[by]}"


def _dep_join(alias: str, by: str) -> str:
    if by != "departement":
        return ""
    return (" LEFT JOIN unnest(CAST(:dep_ids AS text[]), CAST(:dep_codes AS text[])) AS dep(office_id, departement)"
            f" ON dep.office_id = {alias}.office_id")


def raw_select(grain: str, by: str, lo: str = ":raw_from", hi: str = ":raw_to") -> str:
    parts = ",\n  ".join(f"{sql} AS {name}" for name, sql in RAW_PARTIALS.items())
    return (f"SELECT {_bucket_expr('(c.arrived_at AT TIME ZONE :tz)', grain)} AS bucket, {_key_expr('c', by)} AS key,\n"
            f"  {parts}\nFROM {RAW_FROM}{_dep_join('c', by)}\n"
            f"WHERE c.arrived_at >= {lo} AND c.arrived_at < {hi}\nGROUP BY 1, 2")


def rollup_select(table: str, grain: str, by: str) -> str:
    if table == ROLLUP_15M:
        local, where = "(r.bucket AT TIME ZONE :tz)", "r.bucket >= :roll_from AND r.bucket < :roll_to"
    else:
        local, where = "CAST(r.day AS timestamp)", "r.day >= CAST(:roll_from_day AS date) AND r.day < CAST(:roll_to_day AS date)"
    return (f"SELECT {_bucket_expr(local, grain)} AS bucket, {_key_expr('r', by)} AS key,\n  {_rollup_partials('r')}\n"
            f"FROM {table} r{_dep_join('r', by)}\nWHERE {where}\nGROUP BY 1, 2")


@dataclass(frozen=True)
class Plan:
    """Where a query reads: ``table`` over [roll_from, roll_to), the raw calls over [raw_from, raw_to)."""
    table: str | None
    roll_from: datetime | None
    roll_to: datetime | None
    raw_from: datetime | None
    raw_to: datetime | None


def _is_local_midnight(at: datetime, tz: ZoneInfo) -> bool:
    return at.astimezone(tz).timetz().replace(tzinfo=None) == time(0)


def _is_quarter(at: datetime) -> bool:
    u = at.astimezone(UTC)
    return u.minute % 15 == 0 and u.second == 0 and u.microsecond == 0


def plan(start: datetime, end: datetime, grain: str, by: str, tz: ZoneInfo, watermark: datetime | None) -> Plan:
    raw_only = Plan(None, None, None, start, end)
    if watermark is None or start >= watermark:
        return raw_only
    roll_to = min(end, watermark)
    by_office = by in ("office", "departement")
    if grain in ("day", "week", "month", "period") and _is_local_midnight(start, tz) \
            and _is_local_midnight(roll_to, tz):
        table = ROLLUP_DAY
    elif not by_office and _is_quarter(start) and _is_quarter(roll_to):
        table = ROLLUP_15M
    else:
        return raw_only
    if roll_to >= end:
        return Plan(table, start, roll_to, None, None)
    return Plan(table, start, roll_to, roll_to, end)


def build(start: datetime, end: datetime, *, grain: str, by: str, tz: ZoneInfo, watermark: datetime | None,
          departements: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any], Plan]:
    """The SQL (one row per bucket and key: bucket, key, the summed partials) and its parameters."""
    if grain not in d.GRAINS:
        raise ValueError(f"grain must be one of {', '.join(d.GRAINS)}")
    if by not in d.CUTS:
        raise ValueError(f"by must be one of {', '.join(d.CUTS)}")
    p = plan(start, end, grain, by, tz, watermark)
    params: dict[str, Any] = {"tz": tz.key, "period_start": start.astimezone(tz).replace(tzinfo=None)}
    if by == "departement":
        deps = dict(departements or {})
        params["dep_ids"], params["dep_codes"] = list(deps), list(deps.values())
    selects = []
    if p.table is not None:
        selects.append(rollup_select(p.table, grain, by))
        params["roll_from"], params["roll_to"] = p.roll_from, p.roll_to
        params["roll_from_day"] = p.roll_from.astimezone(tz).date() if p.roll_from else None
        params["roll_to_day"] = p.roll_to.astimezone(tz).date() if p.roll_to else None
    if p.raw_from is not None:
        selects.append(raw_select(grain, by))
        params["raw_from"], params["raw_to"] = p.raw_from, p.raw_to
    if len(selects) == 1:
        sql = selects[0] + "\nORDER BY 1, 2 NULLS FIRST"
    else:
        union = "\nUNION ALL\n".join(f"({s})" for s in selects)
        outer = ", ".join(f"{'max' if x in d.MAX_PARTIALS else 'sum'}(u.{x}) AS {x}" for x in d.PARTIALS)
        sql = f"SELECT u.bucket, u.key, {outer}\nFROM ({union}) u\nGROUP BY 1, 2\nORDER BY 1, 2 NULLS FIRST"
    return sql, params, p


def to_partials(row: Mapping[str, Any]) -> dict[str, float]:
    return {name: (float(row[name]) if name in d.FLOAT_PARTIALS else int(row[name])) for name in d.PARTIALS}


def finalize_rows(rows: list[Mapping[str, Any]], *, service_level_s: int, short_abandon_s: int) -> list[dict[str, Any]]:
    return [{"bucket": r["bucket"], "key": r["key"],
             **d.finalize(to_partials(r), service_level_s=service_level_s, short_abandon_s=short_abandon_s)}
            for r in rows]


WATERMARK_SQL = f"SELECT refreshed_until FROM {STATE} WHERE name = '{STATE_NAME}'"


async def query_sums(engine: Any, *, start: datetime, end: datetime, grain: str = "day", by: str = "national",
                     tz: ZoneInfo | str = "Europe/Paris", departements: Mapping[str, str] | None = None,
                     use_rollups: bool = True) -> list[tuple[datetime, str | None, dict[str, float]]]:
    """The summed partials per bucket and key, from PostgreSQL (an AsyncEngine)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    async with engine.connect() as conn:
        watermark = (await conn.execute(text(WATERMARK_SQL))).scalar() if use_rollups else None
        sql, params, _ = build(start, end, grain=grain, by=by, tz=tz, watermark=watermark,
                               departements=departements)
        rows = (await conn.execute(text(sql), params)).mappings().all()
    out = [(r["bucket"], r["key"], to_partials(r)) for r in rows]
    out.sort(key=lambda t: (t[0], 0 if t[1] is None else 1, t[1] or ""))  # codepoint order, whatever the collation
    return out


async def query(engine: Any, *, start: datetime, end: datetime, grain: str = "day", by: str = "national",
                tz: ZoneInfo | str = "Europe/Paris", departements: Mapping[str, str] | None = None,
                service_level_s: int = d.SERVICE_LEVEL_S, short_abandon_s: int = d.SHORT_ABANDON_S,
                use_rollups: bool = True) -> list[dict[str, Any]]:
    """The indicators from PostgreSQL (an AsyncEngine): same rows as :func:`definitions.compute`."""
    d.check_thresholds(service_level_s, short_abandon_s)
    sums = await query_sums(engine, start=start, end=end, grain=grain, by=by, tz=tz, departements=departements,
                            use_rollups=use_rollups)
    return [{"bucket": b, "key": k, **d.finalize(p, service_level_s=service_level_s, short_abandon_s=short_abandon_s)}
            for b, k, p in sums]


def query_sync(conn: Any, *, start: datetime, end: datetime, grain: str = "day", by: str = "national",
               tz: ZoneInfo | str = "Europe/Paris", departements: Mapping[str, str] | None = None,
               service_level_s: int = d.SERVICE_LEVEL_S, short_abandon_s: int = d.SHORT_ABANDON_S,
               use_rollups: bool = True) -> list[dict[str, Any]]:
    """:func:`query` on a synchronous SQLAlchemy Connection (benchmarks, commands)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    d.check_thresholds(service_level_s, short_abandon_s)
    watermark = conn.execute(text(WATERMARK_SQL)).scalar() if use_rollups else None
    sql, params, _ = build(start, end, grain=grain, by=by, tz=tz, watermark=watermark, departements=departements)
    rows = sorted(conn.execute(text(sql), params).mappings().all(),
                  key=lambda r: (r["bucket"], 0 if r["key"] is None else 1, r["key"] or ""))
    return finalize_rows(rows, service_level_s=service_level_s, short_abandon_s=short_abandon_s)


# -- summary tables -----------------------------------------------------------------------------

def local_midnight(at: datetime, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


def _refresh_statements(tz: ZoneInfo) -> list[str]:
    cols = ", ".join(d.PARTIALS)
    parts = ",\n  ".join(RAW_PARTIALS.values())
    k15, kday = ", ".join(KEYS_15M), ", ".join(KEYS_DAY)
    n15, nday = len(KEYS_15M) + 1, len(KEYS_DAY) + 1
    return [
        f"DELETE FROM {ROLLUP_15M} WHERE bucket >= :a AND bucket < :b",
        f"INSERT INTO {ROLLUP_15M} (bucket, {k15}, {cols})\n"
        f"SELECT date_bin('15 minutes', c.arrived_at, TIMESTAMPTZ '2000-01-01 00:00+00'), "
        f"{', '.join('c.' + k for k in KEYS_15M)},\n  {parts}\nFROM {RAW_FROM}\n"
        f"WHERE c.arrived_at >= :a AND c.arrived_at < :b\nGROUP BY {', '.join(str(i) for i in range(1, n15 + 1))}",
        f"DELETE FROM {ROLLUP_DAY} WHERE day >= CAST(:a_day AS date) AND day < CAST(:b_day AS date)",
        f"INSERT INTO {ROLLUP_DAY} (day, {kday}, {cols})\n"
        f"SELECT CAST(c.arrived_at AT TIME ZONE :tz AS date), {', '.join('c.' + k for k in KEYS_DAY)},\n  {parts}\n"
        f"FROM {RAW_FROM}\nWHERE c.arrived_at >= :a AND c.arrived_at < :b\n"
        f"GROUP BY {', '.join(str(i) for i in range(1, nday + 1))}",
    ]


def refresh_window(watermark: datetime | None, first_call: datetime | None, *, tz: ZoneInfo,
                   since: datetime | None, until: datetime) -> tuple[datetime, datetime] | None:
    """[a, b) to recompute (local midnights), or None when there is nothing to do."""
    b = local_midnight(until, tz)
    starts = [x for x in (since, watermark) if x is not None]
    if not starts:
        if first_call is None:
            return None
        starts = [first_call]
    a = local_midnight(min(starts), tz)
    return (a, b) if a < b else None


def refresh_sync(conn: Any, *, tz: ZoneInfo | str = "Europe/Paris", since: datetime | None = None,
                 until: datetime | None = None) -> tuple[datetime, datetime] | None:
    """Recompute the summary tables over [since (or the watermark), until (default: now)) cut at local
    midnights, in the caller's transaction, and move the watermark forward. Returns the window."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    until = until or datetime.now(UTC)
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ccpros.indicators.refresh'))"))
    watermark = conn.execute(text(WATERMARK_SQL)).scalar()
    first = conn.execute(text("SELECT min(arrived_at) FROM calls")).scalar() if watermark is None else None
    window = refresh_window(watermark, first, tz=tz, since=since, until=until)
    if window is None:
        return None
    a, b = window
    params = {"a": a, "b": b, "a_day": a.astimezone(tz).date(), "b_day": b.astimezone(tz).date(), "tz": tz.key}
    for stmt in _refresh_statements(tz):
        conn.execute(text(stmt), params)
    conn.execute(text(f"INSERT INTO {STATE} (name, refreshed_until) VALUES (:n, :b) ON CONFLICT (name) DO UPDATE "
                      f"SET refreshed_until = GREATEST({STATE}.refreshed_until, EXCLUDED.refreshed_until)"),
                 {"n": STATE_NAME, "b": b})
    return window


async def refresh(engine: Any, **kwargs: Any) -> tuple[datetime, datetime] | None:
    """:func:`refresh_sync` on an AsyncEngine, in its own transaction."""
    async with engine.begin() as conn:
        return await conn.run_sync(lambda sync_conn: refresh_sync(sync_conn, **kwargs))


def refresh_sync_engine(engine: Any, **kwargs: Any) -> tuple[datetime, datetime] | None:
    """:func:`refresh_sync` on a synchronous Engine, in its own transaction (commands, benchmarks)."""
    with engine.begin() as conn:
        return refresh_sync(conn, **kwargs)
