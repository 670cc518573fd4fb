"""Reconciliation from CEL on a real PostgreSQL (tests/fixtures/db.py: no Asterisk needed): calls made while
the Python services were stopped get their journeys back, the live journey's records are kept, and a second
run changes nothing. The CEL rows are hand-written as cel_pgsql stores them (tests/unit/test_reconcile.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ccpros_agi.ami.journey import Journey
from ccpros_agi.cli import main
from ccpros_agi.reconcile import reconcile
from ccpros_agi.store.repo import cel
from tests.fixtures.db import truncate_all
from tests.unit.test_reconcile import (
    ADVISORS,
    NATIONAL,
    T0,
    CelCallBuilder,
    abandoned_in_queue,
    answered_call,
    menu_abandoned,
)

UTC = timezone.utc
PROJECT = Path(__file__).resolve().parents[2]
SINCE, UNTIL = T0 - timedelta(hours=1), T0 + timedelta(hours=2)
NOW = T0 + timedelta(hours=3)
JOURNEY_COLUMNS = ("arrived_at", "called_number", "caller_raw", "caller_number", "queue", "queued_at",
                   "answered_at", "advisor_id", "site_id", "ended_at", "hangup_cause", "outcome", "fallback",
                   "overflowed", "entry_kind")


@pytest.fixture(autouse=True)
def _dump_on_failure():
    """Overrides tests/integration/conftest.py's (which starts the platform): no Asterisk here."""
    yield


async def add_cel(store, *calls: CelCallBuilder) -> None:
    async with store.engine.begin() as conn:
        for call in calls:
            await conn.execute(cel.insert(), call.rows)


async def agi_row(store, linkedid: str, at: datetime, **fields) -> None:
    """What the FastAGI app writes by itself (ccpros_agi/agi/inbound.py) when the events service is down."""
    await store.ensure_call(linkedid, arrived_at=at, called_number=fields.pop("called_number", NATIONAL),
                            caller_raw="0565123456", caller_number="+33565123456",
                            entry_kind=fields.pop("entry_kind", "national"))
    await store.update_call(linkedid, **fields)


def ami(name: str, at: datetime, **fields: str) -> dict[str, str]:
    return {"Event": name, "Timestamp": f"{at.timestamp():.6f}", **fields}


async def live_journey(store, call: CelCallBuilder, advisor: str = "pau-01") -> None:
    """The events service saw the whole call: the AMI events matching ``answered_call``'s CEL (app down)."""
    journey = Journey(store, ADVISORS.get)
    caller = dict(Uniqueid=call.linkedid, Linkedid=call.linkedid)
    await journey(ami("Newchannel", call.at(0.0), Channel=call.channel, Context="from-trunk", Exten=call.called,
                      CallerIDNum=call.caller, **caller))
    await journey(ami("UserEvent", call.at(0.032), UserEvent="CcprosFallback", Agistatus="FAILURE", **caller))
    await journey(ami("QueueCallerJoin", call.at(0.05), Queue="q-conseiller", Position="1", **caller))
    await journey(ami("AgentConnect", call.at(20.0), Queue="q-conseiller", MemberName=advisor,
                      Interface=f"PJSIP/{advisor}", HoldTime="20", RingTime="1", **caller))
    await journey(ami("Hangup", call.at(95.0), Cause="16", **{"Cause-txt": "Normal Clearing"}, **caller))


def journey_columns(row: dict) -> dict:
    return {name: row[name] for name in JOURNEY_COLUMNS}


async def snapshot(store) -> tuple[list[dict], list[dict]]:
    async with store.engine.connect() as conn:
        calls = [dict(r) for r in (await conn.execute(
            text("SELECT * FROM calls ORDER BY linkedid"))).mappings()]
        events = [dict(r) for r in (await conn.execute(
            text("SELECT * FROM call_events ORDER BY id"))).mappings()]
    return calls, events


async def test_rebuilt_journey_equals_the_live_one(store):
    """The same answered call, recorded live by the journey and rebuilt from CEL alone: same row."""
    call = answered_call("1710408600.10", advisor="cahors-02")
    await add_cel(store, call)
    await live_journey(store, call, advisor="cahors-02")
    live = await store.get_call(call.linkedid)
    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL, now=NOW)
    assert (report.checked, report.rebuilt) == (1, 0)  # complete: untouched
    assert await store.get_call(call.linkedid) == live
    async with store.engine.begin() as conn:
        await conn.execute(text("DELETE FROM calls"))
    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL, now=NOW)
    assert (report.checked, report.created, report.linkedids) == (1, 1, [call.linkedid])
    rebuilt = await store.get_call(call.linkedid)
    assert journey_columns(rebuilt) == journey_columns(live)
    assert rebuilt["outcome"] == "answered" and rebuilt["site_id"] == "cahors"


async def test_services_stopped_during_some_calls(store):
    """Four calls while the services were down or half down, one live journey, one live call, one callback leg."""
    answered = answered_call("1710408600.10")                        # both apps down: fallback queue, answered
    queued = abandoned_in_queue("1710408700.20", T0 + timedelta(minutes=2))  # app up, events down
    menu = menu_abandoned("1710408800.30", T0 + timedelta(minutes=4))        # app up, events down
    overflow = answered_call("1710408900.40", T0 + timedelta(minutes=6), agi=True, queue="q-pau-tva",
                             advisor="cahors-02")                    # app up, events down; answered at another site
    closed = menu_abandoned("1710409000.50", T0 + timedelta(minutes=8))      # app said closed, events down
    recorded = answered_call("1710409100.60", T0 + timedelta(minutes=10))    # the journey saw it all
    live = answered_call("1710409200.70", T0 + timedelta(minutes=12), over=False)  # still going on
    recent = menu_abandoned("1710409300.80", NOW - timedelta(seconds=10))  # just over: left to the journey
    callback = answered_call("1710409400.90", T0 + timedelta(minutes=14))  # a callback's leg: never a call
    callback.rows = [{**r, "linkedid": "ccpros-cb-7",
                      "uniqueid": "ccpros-cb-7" if r["uniqueid"] == callback.linkedid else r["uniqueid"]}
                     for r in callback.rows]
    before = answered_call("1710300000.90", SINCE - timedelta(minutes=1))  # outside the period
    await add_cel(store, answered, queued, menu, overflow, closed, recorded, live, recent, callback, before)

    await agi_row(store, queued.linkedid, queued.at(0.04), called_number="+33559000000", entry_kind="office",
                  office_id="sie-64445-01", home_site="pau", topic="tva", menu_reason="choice", queue="q-pau-tva",
                  menu_at=queued.at(1.0))
    await agi_row(store, menu.linkedid, menu.at(0.04), topic=None, menu_at=menu.at(1.0))
    await agi_row(store, overflow.linkedid, overflow.at(0.04), home_site="pau", topic="tva", queue="q-pau-tva",
                  menu_at=overflow.at(1.0))
    await agi_row(store, closed.linkedid, closed.at(0.04), outcome="closed")
    await live_journey(store, recorded)
    await agi_row(store, live.linkedid, live.at(0.04), queue="q-conseiller", menu_at=live.at(1.0))
    recorded_row = await store.get_call(recorded.linkedid)

    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL + timedelta(hours=2), now=NOW)
    assert (report.checked, report.live, report.created, report.completed) == (8, 2, 1, 4)
    assert sorted(report.linkedids) == sorted(c.linkedid for c in (answered, queued, menu, overflow, closed))

    row = await store.get_call(answered.linkedid)
    assert journey_columns(row) == {
        "arrived_at": T0, "called_number": NATIONAL, "caller_raw": "0565123456", "caller_number": "+33565123456",
        "queue": "q-conseiller", "queued_at": answered.at(0.05), "answered_at": answered.at(20.0),
        "advisor_id": "pau-01", "site_id": "pau", "ended_at": answered.at(95.0), "hangup_cause": "Normal Clearing",
        "outcome": "answered", "fallback": True, "overflowed": False, "entry_kind": "unknown"}

    row = await store.get_call(queued.linkedid)
    assert (row["outcome"], row["queue"], row["queued_at"], row["ended_at"], row["answered_at"]) == \
        ("abandoned_queue", "q-pau-tva", queued.at(6.5), queued.at(40.0), None)
    assert (row["entry_kind"], row["office_id"], row["topic"], row["arrived_at"]) == \
        ("office", "sie-64445-01", "tva", queued.at(0.04))  # the app's, kept (within the arrival tolerance)

    row = await store.get_call(menu.linkedid)
    assert (row["outcome"], row["ended_at"], row["queued_at"], row["hangup_cause"]) == \
        ("abandoned_menu", menu.at(4.0), None, "Normal Clearing")

    row = await store.get_call(overflow.linkedid)
    assert (row["outcome"], row["advisor_id"], row["site_id"], row["overflowed"], row["queued_at"]) == \
        ("answered", "cahors-02", "cahors", True, overflow.at(6.5))

    row = await store.get_call(closed.linkedid)
    assert (row["outcome"], row["ended_at"]) == ("closed", closed.at(4.0))

    assert await store.get_call(recorded.linkedid) == recorded_row
    assert (await store.get_call(live.linkedid))["outcome"] == "in_progress"
    assert await store.get_call(recent.linkedid) is None
    assert await store.get_call("ccpros-cb-7") is None and await store.get_call(before.linkedid) is None

    events = await store.call_events(queued.linkedid)
    assert [(e["source"], e["kind"], e["at"]) for e in events] == [("ami", "reconciled", NOW)]
    assert events[0]["data"] == {"from": "cel", "created": False, "outcome": "abandoned_queue",
                                 "filled": ["ended_at", "hangup_cause", "outcome", "queued_at"],
                                 "cel_events": len(queued.rows)}
    assert (await store.call_events(answered.linkedid))[0]["data"]["created"] is True
    assert [e["kind"] for e in await store.call_events(recorded.linkedid)] == \
        ["channel_created", "fallback", "queued", "answered", "ended"]

    # twice: nothing changes
    first = await snapshot(store)
    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL + timedelta(hours=2), now=NOW)
    assert (report.checked, report.rebuilt, report.live) == (8, 0, 2)
    assert await snapshot(store) == first

    # the live call ends; later runs complete it, once
    await add_cel(store, CelCallBuilder(live.linkedid, live.t0, channel=live.channel).ev(
        "LINKEDID_END", 96.0, channel=live.channel, appname="Queue"))
    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL + timedelta(hours=2), now=NOW)
    assert (report.completed, report.linkedids) == (1, [live.linkedid])
    row = await store.get_call(live.linkedid)
    assert (row["outcome"], row["ended_at"]) == ("answered", live.at(95.0))
    report = await reconcile(store, ADVISORS, since=SINCE, until=UNTIL + timedelta(hours=2), now=NOW)
    assert report.rebuilt == 0


async def test_journey_after_the_reconciliation_keeps_the_record(store):
    """A late Hangup of the live journey after the reconciliation finished the call changes nothing of it."""
    call = abandoned_in_queue("1710408700.20")
    await add_cel(store, call)
    await agi_row(store, call.linkedid, call.at(0.04), menu_at=call.at(1.0), queue="q-pau-tva")
    await reconcile(store, ADVISORS, since=SINCE, until=UNTIL, now=NOW)
    done = await store.get_call(call.linkedid)
    journey = Journey(store, ADVISORS.get)
    await journey(ami("Hangup", call.at(41.0), Uniqueid=call.linkedid, Linkedid=call.linkedid, Cause="16",
                      **{"Cause-txt": "Normal Clearing"}))
    after = await store.get_call(call.linkedid)
    assert {k: v for k, v in after.items() if k != "updated_at"} == {k: v for k, v in done.items()
                                                                     if k != "updated_at"}


async def test_naive_bounds_are_refused(store):
    with pytest.raises(ValueError):
        await reconcile(store, ADVISORS, since=datetime(2025, 3, 14), until=UNTIL)


def _connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                           autocommit=True, row_factory=dict_row)


def test_command_restores_the_journeys_and_a_second_run_changes_nothing(db_url, capsys):
    """``ccpros reconcile`` on the demo configuration: the done-when of issue 7."""
    truncate_all(db_url)
    calls = [answered_call("1710408600.10"), abandoned_in_queue("1710408700.20", T0 + timedelta(minutes=2)),
             menu_abandoned("1710408800.30", T0 + timedelta(minutes=4))]
    columns = list(calls[0].rows[0])
    with _connect(db_url) as conn:
        for call in calls:
            for r in call.rows:
                conn.execute(f"INSERT INTO cel ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                             [r[c] for c in columns])
        conn.execute("INSERT INTO calls (linkedid, arrived_at, menu_at) VALUES (%s, %s, %s)",
                     (calls[2].linkedid, calls[2].at(0.04), calls[2].at(1.0)))
    argv = ["reconcile", "--since", "2025-03-14T10:00:00", "--until", "2025-03-14T11:00+01:00",
            "--database-url", db_url, "--config", str(PROJECT / "config")]  # naive: Europe/Paris

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "checked 3 calls from CEL" in out and "rebuilt 3 (2 missing, 1 unfinished)" in out
    with _connect(db_url) as conn:
        first = (conn.execute("SELECT * FROM calls ORDER BY linkedid").fetchall(),
                 conn.execute("SELECT * FROM call_events ORDER BY id").fetchall())
    assert [r["outcome"] for r in first[0]] == ["answered", "abandoned_queue", "abandoned_menu"]
    assert [e["kind"] for e in first[1]] == ["reconciled"] * 3

    assert main(argv) == 0
    assert "rebuilt 0 (0 missing, 0 unfinished)" in capsys.readouterr().out
    with _connect(db_url) as conn:
        again = (conn.execute("SELECT * FROM calls ORDER BY linkedid").fetchall(),
                 conn.execute("SELECT * FROM call_events ORDER BY id").fetchall())
    assert again == first

    assert main([*argv[:1], "--since", "yesterday", *argv[3:]]) == 2
    assert "--since: not an ISO date" in capsys.readouterr().err
    assert main(["reconcile", "--since", "2025-03-14T12:00:00", "--until", "2025-03-14T11:00:00",
                 "--database-url", db_url, "--config", str(PROJECT / "config")]) == 2
