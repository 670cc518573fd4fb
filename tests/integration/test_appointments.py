"""Office agendas against the real PostgreSQL, a real local SMTP server (aiosmtpd) and a local HTTP
SMS gateway: booking through the API, the agenda, exactly-once delivery of the confirmations,
reschedule, cancel, refusals that change nothing, retries. No Asterisk needed."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from ccpros_agi.appointments.config import (
    Agenda,
    AppointmentsConfig,
    Credentials,
    Notifications,
    Period,
    SmsSettings,
    SmtpSettings,
    load_appointments,
)
from ccpros_agi.appointments.notifier import Notifier
from ccpros_agi.appointments.senders import dispatcher_for
from ccpros_agi.config import load_config
from ccpros_agi.routing import is_holiday
from ccpros_agi.store.appointments import AppointmentStore
from ccpros_agi.store.pgcluster import free_port
from ccpros_agi.web_appointments import add_routes

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
PAU = "sie-64445-01"
BAYONNE = "sie-64102-01"


@pytest.fixture(autouse=True)
def _dump_on_failure():
    """Overrides the integration conftest's (which starts Asterisk): these tests do not need it."""
    yield


# --- the outside world: SMTP server, SMS gateway ----------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, box
    finally:
        controller.stop()


class Gateway:
    """Records every POST; answers the statuses of ``fail_with`` first, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_with: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append({"json": await request.json(), "headers": dict(request.headers)})
        if self.fail_with:
            return web.Response(status=self.fail_with.pop(0), text="gateway trouble")
        return web.json_response({"status": "queued"})


@pytest.fixture
async def sms_gateway():
    gateway = Gateway()
    app = web.Application()
    app.router.add_post("/sms", gateway.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/sms", gateway
    finally:
        await runner.cleanup()


# --- the agenda under test ----------------------------------------------------------------------------


def _test_day(config: AppointmentsConfig) -> date:
    """A day 2 to 10 days ahead that is no public holiday (every weekday has periods below)."""
    day = datetime.now(PARIS).date() + timedelta(days=2)
    while is_holiday(config.hours, day):
        day += timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def platform_config():
    return load_config(CONFIG_DIR)


@pytest.fixture
def appt_config(platform_config, smtp_server, sms_gateway) -> AppointmentsConfig:
    base = load_appointments(platform_config)
    assert base is not None
    one = Agenda(weekly={d: (Period(time(9), time(12), 1), Period(time(14), time(16), 2)) for d in range(7)},
                 reasons=("tva", "creation"))
    return dataclasses.replace(
        base, default=one, offices={}, min_notice_minutes=60,
        notifications=Notifications(
            smtp=SmtpSettings("127.0.0.1", smtp_server[0], "DGFiP <no-reply@dgfip.example>", timeout_seconds=5),
            sms=SmsSettings(sms_gateway[0], timeout_seconds=5), reminder_time=time(10), max_attempts=3,
            backoff_seconds=1, backoff_max_seconds=10, poll_seconds=1))


def _truncate(url: str) -> None:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         autocommit=True) as conn:
        conn.execute("TRUNCATE appointments, outbox RESTART IDENTITY CASCADE")


@pytest.fixture
async def appt_store(db_url, appt_config):
    _truncate(db_url)
    store = await AppointmentStore.connect(db_url, appt_config)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def send(appt_config):
    dispatcher = dispatcher_for(appt_config.notifications, Credentials(sms_token="tok"))
    try:
        yield dispatcher
    finally:
        await dispatcher.close()


@pytest.fixture
async def client(appt_store, platform_config):
    app = web.Application()
    add_routes(app, appt_store, directory=platform_config.directory,
               advisors=[a.id for a in platform_config.advisors])
    async with TestClient(TestServer(app)) as c:
        yield c


def start_of(day: date, hh: int, mm: int = 0) -> str:
    return datetime.combine(day, time(hh, mm), tzinfo=PARIS).isoformat()


def booking(day: date, hh: int = 9, mm: int = 0, **kw) -> dict[str, Any]:
    body = {"office_id": PAU, "reason": "tva", "starts_at": start_of(day, hh, mm), "phone": "06 12 34 56 78",
            "email": "gerant@example.fr", "business_name": "Boulangerie Dupont", "siren": "732829320",
            "linkedid": "1741944600.12", "advisor_id": None}
    body.update(kw)
    return body


async def snapshot(store: AppointmentStore) -> tuple[list[Any], list[Any]]:
    appts = [(a["id"], a["status"], a["starts_at"], a["agent_slot"]) for a in await store.day_agenda(PAU, _test_day(
        store.config))]
    msgs = [(m["idempotency_key"], m["status"]) for m in await store.messages()]
    return appts, msgs


# --- tests ----------------------------------------------------------------------------------------------


async def test_booking_appears_in_agenda_and_is_confirmed_once(client, appt_store, send, smtp_server,
                                                              sms_gateway) -> None:
    day = _test_day(appt_store.config)
    resp = await client.post("/api/appointments", json=booking(day))
    assert resp.status == 201, await resp.text()
    appt = await resp.json()
    assert appt["phone"] == "+33612345678" and appt["status"] == "booked" and appt["channel"] == "phone"

    agenda = await (await client.get(f"/api/offices/{PAU}/agenda", params={"date": day.isoformat()})).json()
    assert [a["id"] for a in agenda["appointments"]] == [appt["id"]]
    slots = await (await client.get(f"/api/offices/{PAU}/slots",
                                    params={"reason": "tva", "from": day.isoformat()})).json()
    assert start_of(day, 9) not in [s["starts_at"] for s in slots]  # one agent: taken
    assert start_of(day, 9, 30) in [s["starts_at"] for s in slots]
    assert (await (await client.get(f"/api/appointments/{appt['id']}")).json())["id"] == appt["id"]

    # the worker runs twice, then two workers (own engines) run at the same time
    other = await AppointmentStore.connect(str(appt_store.engine.url.render_as_string(hide_password=False)),
                                           appt_store.config)
    try:
        await Notifier(appt_store, send).run_once()
        await Notifier(appt_store, send).run_once()
        await asyncio.gather(Notifier(appt_store, send).run_once(), Notifier(other, send).run_once())
    finally:
        await other.close()
    _, box = smtp_server
    _, gateway = sms_gateway
    assert len(box.messages) == 1 and len(gateway.received) == 1
    mail = box.messages[0]
    assert mail["To"] == "gerant@example.fr" and "Confirmation" in mail["Subject"]
    assert mail["Message-ID"] == f"<appointment.{appt['id']}.booked.email@ccpros.invalid>"
    sms = gateway.received[0]
    assert sms["json"]["to"] == "+33612345678" and "confirmé" in sms["json"]["text"]
    assert sms["headers"]["Idempotency-Key"] == f"appointment:{appt['id']}:booked:sms"
    assert sms["headers"]["Authorization"] == "Bearer tok"
    assert {m["status"] for m in await appt_store.messages()} == {"sent"}


async def test_concurrent_workers_send_each_message_once(appt_store, send, smtp_server, sms_gateway,
                                                         client) -> None:
    day = _test_day(appt_store.config)
    for hh, mm in ((9, 0), (9, 30), (10, 0), (10, 30), (11, 0)):
        assert (await client.post("/api/appointments", json=booking(day, hh, mm))).status == 201
    url = appt_store.engine.url.render_as_string(hide_password=False)
    stores = [await AppointmentStore.connect(url, appt_store.config) for _ in range(3)]
    try:
        await asyncio.gather(*(Notifier(s, send).run_once() for s in stores))
    finally:
        for s in stores:
            await s.close()
    assert len(smtp_server[1].messages) == 5 and len(sms_gateway[1].received) == 5
    assert len({m["Message-ID"] for m in smtp_server[1].messages}) == 5


async def test_reschedule_moves_and_notifies(client, appt_store, send, smtp_server, sms_gateway) -> None:
    day = _test_day(appt_store.config)
    appt = await (await client.post("/api/appointments", json=booking(day))).json()
    await Notifier(appt_store, send).run_once()
    resp = await client.post(f"/api/appointments/{appt['id']}/reschedule", json={"starts_at": start_of(day, 14)})
    assert resp.status == 200, await resp.text()
    moved = await resp.json()
    assert moved["starts_at"] == datetime.combine(day, time(14), tzinfo=PARIS).astimezone(UTC).isoformat()
    assert moved["reschedules"] == 1
    slots = [s["starts_at"] for s in await (await client.get(
        f"/api/offices/{PAU}/slots", params={"reason": "tva", "from": day.isoformat()})).json()]
    assert start_of(day, 9) in slots  # the old slot is free again
    await Notifier(appt_store, send).run_once()
    await Notifier(appt_store, send).run_once()
    mails, smss = smtp_server[1].messages, sms_gateway[1].received
    assert len(mails) == 2 and len(smss) == 2
    assert "déplacé" in mails[1]["Subject"] and "déplacé" in smss[1]["json"]["text"]
    assert "14 h" in smss[1]["json"]["text"] and "au lieu du" in smss[1]["json"]["text"]
    # a second reschedule is a new event, with its own messages
    assert (await client.post(f"/api/appointments/{appt['id']}/reschedule",
                              json={"starts_at": start_of(day, 15)})).status == 200
    await Notifier(appt_store, send).run_once()
    assert len(smtp_server[1].messages) == 3


async def test_cancel_frees_the_slot_and_notifies(client, appt_store, send, smtp_server, sms_gateway) -> None:
    day = _test_day(appt_store.config)
    appt = await (await client.post("/api/appointments", json=booking(day))).json()
    assert (await client.post("/api/appointments", json=booking(day, phone="0559000000"))).status == 409
    resp = await client.post(f"/api/appointments/{appt['id']}/cancel")
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    again = await client.post(f"/api/appointments/{appt['id']}/cancel")
    assert again.status == 409 and "cancelled" in (await again.json())["error"]
    assert (await client.post("/api/appointments", json=booking(day, phone="0559000000"))).status == 201
    await Notifier(appt_store, send).run_once()
    subjects = sorted(m["Subject"] for m in smtp_server[1].messages)
    assert len(subjects) == 3 and any("Annulation" in s for s in subjects)


async def test_bad_input_is_refused_and_changes_nothing(client, appt_store) -> None:
    day = _test_day(appt_store.config)
    taken = await client.post("/api/appointments", json=booking(day))
    assert taken.status == 201
    before = await snapshot(appt_store)
    yesterday = datetime.now(PARIS).date() - timedelta(days=1)
    cases = [
        (booking(day, office_id="sie-00000-99"), 404, "unknown office"),
        (booking(day, office_id=BAYONNE, reason="cfe"), 422, "does not offer"),
        (booking(day), 409, "already taken"),
        (booking(yesterday), 422, "in the past"),
        (booking(day, 9, 10), 422, "not a slot"),
        (booking(day + timedelta(days=60)), 422, "horizon"),
        (booking(day, 9, 30, phone="12 34"), 422, "phone"),
        (booking(day, 9, 30, phone="+44 20 7946 0958"), 422, "not a French number"),
        (booking(day, 9, 30, phone="08 99 00 00 00"), 422, "neither a geographic nor a mobile"),
        (booking(day, 9, 30, email="not-an-address"), 422, "email"),
        (booking(day, 9, 30, siren="123456789"), 422, "SIREN"),
        (booking(day, 9, 30, advisor_id="nobody"), 422, "unknown advisor"),
        (booking(day, 9, 30, starts_at="tomorrow at nine"), 422, "ISO 8601"),
        (booking(day, 9, 30, reason="astrology"), 422, "unknown reason"),
    ]
    for body, status, words in cases:
        resp = await client.post("/api/appointments", json=body)
        assert resp.status == status, (body, await resp.text())
        assert words in (await resp.json())["error"], (words, await resp.text())
    resp = await client.post("/api/appointments", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "JSON" in (await resp.json())["error"]
    assert (await client.post("/api/appointments", json=[1, 2])).status == 400
    appt_id = (await taken.json())["id"]
    assert (await client.post(f"/api/appointments/{appt_id}/reschedule", json={"starts_at": start_of(
        yesterday, 9)})).status == 422
    assert (await client.post("/api/appointments/999999/cancel")).status == 404
    assert (await client.post("/api/appointments/abc/cancel")).status == 400
    assert (await client.get("/api/offices/sie-00000-99/slots", params={"reason": "tva"})).status == 404
    assert (await client.get(f"/api/offices/{PAU}/slots", params={"reason": "tva", "from": "01/12"})).status == 400
    assert (await client.post(f"/api/appointments/{appt_id}/outcome", json={"outcome": "honoured"})).status == 409
    assert (await client.post(f"/api/appointments/{appt_id}/outcome", json={"outcome": "late"})).status == 422
    assert await snapshot(appt_store) == before


async def test_the_database_refuses_overlaps_itself(client, appt_store) -> None:
    day = _test_day(appt_store.config)
    # 10 advisors click at once on a one-agent slot: one booking, nine 409s
    results = await asyncio.gather(*(client.post("/api/appointments", json=booking(day, phone=f"061234567{i}"))
                                     for i in range(10)))
    assert sorted(r.status for r in results) == [201] + [409] * 9
    # two-agent period: two bookings of the same slot get different agent slots, the third is refused
    results = await asyncio.gather(*(client.post("/api/appointments", json=booking(day, 14, phone=f"061234567{i}"))
                                     for i in range(3)))
    assert sorted(r.status for r in results) == [201, 201, 409]
    # and behind the application's back, the exclusion constraint holds
    u = make_url(appt_store.engine.url.render_as_string(hide_password=False))
    with psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ExclusionViolation):
            conn.execute(
                "INSERT INTO appointments (office_id, reason, channel, starts_at, ends_at, agent_slot, phone) "
                "SELECT office_id, reason, channel, starts_at + interval '10 minutes', "
                "ends_at + interval '10 minutes', agent_slot, phone FROM appointments LIMIT 1")


async def test_gateway_failure_is_retried_with_backoff_and_delivered_once(client, appt_store, send,
                                                                          smtp_server, sms_gateway) -> None:
    day = _test_day(appt_store.config)
    _, gateway = sms_gateway
    gateway.fail_with = [500]
    appt = await (await client.post("/api/appointments", json=booking(day))).json()
    now = datetime.now(UTC)
    first = await Notifier(appt_store, send).run_once(now)
    assert (first.sent, first.failed) == (1, 1)  # the e-mail went, the SMS did not
    sms = [m for m in await appt_store.messages(appt["id"]) if m["channel"] == "sms"][0]
    assert sms["status"] == "pending" and sms["attempts"] == 1 and "500" in sms["last_error"]
    assert sms["next_attempt_at"] >= now + timedelta(seconds=1)
    assert (await Notifier(appt_store, send).run_once(now)).sent == 0  # not due yet
    later = await Notifier(appt_store, send).run_once(now + timedelta(seconds=5))
    assert later.sent == 1
    assert len(gateway.received) == 2 and len(smtp_server[1].messages) == 1
    assert all(r["headers"]["Idempotency-Key"] == f"appointment:{appt['id']}:booked:sms" for r in gateway.received)
    sms = [m for m in await appt_store.messages(appt["id"]) if m["channel"] == "sms"][0]
    assert sms["status"] == "sent" and sms["attempts"] == 2


async def test_gives_up_after_max_attempts(client, appt_store, send, sms_gateway) -> None:
    day = _test_day(appt_store.config)
    sms_gateway[1].fail_with = [503] * 10
    await client.post("/api/appointments", json=booking(day, email=None))
    now = datetime.now(UTC)
    for step in range(5):
        await Notifier(appt_store, send).run_once(now + timedelta(minutes=step))
    [sms] = await appt_store.messages()
    assert sms["status"] == "failed" and sms["attempts"] == 3 and len(sms_gateway[1].received) == 3


async def test_reminders_are_queued_once_the_day_before(client, appt_store, send, sms_gateway) -> None:
    day = _test_day(appt_store.config)
    appt = await (await client.post("/api/appointments", json=booking(day))).json()
    eve = datetime.combine(day - timedelta(days=1), time(10, 30), tzinfo=PARIS)
    assert await appt_store.queue_reminders(eve - timedelta(hours=1)) == 0  # before reminder_time
    assert await appt_store.queue_reminders(eve) == 2
    assert await appt_store.queue_reminders(eve + timedelta(minutes=5)) == 0  # already queued
    await Notifier(appt_store, send).run_once(eve + timedelta(minutes=10))
    await Notifier(appt_store, send).run_once(eve + timedelta(minutes=20))
    texts = [r["json"]["text"] for r in sms_gateway[1].received]
    assert len(texts) == 2 and sum("rappel" in t for t in texts) == 1
    keys = {m["idempotency_key"] for m in await appt_store.messages(appt["id"])}
    assert any(k.startswith(f"appointment:{appt['id']}:reminder:") for k in keys)


async def test_outcomes_and_statistics(client, appt_store) -> None:
    day = _test_day(appt_store.config)
    ids = [(await (await client.post("/api/appointments", json=booking(day, hh))).json())["id"]
           for hh in (9, 10, 11)]
    await client.post(f"/api/appointments/{ids[2]}/cancel")
    after = datetime.combine(day, time(12), tzinfo=PARIS)
    await appt_store.record_outcome(ids[0], "honoured", after)
    await appt_store.record_outcome(ids[1], "no_answer", after)
    resp = await client.get(f"/api/offices/{PAU}/appointments/stats",
                            params={"from": day.isoformat(), "to": day.isoformat()})
    stats = await resp.json()
    assert (stats["booked"], stats["honoured"], stats["no_answer"], stats["cancelled"], stats["pending"]) == (
        3, 1, 1, 1, 0)
    reasons = await (await client.get("/api/appointments/reasons", params={"office": PAU})).json()
    assert [r["id"] for r in reasons] == ["tva", "creation"]


async def test_advisor_page_books_and_lists(client, appt_store) -> None:
    day = _test_day(appt_store.config)
    page = await client.get(f"/agenda/{PAU}", params={"date": day.isoformat()})
    assert page.status == 200 and "Réserver" in await page.text()
    form = {"reason": "tva", "starts_at": f"{day.isoformat()}T09:00", "phone": "0612345678",
            "business_name": "SARL <Test>"}
    resp = await client.post(f"/agenda/{PAU}/book", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    page = await client.get(resp.headers["Location"])
    text = await page.text()
    assert "SARL &lt;Test&gt;" in text and "+33612345678" in text and "réservé" in text
    bad = await client.post(f"/agenda/{PAU}/book", data={**form, "starts_at": f"{day.isoformat()}T09:30",
                                                         "phone": "123"})
    assert bad.status == 422 and "phone" in await bad.text()
    [booked] = await appt_store.day_agenda(PAU, day)
    assert f"/agenda/{PAU}/cancel/{booked['id']}" in text
    cancel = await client.post(f"/agenda/{PAU}/cancel/{booked['id']}?date={day.isoformat()}",
                               allow_redirects=False)
    assert cancel.status == 303
    assert (await appt_store.get(booked["id"]))["status"] == "cancelled"
    assert (await client.post(f"/agenda/{BAYONNE}/cancel/{booked['id']}")).status == 404
    assert PAU in await (await client.get("/agenda")).text()
    assert (await client.get("/agenda/sie-00000-99")).status == 404
