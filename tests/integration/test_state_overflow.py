"""State-based overflow, as the platform runs it: a CFE call to an office's number waits for its home
site's advisors; the events service widens it to every site as soon as nobody is free at home and an
advisor with the skill is free elsewhere (the test configuration gives CFE "state:0",
conftest.CFE_OVERFLOW), by withdrawing it from the queue and putting it back at its place.

pau-01 (Pau) and cahors-01 (Cahors) both handle CFE; an office covered by Pau is called."""
from __future__ import annotations

import pytest

from tests.integration.conftest import CFE_OVERFLOW, NATIONAL
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration

PAU = "+33465710064"            # sie-64445-01, covered by Pau
CFE = "2"


def answered(records, number: str, advisor: str):
    return wait_for(lambda: (r := records.by_caller(number)) and r["advisor_id"] == advisor and r,
                    timeout=30, what=f"{number} answered by {advisor}")


def widened_events(records, linkedid: str) -> list[dict]:
    return records.query("SELECT data FROM call_events WHERE linkedid = %s AND kind = 'widened'", linkedid)


def test_call_widens_when_home_has_nobody_free_and_someone_is_free_elsewhere(platform, phones, caller, records,
                                                                               new_caller_number):
    phones("cahors-01")                              # nobody at Pau
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf=CFE, hangup_after_ms=8000).run().ok
    call = records.final(number)
    assert (call["queue"], call["home_site"], call["overflow_policy"]) == ("q-pau-cfe", "pau", CFE_OVERFLOW)
    assert (call["advisor_id"], call["site_id"], call["overflowed"]) == ("cahors-01", "cahors", True)
    assert call["widen_after_s"] is not None and call["widen_after_s"] < 5
    (event,) = widened_events(records, call["linkedid"])
    assert (event["data"]["reason"], event["data"]["position"]) == ("state", 1)


def test_call_stays_home_while_nobody_is_free_elsewhere(platform, phones, caller, records, new_caller_number):
    (pau,) = phones("pau-01")
    busy = new_caller_number()
    busy_call = caller.sipp(NATIONAL, busy, dtmf=CFE, hangup_after_ms=12000).start()
    answered(records, busy, "pau-01")                # Pau's only CFE advisor is on a call
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf=CFE, hangup_after_ms=20000).run().ok
    assert busy_call.wait(30).ok
    call = records.final(number)
    assert (call["advisor_id"], call["overflowed"], call["widen_after_s"]) == ("pau-01", False, None)
    assert not widened_events(records, call["linkedid"])
    assert (call["answered_at"] - call["queued_at"]).total_seconds() > 3    # it waited for pau-01


def test_the_first_caller_stays_first_when_it_widens(platform, phones, caller, records, new_caller_number):
    # both CFE advisors busy with national calls; Cahors's call ends first
    phones("pau-01")
    long_call = new_caller_number()
    sipp_long = caller.sipp(NATIONAL, long_call, dtmf=CFE, hangup_after_ms=45000).start()
    answered(records, long_call, "pau-01")
    phones("cahors-01")
    short_call = new_caller_number()
    sipp_short = caller.sipp(NATIONAL, short_call, dtmf=CFE, hangup_after_ms=20000).start()
    answered(records, short_call, "cahors-01")
    # two callers wait for Pau, the first one first
    first, second = new_caller_number(), new_caller_number()
    sipp_first = caller.sipp(PAU, first, dtmf=CFE, hangup_after_ms=36000).start()
    wait_for(lambda: (r := records.by_caller(first)) and r["queued_at"], what="first caller queued")
    sipp_second = caller.sipp(PAU, second, dtmf=CFE, hangup_after_ms=50000).start()
    wait_for(lambda: (r := records.by_caller(second)) and r["queued_at"], what="second caller queued")
    # Cahors frees up: only the first caller widens (one free advisor), put back at position 1: it is
    # answered by Cahors; had it lost its place, the second (home only) would block it at the head
    one = answered(records, first, "cahors-01")
    assert one["overflowed"] and one["widen_after_s"] is not None
    assert [e["data"]["position"] for e in widened_events(records, one["linkedid"])] == [1]
    for sipp in (sipp_first, sipp_second, sipp_short, sipp_long):
        assert sipp.wait(90).ok
    two = records.final(second)
    assert two["answered_at"] is not None and one["answered_at"] < two["answered_at"]
