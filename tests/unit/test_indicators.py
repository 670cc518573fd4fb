"""The indicators' formulas (ccpros_agi.indicators.definitions) pinned on a hand-made set of calls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ccpros_agi.indicators import definitions as d
from ccpros_agi.indicators import sql

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2025, 3, 4, 8, 0, tzinfo=UTC)  # 09:00 in Paris, a Tuesday


def call(minute: float, outcome: str, *, wait: float | None = None, talk: float | None = None, **kw):
    """A call arrived ``minute`` minutes after T0, queued 10 s later, waiting ``wait`` s."""
    arrived = T0 + timedelta(minutes=minute)
    row = {"arrived_at": arrived, "queued_at": None, "answered_at": None, "ended_at": None, "outcome": outcome,
           "overflowed": False, "site_id": None, "home_site": None, "office_id": None, "topic": "tva",
           "entry_kind": "national"}
    if wait is not None:
        row["queued_at"] = arrived + timedelta(seconds=10)
        if outcome == "answered":
            row["answered_at"] = row["queued_at"] + timedelta(seconds=wait)
            row["ended_at"] = row["answered_at"] + timedelta(seconds=talk or 0)
        else:
            row["ended_at"] = row["queued_at"] + timedelta(seconds=wait)
    row.update(kw)
    return row


CALLS = [
    call(0, "answered", wait=20, talk=300, site_id="pau", home_site="pau", office_id="sie-64445-01",
         entry_kind="office"),
    call(1, "answered", wait=50, talk=200, site_id="cahors", home_site="pau", office_id="sie-64445-01",
         entry_kind="office", overflowed=True),
    call(2, "answered", wait=100, talk=100, site_id="pau", topic="cfe"),
    call(3, "abandoned_queue", wait=3),    # short abandon (< 5 s)
    call(4, "abandoned_queue", wait=40),
    call(5, "abandoned_menu", menu_at=T0 + timedelta(minutes=5, seconds=2)),
    call(6, "closed"),
    call(7, "misdirected"),
    call(20, "callback", wait=70, callback_status="done"),
    call(21, "callback", wait=80, callback_status="failed"),
    call(22, "answered", wait=5, talk=60, site_id="pau", appointment_statuses=["booked", "honoured"]),
]


def test_national_period_figures():
    [row] = d.compute(CALLS, start=T0, end=T0 + timedelta(hours=1), grain="period", tz=PARIS)
    assert row["bucket"] == datetime(2025, 3, 4, 9, 0)
    assert row["calls"] == 11
    assert row["offered"] == 8                  # 4 answered + 2 abandoned in queue + 2 callbacks
    assert row["answered"] == 4
    assert row["short_abandons"] == 1 and row["abandoned_queue"] == 1
    assert row["answered_rate"] == pytest.approx(4 / 7)      # short abandons left out
    assert row["service_level"] == pytest.approx(3 / 7)      # waits 20, 50, 5 <= 60; 100 is not
    assert row["mean_wait_s"] == pytest.approx((20 + 50 + 100 + 5) / 4)
    assert row["p90_wait_s"] == 120.0           # 4 answered: need 4 within the class -> 100 s is in (90, 120]
    assert row["mean_handling_s"] == pytest.approx((300 + 200 + 100 + 60) / 4)
    assert (row["abandoned_menu"], row["closed"], row["misdirected"]) == (1, 1, 1)
    assert row["overflowed"] == 1 and row["overflowed_share"] == pytest.approx(1 / 4)
    assert (row["callbacks_requested"], row["callbacks_completed"], row["callbacks_failed"]) == (2, 1, 1)
    assert (row["appointments_booked"], row["appointments_honoured"]) == (2, 1)


def test_thresholds_are_parameters():
    [row] = d.compute(CALLS, start=T0, end=T0 + timedelta(hours=1), grain="period", tz=PARIS,
                      service_level_s=20, short_abandon_s=3)
    # wait 3 s is not < 3: no short abandon; 2 answered within 20 s (20 and 5)
    assert row["short_abandons"] == 0 and row["abandoned_queue"] == 2
    assert row["service_level"] == pytest.approx(2 / 8)
    assert row["answered_rate"] == pytest.approx(4 / 8)
    with pytest.raises(ValueError, match="service-level threshold"):
        d.finalize(d.partials(CALLS[0]), service_level_s=61)


def test_grains_and_cuts():
    rows = d.compute(CALLS, start=T0, end=T0 + timedelta(hours=1), grain="15min", by="site", tz=PARIS)
    keys = [(r["bucket"].strftime("%H:%M"), r["key"], r["calls"]) for r in rows]
    assert keys == [("09:00", None, 5), ("09:00", "cahors", 1), ("09:00", "pau", 2),
                    ("09:15", None, 2), ("09:15", "pau", 1)]
    deps = {"sie-64445-01": "64"}
    rows = d.compute(CALLS, start=T0, end=T0 + timedelta(hours=1), grain="day", by="departement",
                     departements=deps, tz=PARIS)
    assert [(r["key"], r["calls"], r["overflowed"]) for r in rows] == [(None, 9, 0), ("64", 2, 1)]
    rows = d.compute(CALLS, start=T0, end=T0 + timedelta(hours=1), grain="hour", by="entry_kind", tz=PARIS)
    assert [(r["key"], r["answered"]) for r in rows] == [("national", 2), ("office", 2)]


def test_buckets_in_local_time():
    sunday_night = datetime(2025, 3, 30, 22, 50, tzinfo=UTC)  # Monday 00:50 in Paris (summer time)
    assert d.bucket(sunday_night, "15min", PARIS) == datetime(2025, 3, 31, 0, 45)
    assert d.bucket(sunday_night, "day", PARIS) == datetime(2025, 3, 31)
    assert d.bucket(sunday_night, "week", PARIS) == datetime(2025, 3, 31)
    assert d.bucket(sunday_night, "month", PARIS) == datetime(2025, 3, 1)


def test_p90_beyond_last_class_is_the_longest_wait():
    calls = [call(i, "answered", wait=2000 + i, talk=10) for i in range(3)]
    [row] = d.compute(calls, start=T0, end=T0 + timedelta(hours=1), grain="period", tz=PARIS)
    assert row["p90_wait_s"] == 2002.0


def test_no_offered_calls_gives_no_rates():
    [row] = d.compute([call(0, "closed")], start=T0, end=T0 + timedelta(hours=1), grain="day", tz=PARIS)
    assert row["answered_rate"] is None and row["service_level"] is None and row["mean_wait_s"] is None


def test_sql_plan_picks_the_coarsest_table_that_tiles_the_period():
    wm = datetime(2025, 3, 4, 23, 0, tzinfo=UTC)  # Paris midnight, 5 March
    start = datetime(2025, 2, 28, 23, 0, tzinfo=UTC)  # Paris midnight, 1 March
    end = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    p = sql.plan(start, end, "day", "office", PARIS, wm)
    assert (p.table, p.roll_to, p.raw_from) == (sql.ROLLUP_DAY, wm, wm)
    # month rows hold their days before the watermark: a month start .. the watermark reads them whole
    assert sql.plan(start, end, "month", "office", PARIS, wm).table == sql.ROLLUP_MONTH
    assert sql.plan(start, end, "period", "departement", PARIS, wm).table == sql.ROLLUP_MONTH
    assert sql.plan(start + timedelta(days=1), end, "period", "site", PARIS, wm).table == sql.ROLLUP_DAY
    assert sql.plan(start, wm - timedelta(days=1), "month", "site", PARIS, wm).table == sql.ROLLUP_DAY
    assert sql.plan(start, end, "week", "site", PARIS, wm).table == sql.ROLLUP_DAY
    assert sql.plan(start, end, "hour", "office", PARIS, wm).table == sql.ROLLUP_HOUR
    assert sql.plan(start, end, "15min", "departement", PARIS, wm).table == sql.ROLLUP_15M
    assert sql.plan(start + timedelta(hours=9), end, "hour", "site", PARIS, wm).table == sql.ROLLUP_15M
    assert sql.plan(start + timedelta(hours=9), end, "day", "site", PARIS, wm).table == sql.ROLLUP_15M
    assert sql.plan(start + timedelta(minutes=7), end, "hour", "site", PARIS, wm).table is None
    assert sql.plan(start, end, "day", "site", PARIS, None).table is None
    assert sql.plan(wm, end, "day", "site", PARIS, wm).table is None


def test_office_cut_at_fine_grains_is_refused_beyond_its_limit():
    start = datetime(2025, 3, 1, tzinfo=PARIS)
    d.check_period(start, start + timedelta(days=7), "15min", "office")
    d.check_period(start, start + timedelta(days=31), "15min", "departement")
    d.check_period(start, start + timedelta(days=31), "day", "office")
    with pytest.raises(ValueError, match="too long for grain 15min by office"):
        d.check_period(start, start + timedelta(days=8), "15min", "office")
    with pytest.raises(sql.Refused, match="too long for grain hour by office") as info:
        sql.build(start, start + timedelta(days=31), grain="hour", by="office", tz=PARIS, watermark=None)
    assert info.value.status == 400 and isinstance(info.value, ValueError)


def test_refresh_chunks_at_local_month_starts():
    a = datetime(2025, 1, 15, tzinfo=PARIS).astimezone(UTC)
    b = datetime(2025, 3, 10, tzinfo=PARIS).astimezone(UTC)
    chunks = sql.refresh_chunks(a, b, PARIS)
    assert [(lo.astimezone(PARIS).date().isoformat(), hi.astimezone(PARIS).date().isoformat()) for lo, hi in chunks] \
        == [("2025-01-15", "2025-02-01"), ("2025-02-01", "2025-03-01"), ("2025-03-01", "2025-03-10")]
