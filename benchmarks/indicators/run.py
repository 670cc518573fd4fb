"""Indicators benchmark: N call records over two years in a private PostgreSQL, every indicator query timed.

    .venv/bin/python benchmarks/indicators/run.py [--calls 10000000] [--keep DIR]

Loads realistic calls (10 sites, the ~300 offices of config/offices.csv, 5 topics, opening hours
Monday-Friday 08:30-18:00 Paris time, outcomes and waits drawn at random; 5 % ask a callback) with
INSERT ... SELECT generate_series, month by month, into a private cluster migrated to
0010_indicators_rollups; refreshes the summary tables up to the last day (so that queries on the last
day, month and year also read raw calls), then runs every (period, grain, cut) query of the API twice
and prints a Markdown table of the timings (the second, warm run is the one that counts; both printed).
A combination the API refuses (office cut at 15 min / hour beyond definitions.OFFICE_MAX_DAYS) is
run over its longest allowed period instead (the last N days), and marked so.
"""
from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ccpros_agi.indicators import definitions as d  # noqa: E402
from ccpros_agi.indicators import sql  # noqa: E402
from ccpros_agi.store import migrate  # noqa: E402
from ccpros_agi.store.pgcluster import PrivateCluster, ensure_database, free_port  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
TABLES = (sql.ROLLUP_15M, sql.ROLLUP_HOUR, sql.ROLLUP_DAY, sql.ROLLUP_MONTH)
FIRST, LAST = datetime(2024, 1, 1), datetime(2025, 12, 31)  # local days, both included
SITES = ["pau", "lons-le-saunier", "decazeville", "morlaix", "cahors", "alencon", "lisieux",
         "chalons-en-champagne", "carpentras", "perpignan"]
TOPICS = ["tva", "cfe", "espace-pro", "paiement", "conseiller"]

# One month of calls: working days of the month, n calls spread evenly over them.
LOAD_SQL = """
WITH days AS (
  SELECT dd::date AS day, row_number() OVER (ORDER BY dd) - 1 AS k
  FROM generate_series(CAST(:m0 AS date), CAST(:m1 AS date) - 1, interval '1 day') dd
  WHERE extract(isodow FROM dd) < 6),
nd AS (SELECT count(*) AS n FROM days),
r AS (
  SELECT i, days.day, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
         random() AS r6, random() AS r7
  FROM generate_series(:i0, :i1 - 1) i, nd, days
  WHERE days.k = floor((i - :i0)::float8 * nd.n / (:i1 - :i0))),
c AS (
  SELECT r.*,
    ((day + interval '8 hours 30 minutes' + r1 * interval '9 hours 30 minutes') AT TIME ZONE 'Europe/Paris') AS arrived,
    CASE WHEN r2 < 0.45 THEN NULL ELSE (CAST(:offices AS text[]))[1 + floor(r3 * :n_offices)::int] END AS office,
    CASE WHEN r4 < 0.70 THEN 'answered' WHEN r4 < 0.82 THEN 'abandoned_queue' WHEN r4 < 0.87 THEN 'callback'
         WHEN r4 < 0.91 THEN 'abandoned_menu' WHEN r4 < 0.95 THEN 'closed' WHEN r4 < 0.97 THEN 'misdirected'
         WHEN r4 < 0.985 THEN 'office_line' ELSE 'failed' END AS outcome,
    -ln(1 - r5) * 45 AS wait, 60 + -ln(1 - r6) * 240 AS talk
  FROM r),
h AS (
  SELECT c.*, NULLIF((CAST(:office_sites AS text[]))[array_position(CAST(:offices AS text[]), office)], '') AS home,
         (CAST(:topics AS text[]))[1 + floor(r7 * 5)::int] AS topic
  FROM c)
INSERT INTO calls (linkedid, called_number, caller_number, entry_kind, topic, queue, arrived_at, menu_at, queued_at,
                   answered_at, ended_at, advisor_id, site_id, outcome, office_id, covering_site, home_site, overflowed)
SELECT 'b' || i, '+33199001000', '+3356' || lpad((i % 9999991)::text, 7, '0'),
  CASE WHEN office IS NOT NULL THEN 'office' WHEN r2 < 0.02 THEN 'unknown' ELSE 'national' END,
  CASE WHEN outcome IN ('closed', 'failed', 'office_line') THEN NULL ELSE topic END,
  CASE WHEN outcome IN ('answered', 'abandoned_queue', 'callback') THEN 'q-' || topic END,
  arrived,
  CASE WHEN outcome NOT IN ('closed', 'failed', 'office_line') THEN arrived + interval '3 seconds' END,
  CASE WHEN outcome IN ('answered', 'abandoned_queue', 'callback') THEN arrived + interval '8 seconds' END,
  CASE WHEN outcome = 'answered' THEN arrived + interval '8 seconds' + wait * interval '1 second' END,
  CASE WHEN outcome = 'answered' THEN arrived + interval '8 seconds' + (wait + talk) * interval '1 second'
       WHEN outcome IN ('abandoned_queue', 'callback') THEN arrived + interval '8 seconds' + wait * interval '1 second'
       ELSE arrived + interval '20 seconds' END,
  CASE WHEN outcome = 'answered' THEN 'adv-' || (i % 430) END,
  CASE WHEN outcome <> 'answered' THEN NULL
       WHEN home IS NOT NULL AND (r3 * 1000 - floor(r3 * 1000)) >= 0.12 THEN home
       ELSE (CAST(:sites AS text[]))[1 + floor((r6 * 1000 - floor(r6 * 1000)) * 10)::int] END,
  outcome, office, home, home,
  outcome = 'answered' AND home IS NOT NULL AND (r3 * 1000 - floor(r3 * 1000)) < 0.12
FROM h
"""

CALLBACKS_SQL = """
INSERT INTO callbacks (linkedid, number, topic, queue, home_site, office_id, arrival_at, requested_at, status,
                       attempts, next_attempt_at)
SELECT linkedid, caller_number, topic, queue, home_site, office_id, queued_at, ended_at,
  CASE WHEN id % 10 < 7 THEN 'done' WHEN id % 10 < 9 THEN 'failed' ELSE 'cancelled' END, 1, ended_at
FROM calls WHERE outcome = 'callback'
"""


def months(first: datetime, last: datetime):
    m = first.replace(day=1)
    while m <= last:
        nxt = (m + timedelta(days=32)).replace(day=1)
        yield m.date(), nxt.date()
        m = nxt


def working_days(m0, m1) -> int:
    n, day = 0, m0
    while day < m1:
        n += day.weekday() < 5
        day += timedelta(days=1)
    return n


def load(engine, n_calls: int) -> None:
    offices = list(csv.DictReader((ROOT / "config" / "offices.csv").open(encoding="utf-8")))
    office_ids = [o["id"] for o in offices]
    office_sites = [o["coverage"].split("@")[0].split(";")[0] for o in offices]
    spans = list(months(FIRST, LAST))
    total_days = sum(working_days(a, b) for a, b in spans)
    i0 = 0
    params = {"offices": office_ids, "office_sites": office_sites, "n_offices": len(office_ids), "sites": SITES,
              "topics": TOPICS}
    for m0, m1 in spans:
        n = round(n_calls * working_days(m0, m1) / total_days)
        t = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("SELECT setseed(:s)"), {"s": (m0.year * 12 + m0.month) % 1000 / 1000})
            conn.execute(text(LOAD_SQL), {**params, "m0": m0, "m1": m1, "i0": i0, "i1": i0 + n})
        i0 += n
        print(f"  loaded {m0:%Y-%m}: {n} calls in {time.perf_counter() - t:.1f} s", flush=True)
    with engine.begin() as conn:
        conn.execute(text(CALLBACKS_SQL))
        conn.execute(text("ANALYZE"))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--keep", type=Path, help="reuse (or keep) the cluster in this directory")
    args = ap.parse_args()
    parent = args.keep or Path(tempfile.mkdtemp(prefix="ccpros-bench-"))
    if os.geteuid() == 0:
        os.chmod(parent, 0o711)
    datadir = parent / "pg" / "data"
    fresh = not datadir.exists()
    password_file = parent / "password"
    if fresh:
        password_file.write_text(secrets.token_urlsafe(18))
    cluster = PrivateCluster(datadir, port=free_port(), superuser_password=password_file.read_text())
    try:
        if fresh:
            cluster.init()
        cluster.start()
        url = cluster.url("bench", "bench", "bench")
        if fresh:
            ensure_database(cluster, "bench", "bench", "bench")
            migrate.upgrade(url, "0010_indicators_rollups")
        engine = create_engine(url.replace("postgresql+psycopg", "postgresql+psycopg"),
                               connect_args={"options": "-c TimeZone=UTC"})
        with engine.connect() as conn:
            have = conn.execute(text("SELECT count(*) FROM calls")).scalar()
        if have == 0:
            print(f"loading {args.calls} calls ...", flush=True)
            secs, _ = timed(lambda: load(engine, args.calls))
            print(f"load: {secs:.0f} s", flush=True)
        last_day = datetime.combine(LAST.date(), datetime.min.time(), tzinfo=PARIS)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)}, indicators_state"))
        secs, window = timed(lambda: sql.refresh_sync_engine(engine, until=last_day))
        with engine.begin() as conn:
            conn.execute(text(f"ANALYZE {', '.join(TABLES)}"))
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}
            ncalls = conn.execute(text("SELECT count(*) FROM calls")).scalar()
        print(f"\ncalls: {ncalls}; summary tables refreshed over {window[0]:%Y-%m-%d} .. {window[1]:%Y-%m-%d} in "
              f"{secs:.0f} s: " + ", ".join(f"{t} {n} rows" for t, n in counts.items()), flush=True)
        secs, _ = timed(lambda: sql.refresh_sync_engine(engine, since=last_day - timedelta(days=1), until=last_day))
        print(f"incremental refresh of one day: {secs:.2f} s\n", flush=True)
        periods = {"day": (last_day, last_day + timedelta(days=1)),
                   "month": (datetime(2025, 12, 1, tzinfo=PARIS), last_day + timedelta(days=1)),
                   "year": (datetime(2025, 1, 1, tzinfo=PARIS), last_day + timedelta(days=1))}
        print("| period | grain | by | source | rows | 1st run s | 2nd run s |\n|---|---|---|---|---|---|---|")
        warm = []
        deps = {o["id"]: o["departement"] for o in csv.DictReader((ROOT / "config" / "offices.csv").open())}
        with engine.connect() as conn:
            wm = conn.execute(text(sql.WATERMARK_SQL)).scalar()
            for pname, (start, end) in periods.items():
                for grain in d.GRAINS:
                    if grain in ("15min", "hour") and pname == "year":
                        continue  # refused by the API (at most 62 days at these grains)
                    for by in d.CUTS:
                        label = pname
                        limit = d.OFFICE_MAX_DAYS.get(grain) if by == "office" else None
                        if limit is not None and (end - start).days > limit:
                            start, label = end - timedelta(days=limit), f"{pname}: refused, last {limit} days"
                        p = sql.plan(start, end, grain, by, PARIS, wm)
                        source = (p.table or "") + (" + raw" if p.table and p.raw_from else "raw" if not p.table else "")
                        kw = {"start": start, "end": end, "grain": grain, "by": by, "tz": PARIS, "departements": deps}
                        runs = [timed(lambda kw=kw: sql.query_sync(conn, **kw)) for _ in range(2)]
                        warm.append(runs[1][0])
                        start = periods[pname][0]
                        print(f"| {label} | {grain} | {by} | {source} | {len(runs[1][1])} | {runs[0][0]:.3f} "
                              f"| {runs[1][0]:.3f} |", flush=True)
        print(f"\n{len(warm)} queries: warm median {statistics.median(warm):.3f} s, max {max(warm):.3f} s, "
              f"over 1 s: {sum(t > 1 for t in warm)}")
        return 0
    finally:
        cluster.stop()
        if args.keep is None:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
