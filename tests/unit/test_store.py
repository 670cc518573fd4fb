"""Call-record store on a real PostgreSQL (private cluster unless CCPROS_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from ccpros_agi.store import migrate
from ccpros_agi.store.models import OUTCOMES, Base
from ccpros_agi.store.pgcluster import (
    PrivateCluster,
    drop_database,
    drop_role,
    ensure_database,
    ensure_role,
    find_bindir,
    free_port,
)
from ccpros_agi.store.repo import CallStore, decide_outcome

pytest_plugins = ["tests.fixtures.db"]

T0 = datetime(2025, 3, 14, 9, 30, 0, tzinfo=timezone.utc)


def lid() -> str:
    return f"1741944600.{secrets.randbelow(10**6)}"


def _connect(url: str, **overrides: object) -> psycopg.Connection:
    u = make_url(url)
    kw = dict(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database)
    kw.update(overrides)  # type: ignore[arg-type]
    return psycopg.connect(autocommit=True, **kw)  # type: ignore[arg-type]


@pytest.fixture
def scratch_db(pg_cluster):
    """A fresh, empty (unmigrated) database; dropped afterwards."""
    suffix = secrets.token_hex(4)
    dbname, owner, pw = f"ccpros_scratch_{suffix}", f"ccpros_scratch_{suffix}", secrets.token_urlsafe(12)
    ensure_database(pg_cluster.admin_url, dbname, owner, pw)
    yield pg_cluster.url(dbname, owner, pw)
    drop_database(pg_cluster.admin_url, dbname)
    drop_role(pg_cluster.admin_url, owner)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- migrations -----------------------------------------------------------------
def _head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate.alembic_config("postgresql+psycopg://unused")).get_current_head()


HEAD = _head()


def test_migration_upgrade_downgrade_upgrade(scratch_db: str) -> None:
    assert _tables(scratch_db) == set()
    migrate.upgrade(scratch_db)
    assert {"calls", "call_events", "cel", "alembic_version"} <= _tables(scratch_db)
    migrate.downgrade(scratch_db)
    assert _tables(scratch_db) == {"alembic_version"}
    migrate.upgrade(scratch_db)
    migrate.upgrade(scratch_db)  # idempotent
    with _connect(scratch_db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_migration_0002_down_and_up_with_office_calls(scratch_db: str) -> None:
    new = {"office_id", "covering_site", "home_site", "caller_name", "misdirected", "transferred_to_office",
           "transferred_at"}
    migrate.upgrade(scratch_db)
    assert new <= _columns(scratch_db, "calls")
    with _connect(scratch_db) as conn:
        conn.execute(
            "INSERT INTO calls (linkedid, arrived_at, menu_at, outcome, misdirected, office_id)"
            " VALUES ('a.1', now(), now(), 'misdirected', true, 'sie-64445-01'),"
            " ('a.2', now(), NULL, 'office_line', false, 'sie-75056-01'), ('a.3', now(), NULL, 'closed', false, NULL)"
        )
        conn.execute("INSERT INTO call_events (linkedid, at, source, kind) VALUES ('a.1', now(), 'web', 'note'),"
                     " ('a.1', now(), 'agi', 'misdirected')")
    migrate.downgrade(scratch_db, "0001_calls")  # rows with the new values do not stop it
    assert not new & _columns(scratch_db, "calls")
    with _connect(scratch_db) as conn:
        assert conn.execute("SELECT linkedid, outcome FROM calls ORDER BY linkedid").fetchall() == [
            ("a.1", "abandoned_menu"), ("a.2", "failed"), ("a.3", "closed")]
        assert conn.execute("SELECT source FROM call_events").fetchall() == [("agi",)]
        with pytest.raises(psycopg.errors.CheckViolation):  # the 0001 checks are back
            conn.execute("UPDATE calls SET outcome = 'office_line'")
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'calls'")}
        assert "ix_calls_caller_number_arrived_at" not in indexes
    migrate.upgrade(scratch_db)
    with _connect(scratch_db) as conn:
        conn.execute("UPDATE calls SET outcome = 'office_line' WHERE linkedid = 'a.2'")
        conn.execute("INSERT INTO call_events (linkedid, at, source, kind) VALUES ('a.2', now(), 'web', 'note')")
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'calls'")}
        assert {"ix_calls_caller_number_arrived_at", "ix_calls_office_id_arrived_at",
                "ix_calls_home_site_arrived_at"} <= indexes
        assert conn.execute("SELECT misdirected, transferred_to_office FROM calls WHERE linkedid = 'a.1'"
                            ).fetchone() == (False, False)  # NOT NULL DEFAULT false on existing rows


def test_models_match_migrations(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_server_default": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        engine.dispose()


def test_alembic_cli_from_any_cwd(scratch_db: str, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "alembic", "-c", str(migrate.ALEMBIC_INI)]
    env = {k: v for k, v in os.environ.items() if k != "CCPROS_DATABASE_URL"}
    subprocess.run([*base, "-x", f"url={scratch_db}", "upgrade", "head"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([*base, "current"], cwd=tmp_path, env={**env, "CCPROS_DATABASE_URL": scratch_db},
                         check=True, capture_output=True, text=True)
    assert f"{HEAD} (head)" in out.stdout
    missing = subprocess.run([*base, "current"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "CCPROS_DATABASE_URL" in missing.stderr


# -- ensure_call ----------------------------------------------------------------
async def test_ensure_call_creates_then_is_idempotent(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0, called_number="3000", caller_raw="0612345678",
                            caller_number="+33612345678", entry_kind="national")
    first = await store.get_call(linkedid)
    await store.ensure_call(linkedid, arrived_at=T0, called_number="3000", caller_raw="0612345678",
                            caller_number="+33612345678", entry_kind="national")
    second = await store.get_call(linkedid)
    assert first is not None and second is not None
    assert {k: v for k, v in first.items() if k != "updated_at"} == {
        k: v for k, v in second.items() if k != "updated_at"
    }
    assert second["outcome"] == "in_progress" and second["fallback"] is False
    assert len(await store.recent_calls()) == 1


async def test_ensure_call_never_overwrites_with_null_or_default(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0, called_number="3000", entry_kind="office")
    await store.ensure_call(linkedid, arrived_at=T0 + timedelta(seconds=2), caller_raw="anonymous")
    await store.ensure_call(linkedid, arrived_at=T0 - timedelta(seconds=1), called_number="9999",
                            entry_kind="national", caller_raw="other")
    row = await store.get_call(linkedid)
    assert row is not None
    assert row["called_number"] == "3000"  # known value kept
    assert row["entry_kind"] == "office"  # known (non-default) value kept
    assert row["caller_raw"] == "anonymous"
    assert row["caller_number"] is None
    assert row["arrived_at"] == T0 - timedelta(seconds=1)  # earliest


async def test_ensure_call_fills_default_entry_kind_and_truncates_caller_raw(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0, caller_raw="x" * 200)
    row = await store.get_call(linkedid)
    assert row is not None and row["entry_kind"] == "unknown" and row["caller_raw"] == "x" * 80
    await store.ensure_call(linkedid, arrived_at=T0, entry_kind="national")
    row = await store.get_call(linkedid)
    assert row is not None and row["entry_kind"] == "national"


async def test_ensure_call_concurrent_partial_fields(store: CallStore) -> None:
    """The FastAGI app and the AMI listener race on the same call: one row, both halves."""
    ids = [lid() for _ in range(20)]
    agi = [store.ensure_call(i, arrived_at=T0 + timedelta(milliseconds=5), called_number="3000",
                             entry_kind="national") for i in ids]
    ami = [store.ensure_call(i, arrived_at=T0, caller_raw="+33612345678",
                             caller_number="+33612345678") for i in ids]
    await asyncio.gather(*itertools.chain.from_iterable(zip(agi, ami)))
    for i in ids:
        row = await store.get_call(i)
        assert row is not None
        assert (row["called_number"], row["entry_kind"], row["caller_number"], row["arrived_at"]) == (
            "3000", "national", "+33612345678", T0)
    assert len(await store.recent_calls(limit=100)) == len(ids)


async def test_naive_datetimes_rejected(store: CallStore) -> None:
    with pytest.raises(ValueError):
        await store.ensure_call(lid(), arrived_at=datetime(2025, 1, 1, 12, 0))
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    with pytest.raises(ValueError):
        await store.set_if_null(linkedid, answered_at=datetime(2025, 1, 1, 12, 0))


# -- update_call / set_if_null ----------------------------------------------------
async def test_update_call_sets_columns_and_rejects_unknown(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    before = await store.get_call(linkedid)
    await store.update_call(linkedid, topic="impots", queue="q_national", fallback=True, menu_reason="choice")
    row = await store.get_call(linkedid)
    assert before is not None and row is not None
    assert (row["topic"], row["queue"], row["fallback"], row["menu_reason"]) == (
        "impots", "q_national", True, "choice")
    assert row["updated_at"] >= before["updated_at"]
    assert (row["office_id"], row["misdirected"], row["transferred_to_office"]) == (None, False, False)
    for bad in ({"bogus": 1}, {"id": 5}, {"linkedid": "x"}, {"updated_at": T0}):
        with pytest.raises(ValueError):
            await store.update_call(linkedid, **bad)
    await store.update_call("no-such-call", topic="x")  # no row: no error


async def test_set_if_null_only_fills_nulls(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    await store.set_if_null(linkedid, queued_at=T0 + timedelta(seconds=10))
    await store.set_if_null(linkedid, queued_at=T0 + timedelta(seconds=30),
                            answered_at=T0 + timedelta(seconds=40))
    row = await store.get_call(linkedid)
    assert row is not None
    assert row["queued_at"] == T0 + timedelta(seconds=10)
    assert row["answered_at"] == T0 + timedelta(seconds=40)
    with pytest.raises(ValueError):
        await store.set_if_null(linkedid, nope=T0)


async def test_update_call_office_columns(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0, entry_kind="office")
    await store.update_call(linkedid, office_id="sie-64445-01", covering_site="pau", home_site="pau",
                            caller_name="SARL Dupont " + "x" * 100, misdirected=True, transferred_to_office=True)
    await store.set_if_null(linkedid, transferred_at=T0 + timedelta(minutes=2))
    await store.set_if_null(linkedid, transferred_at=T0 + timedelta(minutes=5))
    row = await store.get_call(linkedid)
    assert row is not None
    assert (row["office_id"], row["covering_site"], row["home_site"]) == ("sie-64445-01", "pau", "pau")
    assert row["caller_name"] == ("SARL Dupont " + "x" * 100)[:80]
    assert (row["misdirected"], row["transferred_to_office"]) == (True, True)
    assert row["transferred_at"] == T0 + timedelta(minutes=2)
    with pytest.raises(ValueError):
        await store.update_call(linkedid, transferred_at=datetime(2025, 1, 1, 12, 0))


async def test_web_event_source(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    await store.add_event(linkedid, T0, "web", "note", {"advisor": "pau-01"})
    assert [e["source"] for e in await store.call_events(linkedid)] == ["web"]


# -- finish_call ----------------------------------------------------------------
CASES = {
    "closed": dict(outcome="closed", menu_at=T0),
    "misdirected": dict(outcome="misdirected", misdirected=True, menu_at=T0),
    "office_line": dict(outcome="office_line", office_id="sie-75056-01"),
    "answered": dict(menu_at=T0, queued_at=T0, answered_at=T0),
    "abandoned_queue": dict(menu_at=T0, queued_at=T0),
    "abandoned_menu": dict(menu_at=T0),
    "failed": {},
}


@pytest.mark.parametrize("expected", list(CASES))
async def test_finish_call_outcomes_and_idempotence(store: CallStore, expected: str) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    if CASES[expected]:
        await store.update_call(linkedid, **CASES[expected])
    end = T0 + timedelta(minutes=3)
    assert await store.finish_call(linkedid, ended_at=end, hangup_cause="16") == expected
    # A late event must not change the decided outcome; a second finish changes nothing.
    await store.set_if_null(linkedid, answered_at=T0 + timedelta(minutes=4))
    before = await store.get_call(linkedid)
    later = end + timedelta(minutes=1)
    assert await store.finish_call(linkedid, ended_at=later, hangup_cause="17") == expected
    row = await store.get_call(linkedid)
    assert row == before
    assert row is not None and (row["outcome"], row["ended_at"], row["hangup_cause"]) == (expected, end, "16")


async def test_finish_call_fills_hangup_cause_later(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    assert await store.finish_call(linkedid, ended_at=T0) == "failed"
    assert await store.finish_call(linkedid, ended_at=T0, hangup_cause="21") == "failed"
    row = await store.get_call(linkedid)
    assert row is not None and row["hangup_cause"] == "21"


async def test_finish_unknown_call_raises(store: CallStore) -> None:
    with pytest.raises(LookupError):
        await store.finish_call("nope", ended_at=T0)


async def test_decide_outcome_agrees_with_sql(store: CallStore) -> None:
    stamps = ("menu_at", "queued_at", "answered_at")
    for outcome in OUTCOMES:
        for present in itertools.product((False, True), repeat=3):
            row = {"outcome": outcome} | {s: (T0 if p else None) for s, p in zip(stamps, present)}
            linkedid = lid()
            await store.ensure_call(linkedid, arrived_at=T0)
            await store.update_call(linkedid, **row)
            got = await store.finish_call(linkedid, ended_at=T0)
            assert got == decide_outcome(row), row


# -- previous contacts / call context ------------------------------------------------
CALLER = "+33612345678"
NOW = T0 + timedelta(days=40)


async def _past_call(store: CallStore, arrived_at: datetime, caller: str | None = CALLER, **fields) -> str:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=arrived_at, caller_number=caller, called_number="+33465710064",
                            entry_kind="office")
    if fields:
        await store.update_call(linkedid, **fields)
    return linkedid


async def test_previous_contacts_newest_first_within_window(store: CallStore) -> None:
    since = NOW - timedelta(days=30)
    too_old = await _past_call(store, NOW - timedelta(days=31))
    oldest = await _past_call(store, NOW - timedelta(days=29), topic="tva", outcome="answered",
                              advisor_id="pau-01", site_id="pau", office_id="sie-64445-01", home_site="pau")
    newest = await _past_call(store, NOW - timedelta(hours=1), outcome="misdirected", misdirected=True)
    middle = await _past_call(store, NOW - timedelta(days=3))
    await _past_call(store, NOW - timedelta(days=2), caller="+33698765432")  # someone else
    await _past_call(store, NOW - timedelta(days=2), caller=None)
    got = await store.previous_contacts(CALLER, since=since)
    assert [c["linkedid"] for c in got] == [newest, middle, oldest]
    assert too_old not in {c["linkedid"] for c in got}
    assert got[2] == {"linkedid": oldest, "arrived_at": NOW - timedelta(days=29), "outcome": "answered",
                      "topic": "tva", "office_id": "sie-64445-01", "home_site": "pau", "advisor_id": "pau-01",
                      "site_id": "pau"}
    assert got[0]["outcome"] == "misdirected"
    # since is inclusive; limit keeps the newest
    assert [c["linkedid"] for c in await store.previous_contacts(CALLER, since=NOW - timedelta(days=31))] == [
        newest, middle, oldest, too_old]
    assert [c["linkedid"] for c in await store.previous_contacts(CALLER, since=since, limit=2)] == [newest, middle]
    assert await store.previous_contacts("+33100000000", since=since) == []
    with pytest.raises(ValueError):
        await store.previous_contacts(CALLER, since=datetime(2025, 1, 1))


async def test_previous_contacts_before_a_call(store: CallStore) -> None:
    since = NOW - timedelta(days=30)
    first = await _past_call(store, NOW - timedelta(days=5))
    current = await _past_call(store, NOW - timedelta(days=1))
    same_instant_later = await _past_call(store, NOW - timedelta(days=1))  # inserted after current
    await _past_call(store, NOW - timedelta(hours=2))  # arrived after the current call
    got = await store.previous_contacts(CALLER, since=since, before_linkedid=current)
    assert [c["linkedid"] for c in got] == [first]
    got = await store.previous_contacts(CALLER, since=since, before_linkedid=same_instant_later)
    assert [c["linkedid"] for c in got] == [current, first]
    # an unknown call is only left out
    assert len(await store.previous_contacts(CALLER, since=since, before_linkedid="nope")) == 4


def test_previous_contacts_use_the_caller_index(db_url: str) -> None:
    from sqlalchemy.dialects import postgresql

    from ccpros_agi.store.repo import contacts_query

    stmt = contacts_query(CALLER, since=T0, exclude="x.1", before=(NOW, 10))
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with _connect(db_url) as conn:
        conn.execute("SET enable_seqscan = off")  # an empty table: make the planner show what it can use
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}"))
    assert "ix_calls_caller_number_arrived_at" in plan, plan


async def test_call_context(store: CallStore) -> None:
    await _past_call(store, NOW - timedelta(days=31))  # outside 30 days
    earlier = await _past_call(store, NOW - timedelta(days=10), topic="tva", outcome="answered")
    linkedid = await _past_call(store, NOW - timedelta(minutes=2), topic="conseiller", office_id="sie-64445-01",
                                covering_site="pau", home_site="pau", queue="q-pau-conseiller",
                                caller_name="SARL Dupont", advisor_id="pau-04", site_id="pau",
                                answered_at=NOW - timedelta(minutes=1))
    await _past_call(store, NOW - timedelta(minutes=1))  # a later call of the same caller
    context = await store.call_context(linkedid, history_days=30, now=NOW)
    assert context is not None
    contacts = context.pop("previous_contacts")
    assert context == {
        "linkedid": linkedid, "caller_number": CALLER, "caller_name": "SARL Dupont",
        "called_number": "+33465710064", "entry_kind": "office", "office_id": "sie-64445-01",
        "topic": "conseiller", "home_site": "pau", "covering_site": "pau", "queue": "q-pau-conseiller",
        "advisor_id": "pau-04", "site_id": "pau", "outcome": "in_progress", "arrived_at": NOW - timedelta(minutes=2),
        "answered_at": NOW - timedelta(minutes=1), "misdirected": False,
    }
    assert [c["linkedid"] for c in contacts] == [earlier]
    assert (await store.call_context(linkedid, history_days=5, now=NOW))["previous_contacts"] == []  # type: ignore[index]
    assert await store.call_context("no-such-call", history_days=30, now=NOW) is None


async def test_call_context_without_caller_number(store: CallStore) -> None:
    await _past_call(store, NOW - timedelta(days=1), caller=None)
    linkedid = await _past_call(store, NOW, caller=None)
    context = await store.call_context(linkedid, history_days=30, now=NOW)
    assert context is not None and context["caller_number"] is None and context["previous_contacts"] == []


# -- events ---------------------------------------------------------------------
async def test_events_ordered_by_time_then_insertion(store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    await store.add_event(linkedid, T0 + timedelta(seconds=5), "ami", "queue_join", {"queue": "q1"})
    await store.add_event(linkedid, T0, "agi", "arrived", {"at": T0})
    await store.add_event(linkedid, T0 + timedelta(seconds=5), "agi", "menu", {})
    await store.add_event(linkedid, T0 + timedelta(seconds=1), "dialplan", "fallback", {"n": 1})
    events = await store.call_events(linkedid)
    assert [e["kind"] for e in events] == ["arrived", "fallback", "queue_join", "menu"]
    assert events[0]["data"] == {"at": T0.isoformat()}
    assert events[2]["data"] == {"queue": "q1"} and events[2]["source"] == "ami"
    assert await store.call_events("other") == []


async def test_event_needs_call_row_and_valid_source(store: CallStore) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        await store.add_event(lid(), T0, "agi", "x", {})
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    with pytest.raises(IntegrityError):
        await store.add_event(linkedid, T0, "sipp", "x", {})


async def test_recent_calls_newest_first(store: CallStore) -> None:
    ids = [lid() for _ in range(3)]
    for n, i in enumerate(ids):
        await store.ensure_call(i, arrived_at=T0 + timedelta(seconds=n))
    recent = await store.recent_calls(limit=2)
    assert [r["linkedid"] for r in recent] == [ids[2], ids[1]]


# -- cel writer -----------------------------------------------------------------
CEL_PGSQL_COLUMNS_QUERY = (
    "SELECT a.attname, t.typname, a.attlen, a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid) adsrc,"
    " a.atttypmod FROM (((pg_catalog.pg_class c INNER JOIN pg_catalog.pg_namespace n"
    " ON n.oid = c.relnamespace"
    " AND c.relname = 'cel' AND n.nspname = current_schema()) INNER JOIN pg_catalog.pg_attribute a"
    " ON (NOT a.attisdropped) AND a.attnum > 0 AND a.attrelid = c.oid) INNER JOIN pg_catalog.pg_type t"
    " ON t.oid = a.atttypid) LEFT OUTER JOIN pg_attrdef d ON a.atthasdef AND d.adrelid = a.attrelid"
    " AND d.adnum = a.attnum ORDER BY n.nspname, c.relname, attnum"
)


async def test_cel_writer_role_least_privilege(db_info, store: CallStore) -> None:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=T0)
    with _connect(db_info.url, user=db_info.cel_user, password=db_info.cel_password) as conn:
        # What cel_pgsql does at load: read the column list from the catalog.
        cols = [r[0] for r in conn.execute(CEL_PGSQL_COLUMNS_QUERY).fetchall()]
        assert cols[:3] == ["id", "eventtype", "eventtime"] and "linkedid" in cols and "extra" in cols
        # What it does per event (usegmtime=yes: UTC wall-clock string, DEFAULT for unknown columns).
        conn.execute(
            "INSERT INTO cel (id, eventtype, eventtime, amaflags, cid_num, uniqueid, linkedid, extra)"
            " VALUES (DEFAULT, 'CHAN_START', '2025-03-14 09:30:00.250000', 3, '0612345678', %s, %s, '')",
            (linkedid, linkedid),
        )
        assert conn.execute("SELECT count(*) FROM cel").fetchone() == (1,)
        denied = [
            "SELECT * FROM calls",
            "SELECT * FROM call_events",
            f"INSERT INTO calls (linkedid, arrived_at) VALUES ('{lid()}', now())",
            "UPDATE cel SET extra = 'x'",
            "DELETE FROM cel",
            "TRUNCATE cel",
            "DROP TABLE cel",
            "DROP TABLE calls",
            "CREATE TABLE evil (id int)",
        ]
        for stmt in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(stmt)
    assert await store.count_cel(linkedid) == 1
    with _connect(db_info.url) as conn:
        (eventtime,) = conn.execute("SELECT eventtime FROM cel").fetchone()  # type: ignore[misc]
    assert eventtime == T0 + timedelta(milliseconds=250)


def test_db_info_fields(db_info) -> None:
    assert db_info.host == "127.0.0.1" or os.environ.get("CCPROS_TEST_DATABASE_URL")
    assert db_info.dbname in db_info.url and db_info.cel_user and db_info.cel_password
    assert make_url(db_info.url).drivername == "postgresql+psycopg"


# -- cluster ----------------------------------------------------------------------
def test_url_quotes_password(pg_cluster) -> None:
    name, password = f"ccpros_q_{secrets.token_hex(3)}", "p@ss:w/rd%?#&= é"
    ensure_role(pg_cluster.admin_url, name, password)
    try:
        cluster = pg_cluster.cluster
        url = (cluster or pg_cluster).url("postgres", name, password)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_user")).scalar_one() == name
        finally:
            engine.dispose()
    finally:
        drop_role(pg_cluster.admin_url, name)


def test_private_cluster_lifecycle_idempotent() -> None:
    try:
        find_bindir()
    except FileNotFoundError:
        pytest.skip("no PostgreSQL server binaries")
    parent = Path(tempfile.mkdtemp(prefix="ccpros-pgtest-"))
    os.chmod(parent, 0o711)
    cluster = PrivateCluster(parent / "sub" / "data", port=free_port())
    try:
        assert not cluster.is_running()
        cluster.stop()  # not even initialised: no-op
        cluster.init(superuser_password="s3cr'et")
        cluster.init()
        assert (cluster.datadir / "PG_VERSION").is_file()
        cluster.start()
        cluster.start()
        assert cluster.is_running()
        cluster.ensure_database("appdb", "appowner", "pw1")
        cluster.ensure_database("appdb", "appowner", "pw2")  # idempotent, password reset
        with _connect(cluster.url("appdb", "appowner", "pw2")) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        cluster.stop()
        cluster.stop()
        assert not cluster.is_running()
        cluster = PrivateCluster(cluster.datadir, cluster.port)  # as after a platform restart
        cluster.init(superuser_password="s3cr'et")  # no initdb, password remembered
        cluster.start()  # data survives a restart
        cluster.ensure_role("other", "pw3")
        with _connect(cluster.url("appdb", "appowner", "pw2")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("appdb",)
        assert "s3cr" not in repr(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)
    assert not cluster.is_running()
