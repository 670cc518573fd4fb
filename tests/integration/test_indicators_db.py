"""The indicators' SQL (raw calls, summary tables, both glued) equals the pure formulas, on generated
calls in a real PostgreSQL (tests/fixtures/db.py: no Asterisk needed)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.engine import make_url

from ccpros_agi.indicators import definitions as d
from ccpros_agi.indicators import sql

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
# the integration tests' platform runs its own dialer on this database: these callbacks must never be
# due by the real clock, or it would take the pending ones (and change their status)
NEVER_DUE = datetime(2099, 1, 1, tzinfo=timezone.utc)
DAY0 = datetime(2025, 3, 27, tzinfo=PARIS)  # a Thursday; summer time starts on Sunday 30 March
SITES = ("pau", "cahors", "morlaix", "lisieux")
OFFICES = {"sie-64445-01": "64", "sie-46042-01": "46", "sie-29151-01": "29", "sie-14366-01": "14"}
OFFICE_SITE = dict(zip(OFFICES, SITES))
TOPICS = ("tva", "cfe", "paiement", "conseiller")


@pytest.fixture(autouse=True)
def _dump_on_failure():
    """Overrides tests/integration/conftest.py's (which starts the platform): no Asterisk here."""
    yield


def connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                           autocommit=True)


def generate(n: int, seed: int = 7) -> tuple[list[dict], list[dict], list[dict]]:
    """Calls over 8 local days (through a DST change), with their callbacks and appointments."""
    rnd = random.Random(seed)
    calls, callbacks, appointments = [], [], []
    for i in range(n):
        day = DAY0 + timedelta(days=rnd.randrange(8))
        arrived = (day.replace(hour=8, minute=30) + timedelta(seconds=rnd.uniform(0, 9.5 * 3600))).astimezone(UTC)
        office = rnd.choice([None, *OFFICES])
        home = OFFICE_SITE[office] if office else None
        outcome = rnd.choices(("answered", "abandoned_queue", "abandoned_menu", "closed", "failed",
                               "misdirected", "office_line", "callback", "in_progress"),
                              (60, 12, 5, 5, 2, 3, 2, 5, 1))[0]
        c = {"linkedid": f"17000{i:06d}.{i}", "arrived_at": arrived, "menu_at": None, "queued_at": None,
             "answered_at": None, "ended_at": None, "outcome": outcome, "overflowed": False, "site_id": None,
             "home_site": home, "office_id": office, "topic": rnd.choice(TOPICS),
             "entry_kind": "office" if office else rnd.choice(("national", "national", "unknown"))}
        menu = arrived + timedelta(seconds=rnd.uniform(0, 4))
        if outcome in ("answered", "abandoned_queue", "callback", "in_progress"):
            c["menu_at"] = menu
            if rnd.random() > 0.05:  # a few fallback calls without queued_at
                c["queued_at"] = menu + timedelta(seconds=rnd.uniform(2, 8))
            q0 = c["queued_at"] or arrived
            wait = rnd.choice([rnd.uniform(0, 10), rnd.uniform(0, 130), rnd.uniform(0, 2500), 60.0, 5.0])
            if outcome == "answered":
                c["answered_at"] = q0 + timedelta(seconds=wait)
                c["ended_at"] = c["answered_at"] + timedelta(seconds=rnd.uniform(20, 900))
                c["site_id"] = rnd.choice(SITES) if not home or rnd.random() < 0.2 else home
                c["overflowed"] = bool(home and c["site_id"] != home)
            elif outcome != "in_progress":
                c["ended_at"] = q0 + timedelta(seconds=wait)
            if outcome == "callback":
                callbacks.append({"linkedid": c["linkedid"], "number": "+33565000000", "queue": "q-tva",
                                  "arrival_at": q0, "requested_at": c["ended_at"], "next_attempt_at": NEVER_DUE,
                                  "status": rnd.choice(("pending", "done", "done", "failed", "cancelled"))})
            if outcome == "answered" and office and rnd.random() < 0.15:
                for _ in range(rnd.choice((1, 1, 2))):
                    starts = arrived + timedelta(days=3, minutes=30 * len(appointments))
                    appointments.append({"office_id": office, "reason": "tva", "channel": "phone",
                                         "starts_at": starts, "ends_at": starts + timedelta(minutes=20),
                                         "agent_slot": len(appointments), "phone": "+33565000000", "linkedid": c["linkedid"],
                                         "status": rnd.choice(("booked", "honoured", "no_show", "cancelled"))})
        elif outcome == "abandoned_menu":
            c["menu_at"] = menu
            c["ended_at"] = menu + timedelta(seconds=3)
        else:
            c["ended_at"] = arrived + timedelta(seconds=20)
        calls.append(c)
    return calls, callbacks, appointments


def insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([r[c] for c in cols])


def with_links(calls, callbacks, appointments):
    status = {cb["linkedid"]: cb["status"] for cb in callbacks}
    apps: dict[str, list[str]] = {}
    for a in appointments:
        apps.setdefault(a["linkedid"], []).append(a["status"])
    return [{**c, "callback_status": status.get(c["linkedid"]), "appointment_statuses": apps.get(c["linkedid"], [])}
            for c in calls]


@pytest.fixture
async def loaded(store, db_url):
    calls, callbacks, appointments = generate(2000)
    with connect(db_url) as conn:
        conn.execute("TRUNCATE callbacks, appointments, indicators_cut_15m, indicators_cut_hour, indicators_cut_day, "
                     "indicators_cut_month, indicators_state RESTART IDENTITY CASCADE")
        insert(conn, "calls", calls)
        insert(conn, "callbacks", callbacks)
        insert(conn, "appointments", appointments)
    return store, with_links(calls, callbacks, appointments)


def assert_same(got: list[dict], want: list[dict]) -> None:
    assert [(r["bucket"], r["key"]) for r in got] == [(r["bucket"], r["key"]) for r in want]
    for g, w in zip(got, want):
        for name in d.INDICATORS:
            assert g[name] == (w[name] if w[name] is None else pytest.approx(w[name], rel=1e-9, abs=1e-6)), \
                (g["bucket"], g["key"], name)


CASES = [(grain, by) for grain in d.GRAINS for by in d.CUTS]
APR1 = datetime(2025, 4, 1, tzinfo=PARIS)
PERIODS = [  # whole local days, through the DST change; whole months (to the watermarks of the tests
    # below: 31 March, 2 April, 5 April); quarter-aligned bounds; a period with unaligned bounds
    (DAY0, DAY0 + timedelta(days=8)),
    (DAY0 + timedelta(days=1), DAY0 + timedelta(days=5)),
    (datetime(2025, 3, 1, tzinfo=PARIS), APR1 + timedelta(days=5)),
    (APR1, APR1 + timedelta(days=1)),
    (APR1, APR1 + timedelta(days=4)),
    (DAY0 + timedelta(days=1, hours=9, minutes=15), DAY0 + timedelta(days=6, hours=14)),
    (DAY0 + timedelta(days=2, hours=10, minutes=7), DAY0 + timedelta(days=6, hours=3)),
]


async def check_all(store, calls, *, use_rollups: bool, thresholds=((60, 5),)) -> set[str | None]:
    """Every grain x cut x period equals the formulas; returns the summary tables the plans read."""
    tables: set[str | None] = set()
    async with store.engine.connect() as conn:
        watermark = (await conn.execute(sql.text(sql.WATERMARK_SQL))).scalar() if use_rollups else None
    for start, end in PERIODS:
        mine = [c for c in calls if start <= c["arrived_at"] < end]
        for grain, by in CASES:
            try:
                d.check_period(start, end, grain, by)
            except ValueError:  # refused (too long for the grain by office): 400 from the API
                with pytest.raises(sql.Refused):
                    await sql.query(store.engine, start=start, end=end, grain=grain, by=by, tz=PARIS)
                continue
            sums = sorted(d.summed_partials(mine, start=start, end=end, grain=grain, by=by, tz=PARIS,
                                            departements=OFFICES).items(), key=d.sort_key)
            for sl, short in thresholds:
                want = [{"bucket": b, "key": k, **d.finalize(p, service_level_s=sl, short_abandon_s=short)}
                        for (b, k), p in sums]
                got = await sql.query(store.engine, start=start, end=end, grain=grain, by=by, tz=PARIS,
                                      departements=OFFICES, service_level_s=sl, short_abandon_s=short,
                                      use_rollups=use_rollups)
                assert_same(got, want)
            tables.add(sql.plan(start, end, grain, by, PARIS, watermark).table)
    return tables


async def test_sql_on_raw_calls_equals_the_formulas(loaded):
    store, calls = loaded
    assert await check_all(store, calls, use_rollups=False, thresholds=((60, 5), (20, 3), (0, 30))) == {None}


ALL_TABLES = {sql.ROLLUP_15M, sql.ROLLUP_HOUR, sql.ROLLUP_DAY, sql.ROLLUP_MONTH, None}


async def test_summary_tables_plus_raw_equal_the_formulas(loaded, db_url):
    store, calls = loaded
    # settled until the 4th local day (31 March): the periods read the summary tables, then the raw calls
    window = await sql.refresh(store.engine, tz=PARIS, until=(DAY0 + timedelta(days=4, hours=5)).astimezone(UTC))
    assert window == (DAY0.astimezone(UTC), (DAY0 + timedelta(days=4)).astimezone(UTC))
    assert await check_all(store, calls, use_rollups=True, thresholds=((60, 5), (120, 10))) == ALL_TABLES
    # incremental (from the watermark), across the month's end: 1 and 2 April
    window = await sql.refresh(store.engine, tz=PARIS, until=(APR1 + timedelta(days=1, hours=23)).astimezone(UTC))
    assert window == ((DAY0 + timedelta(days=4)).astimezone(UTC), (APR1 + timedelta(days=1)).astimezone(UTC))
    assert await check_all(store, calls, use_rollups=True) == ALL_TABLES
    # refresh everything; again (idempotent), then everything comes from the summary tables
    for _ in range(2):
        await sql.refresh(store.engine, tz=PARIS, since=DAY0, until=(DAY0 + timedelta(days=9)).astimezone(UTC))
    assert await check_all(store, calls, use_rollups=True) == ALL_TABLES
    sql_, _, plan = sql.build(DAY0, DAY0 + timedelta(days=8), grain="day", by="office", tz=PARIS,
                              watermark=(DAY0 + timedelta(days=9)).astimezone(UTC))
    assert plan.table == sql.ROLLUP_DAY and plan.raw_from is None
    with connect(db_url) as conn:  # one row per (bucket, cut, key); months: March and April
        months = conn.execute("SELECT month, cut, count(*), sum(calls) FROM indicators_cut_month "
                              "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    assert {m for m, *_ in months} == {datetime(2025, 3, 1).date(), APR1.date()}
    assert all(total == sum(1 for c in calls if c["arrived_at"].astimezone(PARIS).month == m.month)
               for m, _, _, total in months)


async def test_http_api_json_csv_and_report(loaded):
    from types import SimpleNamespace

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from ccpros_agi import web_indicators

    store, calls = loaded
    offices = [SimpleNamespace(id=o, departement=dep) for o, dep in OFFICES.items()]
    config = SimpleNamespace(timezone="Europe/Paris", directory=SimpleNamespace(offices=offices),
                             sites=[SimpleNamespace(id="pau", name="Pau")], topics=[SimpleNamespace(id="tva", label="TVA")])
    app = web.Application()
    web_indicators.add_routes(app, store, config)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/api/indicators", params={"from": "2025-03-27", "to": "2025-04-04", "grain": "day",
                                                        "by": "departement"})
        assert r.status == 200, await r.text()
        body = await r.json()
        want = d.compute(calls, start=DAY0, end=DAY0 + timedelta(days=8), grain="day", by="departement", tz=PARIS,
                         departements=OFFICES)
        assert [(x["bucket"], x["key"], x["answered"]) for x in body["rows"]] == \
               [(w["bucket"].isoformat(), w["key"], w["answered"]) for w in want]
        r = await client.get("/api/indicators", params={"from": "2025-03-27", "to": "2025-03-28", "grain": "hour",
                                                        "format": "csv"})
        lines = (await r.text()).splitlines()
        assert r.content_type == "text/csv" and lines[0].startswith("bucket,key,calls,offered,answered,")
        assert len(lines) == 1 + 10  # 08:00 .. 17:00
        for params, message in (({"grain": "year"}, "grain must be one of"), ({"by": "city"}, "by must be one of"),
                                ({"from": "yesterday"}, "from must be a date"),
                                ({"service_level": "61"}, "service-level threshold"),
                                ({"from": "2025-01-01", "to": "2025-06-01", "grain": "15min"}, "too long"),
                                ({"from": "2025-03-02", "to": "2025-03-01"}, "from must be before to"),
                                ({"from": "2025-03-01", "to": "2025-03-15", "grain": "15min", "by": "office"},
                                 "too long for grain 15min by office (at most 7 days")):
            r = await client.get("/api/indicators", params=params)
            assert r.status == 400 and message in await r.text(), params
        r = await client.get("/reports", params={"from": "2025-03-27", "to": "2025-04-04"})
        page = await r.text()
        assert r.status == 200 and page.count("<svg") == 3 and "By half-hour of the day" in page and ">Pau<" in page
