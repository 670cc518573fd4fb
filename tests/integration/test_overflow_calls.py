"""Timer overflow across sites, as Asterisk runs it: a call to an office's number waits for the advisors
of the office's covering site, then (after the topic's delay) any site's, in the same queue: it keeps
its place. The test configuration gives TVA a 5 s timer (conftest.TVA_OVERFLOW_S)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.integration.conftest import TVA_OVERFLOW_S
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration

PAU = "+33465710064"            # sie-64445-01, covered by Pau


def waited(call) -> float:
    return (call["answered_at"] - call["queued_at"]).total_seconds()


def test_call_waits_for_its_site_then_overflows_after_the_timer(platform, phones, caller, records,
                                                                new_caller_number):
    phones("cahors-02")                                   # TVA, at Cahors; nobody at Pau
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="1", hangup_after_ms=(TVA_OVERFLOW_S + 6) * 1000).run().ok
    call = records.final(number)
    assert (call["queue"], call["home_site"], call["overflow_policy"]) == ("q-pau-tva", "pau", "timer:5")
    assert (call["advisor_id"], call["site_id"], call["overflowed"]) == ("cahors-02", "cahors", True)
    assert call["widen_after_s"] == TVA_OVERFLOW_S
    assert waited(call) >= TVA_OVERFLOW_S - 0.5


def test_a_free_advisor_of_the_home_site_answers_at_once(platform, phones, caller, records, new_caller_number):
    phones("cahors-02", "pau-01")
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="1", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["advisor_id"], call["overflowed"]) == ("pau-01", False)
    assert waited(call) < TVA_OVERFLOW_S


def test_the_first_caller_stays_first_after_widening(platform, phones, caller, records, new_caller_number):
    first, second = new_caller_number(), new_caller_number()
    call_1 = caller.sipp(PAU, first, dtmf="1", hangup_after_ms=22000).start()
    wait_for(lambda: (r := records.by_caller(first)) and r["queued_at"], what="first caller queued")
    call_2 = caller.sipp(PAU, second, dtmf="1", hangup_after_ms=40000).start()
    wait_for(lambda: (r := records.by_caller(second)) and r["queued_at"], what="second caller queued")
    # let both widen to every site, then an advisor of another site logs in
    queued = records.by_caller(second)["queued_at"]
    wait_for(lambda: (datetime.now(timezone.utc) - queued).total_seconds() > TVA_OVERFLOW_S + 1,
             timeout=TVA_OVERFLOW_S + 5, what="both calls widened")
    phones("cahors-02")
    assert call_1.wait(60).ok and call_2.wait(60).ok
    one, two = records.final(first), records.final(second)
    assert one["advisor_id"] == two["advisor_id"] == "cahors-02"
    assert one["answered_at"] < two["answered_at"]
    assert one["overflowed"] and two["overflowed"]
