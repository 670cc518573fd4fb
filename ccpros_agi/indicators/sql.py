"""The indicators in PostgreSQL: the SQL twin of :mod:`definitions` and the summary tables.

One query shape serves every indicator: the per-bucket SUMS of the partials of
:func:`definitions.partials`, taken from up to two sources glued by ``UNION ALL``:

- a summary table for the settled past (before the watermark ``indicators_state.refreshed_until``,
  a local midnight). There is one per bucket size, each holding the partials of every single cut
  (rows ``(bucket, cut, key)``: cut ``national`` with key NULL, ``site``, ``home_site``, ``office``,
  ``topic``, ``entry_kind``; the département cut reads the ``office`` rows):
  ``indicators_cut_15m`` (UTC quarters), ``indicators_cut_hour`` (local hours),
  ``indicators_cut_day`` (local days), ``indicators_cut_month`` (local months); :func:`plan` picks
  the coarsest one whose buckets tile both the grain and the period, and :func:`refresh` keeps them
  (the 15-minute one from the raw calls, each coarser one from the finer one);
- the raw ``calls`` (with ``callbacks`` and ``appointments``) for the rest (today), or for
  everything when no summary table can answer (bounds not on a quarter).

:func:`definitions.finalize` then makes the rates, means and p90 in Python: one formula for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import text

from . import definitions as d

UTC = timezone.utc
ROLLUP_15M = "indicators_cut_15m"
ROLLUP_HOUR = "indicators_cut_hour"
ROLLUP_DAY = "indicators_cut_day"
ROLLUP_MONTH = "indicators_cut_month"
#: Each summary table's bucket column (15m: UTC timestamptz; hour: local timestamp; day, month: local date).
BUCKET_COLUMN = {ROLLUP_15M: "bucket", ROLLUP_HOUR: "hour", ROLLUP_DAY: "day", ROLLUP_MONTH: "month"}
STATE = "indicators_state"
STATE_NAME = "rollup"
#: The cuts the summary tables hold (``cut`` column), and the one each ``by`` reads.
STORED_CUTS = ("national", "site", "home_site", "office", "topic", "entry_kind")
CUT_READ = {**{c: c for c in STORED_CUTS}, "departement": "office"}

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
    "appointments_booked": "CAST(COALESCE(sum(ap.booked), 0) AS bigint)",
    "appointments_honoured": "CAST(COALESCE(sum(ap.honoured), 0) AS bigint)",
}
assert tuple(RAW_PARTIALS) == d.PARTIALS

RAW_FROM = """calls c
  LEFT JOIN callbacks cb ON cb.linkedid = c.linkedid
  LEFT JOIN (SELECT a.linkedid, count(*) AS booked, count(*) FILTER (WHERE a.status = 'honoured') AS honoured
             FROM appointments a WHERE a.linkedid IS NOT NULL GROUP BY a.linkedid) ap ON ap.linkedid = c.linkedid"""


def _sum(alias: str, p: str) -> str:
    if p in d.MAX_PARTIALS:
        return f"max({alias}.{p})"
    return f"sum({alias}.{p})" if p in d.FLOAT_PARTIALS else f"CAST(sum({alias}.{p}) AS bigint)"


def _rollup_partials(alias: str) -> str:
    return ",\n  ".join(f"{_sum(alias, p)} AS {p}" for p in d.PARTIALS)


def _bucket_expr(local: str, grain: str) -> str:
    if grain == "15min":
        return f"date_bin('15 minutes', {local}, TIMESTAMP '2000-01-01')"
    if grain == "period":
        return "CAST(:period_start AS timestamp)"
    return f"date_trunc('{grain}', {local})"


def _key_expr(alias: str, by: str, raw: bool) -> str:
    if by == "national":
        return "CAST(NULL AS text)"
    if by == "departement":
        return "dep.departement"
    return f"{alias}.{d.CUT_COLUMNS[by]}" if raw else f"{alias}.key"


def _dep_join(office: str, by: str) -> str:
    if by != "departement":
        return ""
    return (" LEFT JOIN unnest(CAST(:dep_ids AS text[]), CAST(:dep_codes AS text[])) AS dep(office_id, departement)"
            f" ON dep.office_id = {office}")


def raw_select(grain: str, by: str, lo: str = ":raw_from", hi: str = ":raw_to") -> str:
    parts = ",\n  ".join(f"{sql} AS {name}" for name, sql in RAW_PARTIALS.items())
    return (f"SELECT {_bucket_expr('(c.arrived_at AT TIME ZONE :tz)', grain)} AS bucket, "
            f"{_key_expr('c', by, True)} AS key,\n  {parts}\nFROM {RAW_FROM}{_dep_join('c.office_id', by)}\n"
            f"WHERE c.arrived_at >= {lo} AND c.arrived_at < {hi}\nGROUP BY 1, 2")


#: Each summary table: its buckets as local timestamps, and its rows of [roll_from, roll_to).
_ROLLUP_READ = {
    ROLLUP_15M: ("(r.bucket AT TIME ZONE :tz)", "r.bucket >= :roll_from AND r.bucket < :roll_to"),
    ROLLUP_HOUR: ("r.hour", "r.hour >= CAST(:roll_from_local AS timestamp) AND r.hour < CAST(:roll_to_local AS timestamp)"),
    ROLLUP_DAY: ("CAST(r.day AS timestamp)",
                 "r.day >= CAST(:roll_from_day AS date) AND r.day < CAST(:roll_to_day AS date)"),
    # a month row holds its days before the watermark: a period ending at the watermark takes it whole
    ROLLUP_MONTH: ("CAST(r.month AS timestamp)",
                   "r.month >= CAST(:roll_from_day AS date) AND r.month < CAST(:roll_to_day AS date)"),
}


#: The grain equal to each table's buckets: read as they are, no grouping needed (one row per bucket and key;
#: not the 15-minute table: two UTC quarters make one local quarter when the clocks go back).
_SAME_GRAIN = {ROLLUP_HOUR: "hour", ROLLUP_DAY: "day", ROLLUP_MONTH: "month"}


def rollup_select(table: str, grain: str, by: str) -> str:
    local, where = _ROLLUP_READ[table]
    if _SAME_GRAIN.get(table) == grain and by != "departement":
        cols = ", ".join(f"r.{p}" for p in d.PARTIALS)
        return (f"SELECT {local} AS bucket, {_key_expr('r', by, False)} AS key, {cols}\n"
                f"FROM {table} r\nWHERE r.cut = :cut AND {where}")
    return (f"SELECT {_bucket_expr(local, grain)} AS bucket, {_key_expr('r', by, False)} AS key,\n"
            f"  {_rollup_partials('r')}\nFROM {table} r{_dep_join('r.key', by)}\n"
            f"WHERE r.cut = :cut AND {where}\nGROUP BY 1, 2")


@dataclass(frozen=True)
class Plan:
    """Where a query reads: ``table`` over [roll_from, roll_to), the raw calls over [raw_from, raw_to)."""
    table: str | None
    roll_from: datetime | None
    roll_to: datetime | None
    raw_from: datetime | None
    raw_to: datetime | None


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def _is_local_midnight(at: datetime, tz: ZoneInfo) -> bool:
    return at.astimezone(tz).timetz().replace(tzinfo=None) == time(0)


def _is_month_start(at: datetime, tz: ZoneInfo) -> bool:
    return _is_local_midnight(at, tz) and at.astimezone(tz).day == 1


def _is_quarter(at: datetime) -> bool:
    u = at.astimezone(UTC)
    return u.minute % 15 == 0 and u.second == 0 and u.microsecond == 0


def pick_table(start: datetime, roll_to: datetime, grain: str, tz: ZoneInfo, watermark: datetime) -> str | None:
    """The coarsest summary table whose buckets tile both the grain and [start, roll_to) (None: none)."""
    midnights = _is_local_midnight(start, tz) and _is_local_midnight(roll_to, tz)
    if grain in ("month", "period") and midnights and _is_month_start(start, tz) \
            and (_is_month_start(roll_to, tz) or roll_to == watermark):
        return ROLLUP_MONTH
    if grain in ("day", "week", "month", "period") and midnights:
        return ROLLUP_DAY
    if grain == "hour" and midnights:
        return ROLLUP_HOUR
    if _is_quarter(start) and _is_quarter(roll_to):
        return ROLLUP_15M
    return None


def plan(start: datetime, end: datetime, grain: str, by: str, tz: ZoneInfo, watermark: datetime | None) -> Plan:
    raw_only = Plan(None, None, None, start, end)
    if watermark is None or start >= watermark:
        return raw_only
    roll_to = min(end, watermark)
    table = pick_table(start, roll_to, grain, tz, watermark)
    if table is None:
        return raw_only
    if roll_to >= end:
        return Plan(table, start, roll_to, None, None)
    return Plan(table, start, roll_to, roll_to, end)


class Refused(web.HTTPBadRequest, ValueError):
    """A query the API refuses (too long for its grain and cut): a ValueError, answered 400 by aiohttp."""

    def __init__(self, message: str) -> None:
        super().__init__(text=message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def build(start: datetime, end: datetime, *, grain: str, by: str, tz: ZoneInfo, watermark: datetime | None,
          departements: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any], Plan]:
    """The SQL (one row per bucket and key: bucket, key, the summed partials) and its parameters."""
    if grain not in d.GRAINS:
        raise ValueError(f"grain must be one of {', '.join(d.GRAINS)}")
    if by not in d.CUTS:
        raise ValueError(f"by must be one of {', '.join(d.CUTS)}")
    try:
        d.check_period(start, end, grain, by)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    p = plan(start, end, grain, by, tz, watermark)
    params: dict[str, Any] = {"tz": tz.key, "period_start": _local(start, tz)}
    if by == "departement":
        deps = dict(departements or {})
        params["dep_ids"], params["dep_codes"] = list(deps), list(deps.values())
    selects = []
    if p.table is not None and p.roll_from is not None and p.roll_to is not None:
        selects.append(rollup_select(p.table, grain, by))
        params.update(cut=CUT_READ[by], roll_from=p.roll_from, roll_to=p.roll_to,
                      roll_from_local=_local(p.roll_from, tz), roll_to_local=_local(p.roll_to, tz),
                      roll_from_day=p.roll_from.astimezone(tz).date(), roll_to_day=p.roll_to.astimezone(tz).date())
    if p.raw_from is not None:
        selects.append(raw_select(grain, by))
        params["raw_from"], params["raw_to"] = p.raw_from, p.raw_to
    if len(selects) == 1:
        sql = selects[0]
    elif grain in ("15min", "hour", "day"):  # the two parts meet on a bucket boundary: no bucket in both
        sql = "\nUNION ALL\n".join(f"({s})" for s in selects)
    else:
        union = "\nUNION ALL\n".join(f"({s})" for s in selects)
        sql = f"SELECT u.bucket, u.key, {_rollup_partials('u')}\nFROM ({union}) u\nGROUP BY 1, 2"
    return sql, params, p


def to_partials(row: Mapping[str, Any]) -> dict[str, float]:
    return {name: (float(row[name]) if name in d.FLOAT_PARTIALS else int(row[name])) for name in d.PARTIALS}


def _row_partials(row: Any) -> dict[str, float]:
    """A result row (bucket, key, *partials) -> its partials (ints are bigint, floats float8 in SQL)."""
    return dict(zip(d.PARTIALS, row[2:]))


def _sort_key(row: Any) -> tuple[Any, int, str]:
    return (row[0], 0 if row[1] is None else 1, row[1] or "")  # codepoint order, whatever the collation


def finalize_rows(rows: list[Any], *, service_level_s: int, short_abandon_s: int) -> list[dict[str, Any]]:
    """Rows (bucket, key, *partials) -> the indicators rows."""
    return [{"bucket": r[0], "key": r[1],
             **d.finalize(_row_partials(r), service_level_s=service_level_s, short_abandon_s=short_abandon_s)}
            for r in rows]


WATERMARK_SQL = f"SELECT refreshed_until FROM {STATE} WHERE name = '{STATE_NAME}'"
#: For the query's transaction: its sorts and hash tables (up to ~100 k rows of 50 sums) in memory.
WORK_MEM_SQL = "SET LOCAL work_mem = '64MB'"


async def query_sums(engine: Any, *, start: datetime, end: datetime, grain: str = "day", by: str = "national",
                     tz: ZoneInfo | str = "Europe/Paris", departements: Mapping[str, str] | None = None,
                     use_rollups: bool = True) -> list[tuple[datetime, str | None, dict[str, float]]]:
    """The summed partials per bucket and key, from PostgreSQL (an AsyncEngine)."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    async with engine.connect() as conn:
        watermark = (await conn.execute(text(WATERMARK_SQL))).scalar() if use_rollups else None
        await conn.execute(text(WORK_MEM_SQL))
        sql, params, _ = build(start, end, grain=grain, by=by, tz=tz, watermark=watermark,
                               departements=departements)
        rows = sorted((await conn.execute(text(sql), params)).all(), key=_sort_key)
    return [(r[0], r[1], _row_partials(r)) for r in rows]


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
    conn.execute(text(WORK_MEM_SQL))
    sql, params, _ = build(start, end, grain=grain, by=by, tz=tz, watermark=watermark, departements=departements)
    rows = sorted(conn.execute(text(sql), params).all(), key=_sort_key)
    return finalize_rows(rows, service_level_s=service_level_s, short_abandon_s=short_abandon_s)


# -- summary tables -----------------------------------------------------------------------------

def local_midnight(at: datetime, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz).astimezone(UTC)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


_CUT_GROUPS = tuple(c for c in STORED_CUTS if c != "national")


def _refresh_statements() -> list[str]:
    """Delete then re-insert [a, b) (local midnights) of each table, finest first, each coarser one summed
    from the finer one; months: the whole months [m_a, m_b) touched, from the day table."""
    cols = ", ".join(d.PARTIALS)
    parts = ",\n  ".join(RAW_PARTIALS.values())
    cuts = "cut = ANY(CAST(:cuts AS text[]))"
    bucket15 = "date_bin('15 minutes', c.arrived_at, TIMESTAMPTZ '2000-01-01 00:00+00')"
    cut_case = " ".join(f"WHEN GROUPING(c.{d.CUT_COLUMNS[k]}) = 0 THEN '{k}'" for k in _CUT_GROUPS)
    key_case = " ".join(f"WHEN GROUPING(c.{d.CUT_COLUMNS[k]}) = 0 THEN c.{d.CUT_COLUMNS[k]}" for k in _CUT_GROUPS)
    sets = ", ".join(["()", *(f"(c.{d.CUT_COLUMNS[k]})" for k in _CUT_GROUPS)])
    return [
        f"DELETE FROM {ROLLUP_15M} WHERE {cuts} AND bucket >= :a AND bucket < :b",
        f"INSERT INTO {ROLLUP_15M} (bucket, cut, key, {cols})\n"
        f"SELECT {bucket15}, CASE {cut_case} ELSE 'national' END, CASE {key_case} END,\n  {parts}\n"
        f"FROM {RAW_FROM}\nWHERE c.arrived_at >= :a AND c.arrived_at < :b\n"
        f"GROUP BY {bucket15}, GROUPING SETS ({sets})",
        f"DELETE FROM {ROLLUP_HOUR} WHERE {cuts} AND hour >= CAST(:a_local AS timestamp) "
        f"AND hour < CAST(:b_local AS timestamp)",
        f"INSERT INTO {ROLLUP_HOUR} (hour, cut, key, {cols})\n"
        f"SELECT date_trunc('hour', r.bucket AT TIME ZONE :tz), r.cut, r.key, {_rollup_partials('r')}\n"
        f"FROM {ROLLUP_15M} r WHERE r.{cuts} AND r.bucket >= :a AND r.bucket < :b GROUP BY 1, 2, 3",
        f"DELETE FROM {ROLLUP_DAY} WHERE {cuts} AND day >= CAST(:a_day AS date) AND day < CAST(:b_day AS date)",
        f"INSERT INTO {ROLLUP_DAY} (day, cut, key, {cols})\n"
        f"SELECT CAST(r.hour AS date), r.cut, r.key, {_rollup_partials('r')}\n"
        f"FROM {ROLLUP_HOUR} r WHERE r.{cuts} AND r.hour >= CAST(:a_local AS timestamp) "
        f"AND r.hour < CAST(:b_local AS timestamp) GROUP BY 1, 2, 3",
    ]


def _month_statements() -> list[str]:
    cols = ", ".join(d.PARTIALS)
    cuts = "cut = ANY(CAST(:cuts AS text[]))"
    return [
        f"DELETE FROM {ROLLUP_MONTH} WHERE {cuts} AND month >= CAST(:m_a AS date) AND month < CAST(:m_b AS date)",
        f"INSERT INTO {ROLLUP_MONTH} (month, cut, key, {cols})\n"
        f"SELECT CAST(date_trunc('month', r.day) AS date), r.cut, r.key, {_rollup_partials('r')}\n"
        f"FROM {ROLLUP_DAY} r WHERE r.{cuts} AND r.day >= CAST(:m_a AS date) AND r.day < CAST(:m_b AS date) "
        f"GROUP BY 1, 2, 3",
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


def refresh_chunks(a: datetime, b: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[a, b) cut at local month starts (a bounded amount of work per statement)."""
    out, lo = [], a
    while lo < b:
        nxt = datetime.combine(_next_month(lo.astimezone(tz).date()), time(0), tzinfo=tz).astimezone(UTC)
        hi = min(nxt, b)
        out.append((lo, hi))
        lo = hi
    return out


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
    for lo, hi in refresh_chunks(a, b, tz):
        params = {"a": lo, "b": hi, "a_local": _local(lo, tz), "b_local": _local(hi, tz),
                  "a_day": lo.astimezone(tz).date(), "b_day": hi.astimezone(tz).date(), "tz": tz.key,
                  "cuts": list(STORED_CUTS)}
        for stmt in _refresh_statements():
            conn.execute(text(stmt), params)
    last_day = b.astimezone(tz).date() - timedelta(days=1)
    for stmt in _month_statements():
        conn.execute(text(stmt), {"m_a": _month_start(a.astimezone(tz).date()), "m_b": _next_month(last_day),
                                  "cuts": list(STORED_CUTS)})
    if b - a > timedelta(days=31):  # a first build, or a long --since: fresh planner statistics
        conn.execute(text(f"ANALYZE {ROLLUP_15M}, {ROLLUP_HOUR}, {ROLLUP_DAY}, {ROLLUP_MONTH}"))
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
