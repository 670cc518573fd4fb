"""Appointments' return calls with real SIP legs: at the appointment's time the office's agent clicks
"Appeler" (POST /api/appointments/{id}/call); the agent's phone, on the office's own line behind the
administration's gateway (conftest.gateway), rings first; once it answered, the business is called
through the carrier (a SIPp on the trunk's address, conftest.business_port), with the office's
published number as caller ID; the result is the appointment's outcome.

The appointment is written straight into the database: the test platform's agenda (the demo's
appointments.yaml: 2 hours' notice, office hours) cannot book a slot that is now."""
from __future__ import annotations

import json
import random
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.integration.sip import SCENARIOS, TRUNK_IP, Sipp, wait_for

pytestmark = pytest.mark.integration

PAU = "sie-64445-01"
PAU_LINE = "+33465719064"          # config/offices.csv: the office's own line (the agent's phone)
PAU_NUMBER = "+33465710064"        # its published number: the caller ID the business sees
STAMP = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$")


def invites(trace: Path) -> list[tuple[datetime, str, str]]:
    """(received at, called number, From header) of each INVITE in a SIPp message log."""
    out: list[tuple[datetime, str, str]] = []
    at: datetime | None = None
    lines = trace.read_text(errors="replace").splitlines() if trace.exists() else []
    for index, line in enumerate(lines):
        if match := STAMP.match(line):
            at = datetime.fromisoformat(match.group(1))
        elif line.startswith("INVITE sip:") and at is not None:
            number = line.split()[1].split("@")[0].removeprefix("sip:")
            sender = next((x for x in lines[index:index + 15] if x.lower().startswith("from:")), "")
            out.append((at, number, sender))
    return out


@pytest.fixture
def company(platform, business_port, workdir):
    """The businesses behind the carrier (as test_callbacks.business): answers or lets it ring."""
    started: list[Sipp] = []

    def start(scenario: str = "business_answers.xml", talk_ms: int = 2000) -> Path:
        path = workdir / f"appt-business-{len(started)}.xml"
        path.write_text((SCENARIOS / scenario).read_text().replace("[talk_ms]", str(talk_ms)))
        trace = workdir / f"appt-business-{len(started)}-messages.log"
        started.append(Sipp(platform.ports.sip, path, ip=TRUNK_IP, service="business", workdir=workdir,
                            server=True, calls=None, timeout_s=600, port=business_port,
                            extra=["-trace_msg", "-message_file", str(trace)]).start())
        return trace

    yield start
    for sipp in started:
        sipp.stop()


def api(platform, method: str, path: str, body: dict | None = None) -> tuple[int, dict | list]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{platform.ports.web}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def appointment(records, phone: str, *, starts_in: timedelta = timedelta(minutes=-1), channel: str = "phone",
                reason: str = "tva", minutes: int = 30) -> int:
    """An appointment of the Pau office, booked, straight in the database (an agent slot of its own: no
    overlap with what other tests book)."""
    start = datetime.now(timezone.utc) + starts_in
    return records.query(
        "INSERT INTO appointments (office_id, reason, channel, starts_at, ends_at, agent_slot, phone,"
        " business_name) VALUES (%s, %s, %s, %s, %s, %s, %s, 'Boulangerie Test') RETURNING id",
        PAU, reason, channel, start, start + timedelta(minutes=minutes), random.randrange(1000, 10**9),
        phone)[0]["id"]


def status_of(records, appointment_id: int) -> str:
    return records.query("SELECT status FROM appointments WHERE id = %s", appointment_id)[0]["status"]


def test_the_return_call_rings_the_agent_then_the_business(platform, gateway, company, records,
                                                           new_caller_number):
    trace = company("business_answers.xml", talk_ms=2000)
    phone = new_caller_number()
    appointment_id = appointment(records, phone)
    status, call = api(platform, "POST", f"/api/appointments/{appointment_id}/call", {"agent_id": "agent-pau"})
    assert status == 202, call
    assert call["attempt"] == 1 and call["office_line"] == PAU_LINE and call["caller_id"] == PAU_NUMBER
    # a second click while the first call is under way changes nothing
    again, refused = api(platform, "POST", f"/api/appointments/{appointment_id}/call")
    assert again == 409 and "under way" in refused["error"]
    wait_for(lambda: status_of(records, appointment_id) != "booked", timeout=60, what="outcome recorded")
    assert status_of(records, appointment_id) == "honoured"
    agent = invites(gateway.trace)
    business = invites(trace)
    assert [number for _, number, _ in agent] == [PAU_LINE]          # the agent's phone rang, once
    assert [number for _, number, _ in business] == [phone]          # then the business, once
    assert agent[0][0] < business[0][0]                               # the agent first
    assert PAU_NUMBER in business[0][2]                               # the office's number is shown
    assert phone in agent[0][2]                                       # the agent sees whom they call
    status, calls = api(platform, "GET", f"/api/appointments/{appointment_id}/calls")
    assert status == 200 and len(calls) == 1
    (attempt,) = calls
    assert attempt["result"] == "answered" and attempt["started_by"] == "agent-pau"
    assert attempt["started_at"] < attempt["agent_answered_at"] < attempt["ended_at"]
    # honoured: no second call
    status, body = api(platform, "POST", f"/api/appointments/{appointment_id}/call")
    assert status == 409 and "honoured" in body["error"]


def test_a_business_that_does_not_answer_is_a_no_answer(platform, gateway, company, records, new_caller_number):
    trace = company("business_no_answer.xml")
    phone = new_caller_number()
    appointment_id = appointment(records, phone, starts_in=timedelta(minutes=5))   # 5 minutes early: allowed
    status, call = api(platform, "POST", f"/api/appointments/{appointment_id}/call")
    assert status == 202, call
    wait_for(lambda: status_of(records, appointment_id) != "booked", timeout=60, what="outcome recorded")
    assert status_of(records, appointment_id) == "no_answer"
    assert [number for _, number, _ in invites(gateway.trace)] == [PAU_LINE]
    assert [number for _, number, _ in invites(trace)] == [phone]
    (attempt,) = api(platform, "GET", f"/api/appointments/{appointment_id}/calls")[1]
    assert attempt["result"] == "no_answer" and attempt["agent_answered_at"] is not None


def test_refusals_change_nothing(platform, records, new_caller_number):
    early = appointment(records, new_caller_number(), starts_in=timedelta(minutes=30))
    status, body = api(platform, "POST", f"/api/appointments/{early}/call")
    assert status == 409 and "too early" in body["error"]
    over = appointment(records, new_caller_number(), starts_in=timedelta(minutes=-40))
    status, body = api(platform, "POST", f"/api/appointments/{over}/call")
    assert status == 409 and "ended" in body["error"]
    desk = appointment(records, new_caller_number(), channel="desk", reason="creation", minutes=45)
    status, body = api(platform, "POST", f"/api/appointments/{desk}/call")
    assert status == 422 and "desk" in body["error"]
    assert api(platform, "POST", "/api/appointments/999999999/call")[0] == 404
    for appointment_id in (early, over, desk):
        assert status_of(records, appointment_id) == "booked"
        assert api(platform, "GET", f"/api/appointments/{appointment_id}/calls") == (200, [])
    # the agenda page shows the button only for the appointment that can be called now
    now_id = appointment(records, new_caller_number())
    with urllib.request.urlopen(f"http://127.0.0.1:{platform.ports.web}/agenda/{PAU}", timeout=10) as page:
        text = page.read().decode()
    assert f"/agenda/{PAU}/call/{now_id}?" in text
    assert f"/call/{early}?" not in text and f"/call/{desk}?" not in text
    records.query("UPDATE appointments SET status = 'cancelled' WHERE id = %s RETURNING id", now_id)
