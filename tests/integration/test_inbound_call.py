"""A real call from the national number to an advisor, recorded in PostgreSQL.

Every test places real SIP calls with SIPp through the trunk (127.0.0.2) into the real
Asterisk, with advisors' phones registered and logged in by feature code."""
from __future__ import annotations

import subprocess

import pytest

from tests.integration.conftest import NATIONAL
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration


def menu_seconds(platform) -> float:
    """How long the menu prompt lasts, so that a silent caller waits it out."""
    wav = platform.instance.sounds_dir / "menu.wav"
    return float(subprocess.run(["soxi", "-D", str(wav)], capture_output=True, text=True, check=True).stdout)


def test_topic_choice_is_answered_by_an_advisor_of_that_topic(platform, phones, caller, records,
                                                            new_caller_number):
    phones("pau-01", "pau-02")                       # pau-01: tva, cfe; pau-02: paiement
    number = new_caller_number()
    result = caller.sipp(NATIONAL, number, dtmf="4", hangup_after_ms=5000).run()
    assert result.ok, result.output

    call = records.final(number)
    assert call["outcome"] == "answered"
    assert call["called_number"] == NATIONAL and call["caller_number"] == number
    assert call["entry_kind"] == "national"
    assert (call["topic"], call["menu_reason"], call["queue"]) == ("paiement", "choice", "q-paiement")
    assert (call["advisor_id"], call["site_id"]) == ("pau-02", "pau")
    assert call["fallback"] is False
    assert call["arrived_at"] <= call["menu_at"] <= call["queued_at"] <= call["answered_at"] <= call["ended_at"]
    kinds = records.events(call["linkedid"])
    for kind in ("menu_choice", "queued", "answered", "ended"):
        assert kind in kinds
    wait_for(lambda: records.cel_count(call["linkedid"]) > 0, what="CEL rows of the call")

    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf="1", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["topic"], call["advisor_id"], call["outcome"]) == ("tva", "pau-01", "answered")


def test_no_key_reaches_an_advisor(platform, phones, caller, records, new_caller_number):
    phones("morlaix-04")
    number = new_caller_number()
    wait_ms = int((menu_seconds(platform) + platform.config.menu_timeout_seconds + 3) * 1000)
    assert caller.sipp(NATIONAL, number, hangup_after_ms=wait_ms).run().ok
    call = records.final(number)
    assert (call["topic"], call["menu_reason"], call["queue"]) == ("conseiller", "no_input", "q-conseiller")
    assert (call["outcome"], call["advisor_id"], call["site_id"]) == ("answered", "morlaix-04", "morlaix")


def test_wrong_key_reaches_an_advisor(platform, phones, caller, records, new_caller_number):
    phones("cahors-02")
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf="7", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["topic"], call["menu_reason"], call["outcome"]) == ("conseiller", "invalid", "answered")
    assert call["advisor_id"] == "cahors-02"


def test_topic_without_logged_in_advisor_goes_to_general_queue(platform, phones, caller, records,
                                                               new_caller_number):
    phones("pau-04")                                 # general topic only: nobody for CFE
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf="2", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["topic"], call["queue"], call["advisor_id"]) == ("cfe", "q-conseiller", "pau-04")


def test_closed_hours_play_the_closed_message(platform, closed_config, caller, records, new_caller_number):
    from dataclasses import replace

    platform.stop_service("agi")
    platform.start_service("agi", replace(platform.runtime, config_dir=str(closed_config)))
    try:
        wait_for(platform.agi_listening, what="FastAGI with the closed configuration")
        number = new_caller_number()
        result = caller.sipp(NATIONAL, number, expect_bye=True).run()
        assert result.ok, result.output                # Asterisk hangs up after the message
        call = records.final(number)
        assert call["outcome"] == "closed"
        assert call["queued_at"] is None and call["answered_at"] is None
        assert "closed" in records.events(call["linkedid"])
        # an office nobody covers keeps its own line, and outside its hours its own closed message
        number = new_caller_number()
        assert caller.sipp("+33199000175", number, expect_bye=True).run().ok
        call = records.final(number)
        assert (call["outcome"], call["office_id"], call["home_site"]) == ("closed", "sie-75056-01", None)
    finally:
        platform.stop_service("agi")
        platform.start_service("agi")
        wait_for(platform.agi_listening, what="FastAGI back")


def test_caller_hanging_up_in_menu_is_abandoned_in_menu(platform, caller, records, new_caller_number):
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, hangup_after_ms=1500).run().ok
    call = records.final(number)
    assert call["outcome"] == "abandoned_menu"
    assert call["menu_at"] is not None and call["queued_at"] is None


def test_caller_hanging_up_in_queue_is_abandoned_in_queue(platform, caller, records, new_caller_number):
    number = new_caller_number()                     # nobody logged in: the call waits, then gives up
    assert caller.sipp(NATIONAL, number, dtmf="9", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert call["outcome"] == "abandoned_queue"
    assert call["queued_at"] is not None and call["answered_at"] is None
    assert "abandoned_queue" in records.events(call["linkedid"])


def test_fastagi_down_call_still_reaches_an_advisor(platform, phones, caller, records, new_caller_number):
    phones("lisieux-01")
    platform.stop_service("agi")
    try:
        assert not platform.agi_listening()
        number = new_caller_number()
        assert caller.sipp(NATIONAL, number, dtmf="1", hangup_after_ms=4000).run().ok
        call = records.final(number)
        assert (call["outcome"], call["advisor_id"]) == ("answered", "lisieux-01")
        assert call["fallback"] is True and call["queue"] == "q-conseiller"
        assert "fallback" in records.events(call["linkedid"])
    finally:
        platform.start_service("agi")
        wait_for(platform.agi_listening, what="FastAGI back")


def test_fastagi_killed_mid_call_still_reaches_an_advisor(platform, phones, caller, records,
                                                          new_caller_number):
    phones("carpentras-01")
    number = new_caller_number()
    call_proc = caller.sipp(NATIONAL, number, hangup_after_ms=int(menu_seconds(platform) * 1000) + 8000).start()
    try:
        # the caller is listening to the menu, the handler waits for a key: kill the app
        wait_for(lambda: (r := records.by_caller(number)) and r["menu_at"], what="caller in the menu")
        platform.stop_service("agi", kill=True)
        result = call_proc.wait()
        assert result.ok, result.output
        call = records.final(number)
        assert (call["outcome"], call["advisor_id"]) == ("answered", "carpentras-01")
        assert call["fallback"] is True
    finally:
        call_proc.stop()
        platform.start_service("agi")
        wait_for(platform.agi_listening, what="FastAGI back")


def test_advisor_login_and_logout_by_feature_code(platform, phones):
    (phone,) = phones("alencon-01", login=False)
    assert "alencon-01" not in platform.instance.rx("queue show q-conseiller")
    phone.login()
    members = platform.instance.rx("queue show q-conseiller")
    assert "alencon-01" in members
    phone.logout()
    assert "alencon-01" not in platform.instance.rx("queue show q-conseiller")


def test_advisor_on_a_call_is_not_rung_again(platform, phones, caller, records, new_caller_number):
    phones("perpignan-01")
    first, second = new_caller_number(), new_caller_number()
    call_1 = caller.sipp(NATIONAL, first, dtmf="9", hangup_after_ms=9000).start()
    wait_for(lambda: (r := records.by_caller(first)) and r["answered_at"], what="first call answered")
    call_2 = caller.sipp(NATIONAL, second, dtmf="9", hangup_after_ms=9000).start()
    assert call_1.wait().ok and call_2.wait().ok
    one, two = records.final(first), records.final(second)
    assert one["advisor_id"] == two["advisor_id"] == "perpignan-01"
    # the second caller waited in queue until the advisor hung up with the first one
    assert two["queued_at"] < one["ended_at"] <= two["answered_at"]


def test_unknown_number_and_hostile_caller_id_still_reach_an_advisor(platform, phones, caller, records):
    phones("chalons-en-champagne-01")
    # a valid SIP URI whose user part is no phone number, and a display name full of dialplan syntax
    hostile = "0353019999&x,y$z"
    result = caller.sipp("0261910999", hostile, dtmf="9", hangup_after_ms=4000,
                         display="Eve ${SHELL(id)} & ; | ' \\\" x").run()
    assert result.ok, result.output
    rows = records.query("SELECT * FROM calls WHERE called_number = %s ORDER BY id DESC", "+33261910999")
    assert rows, "the call to an unknown number was not recorded"
    call = rows[0]
    assert call["entry_kind"] == "unknown"
    assert call["caller_number"] is None                 # not a valid number: not stored as one
    assert (call["outcome"], call["advisor_id"]) == ("answered", "chalons-en-champagne-01")


def test_status_page_and_call_api(platform, caller, records, new_caller_number):
    import json
    import urllib.request

    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, hangup_after_ms=1000).run().ok
    call = records.final(number)
    base = f"http://127.0.0.1:{platform.ports.web}"
    with urllib.request.urlopen(f"{base}/status") as r:
        assert json.load(r) == {"ok": True, "database": True, "ami": True}
    with urllib.request.urlopen(f"{base}/api/calls/{call['linkedid']}") as r:
        body = json.load(r)
    assert body["caller_number"] == number and body["outcome"] == "abandoned_menu"
    assert [e["kind"] for e in body["events"]][0] == "channel_created"
    with urllib.request.urlopen(f"{base}/") as r:
        page = r.read().decode()
    assert "ccpros" in page and number in page
