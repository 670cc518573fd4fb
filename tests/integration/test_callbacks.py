"""Callbacks with real SIP legs: a waiting caller presses the callback key, confirms their number and
hangs up; the dialer puts the callback back in the queue in the caller's turn; the advisor who takes
it is rung first (and hears "rappel"), then the business is called through the carrier (a SIPp on the
trunk's address: conftest.business_port). The test configuration: key 5, ring 5 s, 2 attempts 10 s
apart (conftest._gateway_yaml)."""
from __future__ import annotations

import time

import pytest

from ccpros_agi.callbacks.dialer import RECOVER_AFTER

from tests.integration.conftest import CALLBACK_KEY, NATIONAL
from tests.integration.sip import SCENARIOS, TRUNK_IP, Sipp, wait_for

pytestmark = pytest.mark.integration

CFE = "2"   # not "1": SIPp replays the same RTP packets for a key, and Asterisk drops an event it has seen
MENU_KEY_MS = 1500          # the menu key, once the call is answered
IN_QUEUE_MS = 12000         # the callback key, once the caller waits in the queue (after the entry messages)
CONFIRM_MS = 9000           # "1" once the number has been read out (during "Pour confirmer, tapez 1...")


class Business:
    """The businesses' phones behind the carrier: a SIPp answering (or not) every call to a business."""

    def __init__(self, sipp: Sipp, trace) -> None:
        self.sipp, self.trace = sipp, trace

    def invites(self) -> list[str]:
        text = self.trace.read_text(errors="replace") if self.trace.exists() else ""
        return [line.split()[1].split("@")[0].removeprefix("sip:")
                for line in text.splitlines() if line.startswith("INVITE sip:")]


@pytest.fixture
def business(platform, business_port, workdir):
    started = []

    def start(scenario: str = "business_answers.xml", talk_ms: int = 3000) -> Business:
        path = workdir / f"business-{len(started)}.xml"
        path.write_text((SCENARIOS / scenario).read_text().replace("[talk_ms]", str(talk_ms)))
        trace = workdir / f"business-{len(started)}-messages.log"
        sipp = Sipp(platform.ports.sip, path, ip=TRUNK_IP, service="business", workdir=workdir, server=True,
                    calls=None, timeout_s=600, port=business_port,
                    extra=["-trace_msg", "-message_file", str(trace)]).start()
        started.append(sipp)
        return Business(sipp, trace)

    yield start
    for sipp in started:
        sipp.stop()


def ask_callback(caller, number: str, *, confirm: bool = True):
    keys = ((CALLBACK_KEY, IN_QUEUE_MS),) + ((("1", CONFIRM_MS),) if confirm else ())
    return caller.sipp(NATIONAL, number, dtmf=CFE, dtmf_after_ms=MENU_KEY_MS, more_keys=keys,
                       hangup_after_ms=None, expect_bye=True, timeout_s=90).start()


def callback_of(records, number: str):
    rows = records.query("SELECT cb.* FROM callbacks cb JOIN calls c ON c.linkedid = cb.linkedid"
                         " WHERE c.caller_number = %s", number)
    return rows[0] if rows else None


def attempts(records, callback_id: int) -> list[dict]:
    return records.query("SELECT * FROM callback_attempts WHERE callback_id = %s ORDER BY attempt", callback_id)


def test_a_callback_keeps_the_callers_turn(platform, phones, caller, business, records, new_caller_number):
    company = business("business_answers.xml", talk_ms=3000)
    first, asking, later = new_caller_number(), new_caller_number(), new_caller_number()
    call_first = caller.sipp(NATIONAL, first, dtmf=CFE, hangup_after_ms=60000, timeout_s=90).start()
    wait_for(lambda: (r := records.by_caller(first)) and r["queued_at"], what="first caller waiting")
    call_asking = ask_callback(caller, asking)
    wait_for(lambda: (r := records.by_caller(asking)) and r["queued_at"], what="second caller waiting")
    call_later = caller.sipp(NATIONAL, later, dtmf=CFE, hangup_after_ms=80000, timeout_s=120).start()
    assert call_asking.wait(60).ok                          # booked: Asterisk said so and hung up
    booked = callback_of(records, asking)
    assert booked is not None and booked["number"] == asking and booked["queue"] == "q-conseiller"   # nobody logged in for CFE: the general queue
    assert records.final(asking)["outcome"] == "callback"
    wait_for(lambda: attempts(records, booked["id"]) and attempts(records, booked["id"])[0]["position"],
             what="callback back in the queue")
    assert attempts(records, booked["id"])[0]["position"] == 2       # after the first, before the later
    # an advisor logs in: the first caller, then the callback (advisor first, then the business), then
    # the later caller
    phones("pau-01")
    done = wait_for(lambda: (cb := callback_of(records, asking)) and cb["status"] == "done" and cb, timeout=90,
                    what="callback done")
    assert (done["outcome"], done["advisor_id"], done["attempts"]) == ("answered", "pau-01", 1)
    assert company.invites() == [asking]                   # the business was called once, on its number
    for call in (call_first, call_later):
        assert call.wait(120).ok
    (attempt,) = attempts(records, booked["id"])
    one, three = records.final(first), records.final(later)
    assert one["answered_at"] < attempt["dialed_at"] < three["answered_at"]
    assert attempt["result"] == "answered" and attempt["advisor_id"] == "pau-01"
    kinds = records.events(booked["linkedid"])
    assert {"callback_booked", "callback_placed", "callback_dialed", "callback_result"} <= set(kinds)
    # the advisor is rung first and hears "rappel" (Queue's announce on the queue leg, as CEL saw it), and
    # only once the advisor answered is the business dialled (Dial on the business leg)
    legs = records.query("SELECT eventtype, appname, appdata FROM cel WHERE linkedid = %s ORDER BY id",
                         attempt["channel_id"])
    queue_app = next(r["appdata"] for r in legs if r["appname"] == "Queue")
    assert queue_app.split(",")[3].endswith("/callback-whisper-cfe")          # the caller chose CFE
    assert (platform.instance.sounds_dir / "callback-whisper-cfe.wav").exists()
    steps = [(r["eventtype"], r["appname"]) for r in legs]
    assert steps.index(("ANSWER", "Queue")) < next(i for i, step in enumerate(steps) if step[1] == "Dial")


def test_an_unanswered_callback_is_retried_then_failed(platform, phones, caller, business, records,
                                                        new_caller_number):
    company = business("business_no_answer.xml")
    number = new_caller_number()
    assert ask_callback(caller, number).wait(60).ok
    phones("pau-01")
    failed = wait_for(lambda: (cb := callback_of(records, number)) and cb["status"] == "failed" and cb,
                      timeout=90, what="callback failed")
    assert (failed["attempts"], failed["outcome"]) == (2, "no_answer")
    assert [a["result"] for a in attempts(records, failed["id"])] == ["no_answer", "no_answer"]
    assert company.invites() == [number, number]


def test_a_premium_number_is_not_called_back(platform, caller, records, new_caller_number):
    premium = "+33899123456"
    call = caller.sipp(NATIONAL, premium, dtmf=CFE, dtmf_after_ms=MENU_KEY_MS, more_keys=((CALLBACK_KEY, IN_QUEUE_MS),),
                       hangup_after_ms=45000, timeout_s=90).start()
    wait_for(lambda: (r := records.by_caller(premium)) and "callback_number_refused" in records.events(r["linkedid"]),
             timeout=60, what="number refused")
    assert call.wait(90).ok
    row = records.by_caller(premium)
    assert callback_of(records, premium) is None
    assert row["outcome"] == "abandoned_queue"              # back in the queue, then hung up waiting
    assert records.events(row["linkedid"]).count("queued") >= 2


def test_a_dialer_restart_places_each_callback_once(platform, phones, caller, business, records,
                                                     new_caller_number):
    company = business("business_answers.xml", talk_ms=2000)
    number = new_caller_number()
    assert ask_callback(caller, number).wait(60).ok
    booked = wait_for(lambda: (cb := callback_of(records, number)) and cb["status"] == "placing" and cb,
                      what="callback placed")
    dialer = platform.services["dialer"]
    dialer.kill()
    dialer.wait(10)
    platform.start_service("dialer")
    # the restarted dialer finds the callback's legs still waiting in the queue (it looks after
    # dialer.RECOVER_AFTER): nothing is placed again
    time.sleep(RECOVER_AFTER.total_seconds() + 3)
    assert platform.services["dialer"].poll() is None
    phones("pau-01")
    done = wait_for(lambda: (cb := callback_of(records, number)) and cb["status"] == "done" and cb, timeout=60,
                    what="callback done")
    assert done["attempts"] == 1 and len(attempts(records, booked["id"])) == 1
    assert company.invites() == [number]


def test_a_closed_platform_offers_a_callback_at_the_next_opening(platform, closed_config, caller, records,
                                                                 new_caller_number):
    """Closed today (and the days around it): after the closed message, the next three opening slots are
    offered; the caller picks the second one and confirms their number: a callback due then."""
    import wave
    from dataclasses import replace
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from ccpros_agi.callbacks.policy import callback_slots
    from ccpros_agi.config import load_config

    with wave.open(str(platform.instance.sounds_dir / "closed.wav")) as w:
        closed_ms = int(1000 * w.getnframes() / w.getframerate())
    platform.stop_service("agi")
    platform.start_service("agi", replace(platform.runtime, config_dir=str(closed_config)))
    try:
        wait_for(platform.agi_listening, what="FastAGI with the closed configuration")
        number = new_caller_number()
        slots = callback_slots(load_config(closed_config).hours, datetime.now(ZoneInfo("Europe/Paris")))
        call = caller.sipp(NATIONAL, number, more_keys=(("2", closed_ms + 2500), ("1", 3000)),
                           hangup_after_ms=None, expect_bye=True, timeout_s=120).run(150)
        assert call.ok, call.output
        booked = callback_of(records, number)
        assert booked is not None and booked["status"] == "pending" and booked["queue"] == "q-conseiller"
        assert booked["next_attempt_at"] == booked["arrival_at"] == slots[1]
        assert records.final(number)["outcome"] == "callback"
    finally:
        platform.stop_service("agi")
        platform.start_service("agi")
        wait_for(platform.agi_listening, what="FastAGI back")
