"""Return calls of phone appointments: pure rules (ccpros_agi.appointments.calls)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ccpros_agi.appointments import calls
from ccpros_agi.appointments.agenda import RuleError

UTC = timezone.utc
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def appointment(**kw):
    return {"id": 7, "status": "booked", "channel": "phone", "starts_at": START,
            "ends_at": START + timedelta(minutes=30), **kw}


@pytest.mark.parametrize("offset", [timedelta(minutes=-10), timedelta(0), timedelta(minutes=29, seconds=59)])
def test_a_booked_phone_appointment_can_be_called_around_its_time(offset):
    calls.check_call(appointment(), START + offset, "Europe/Paris")


@pytest.mark.parametrize(("kw", "offset", "kind", "words"), [
    ({}, timedelta(minutes=-10, seconds=-1), "conflict", "too early"),
    ({}, timedelta(minutes=30), "conflict", "ended"),
    ({"status": "honoured"}, timedelta(0), "conflict", "only a booked"),
    ({"status": "cancelled"}, timedelta(0), "conflict", "only a booked"),
    ({"channel": "desk"}, timedelta(0), "invalid", "desk"),
])
def test_refusals(kw, offset, kind, words):
    with pytest.raises(RuleError) as err:
        calls.check_call(appointment(**kw), START + offset, "Europe/Paris")
    assert err.value.kind == kind and words in err.value.message


def test_the_refusal_tells_when_the_call_may_start_in_local_time():
    with pytest.raises(RuleError, match="01/12/2026 09:50"):
        calls.check_call(appointment(), START - timedelta(hours=1), "Europe/Paris")


def test_channel_ids():
    assert calls.channel_id(12, 3) == "ccpros-appt-12-3"
    assert calls.parse_channel_id("ccpros-appt-12-3") == (12, 3)
    for bad in ("", "ccpros-cb-12-3", "ccpros-appt-12", "ccpros-appt-12-3;1", "ccpros-appt-x-1"):
        assert calls.parse_channel_id(bad) is None


def test_dial_statuses():
    assert calls.business_result("ANSWER") == "answered"
    assert calls.business_result("noanswer") == "no_answer"
    assert calls.business_result("BUSY") == "busy"
    assert calls.business_result("CANCEL") == "cancelled"
    assert calls.business_result("CHANUNAVAIL") == "failed"
    assert calls.business_result("WHATEVER") == "failed"
    assert calls.business_result("") is None           # nothing was dialled
    assert calls.agent_result("NOANSWER") == "agent_no_answer"
    assert calls.agent_result("CHANUNAVAIL") == "agent_unreachable"
    assert {calls.OUTCOME_OF.get(r) for r in calls.RESULTS} == {"honoured", "no_answer", None}
    assert set(calls.BUSINESS_RESULTS.values()) | set(calls.AGENT_RESULTS.values()) <= set(calls.RESULTS)


def test_an_attempt_under_way_blocks_another():
    started = {"started_at": START, "agent_answered_at": None, "ended_at": None}
    assert calls.blocking(started, START + timedelta(seconds=30))
    assert not calls.blocking(started, START + calls.PENDING_MAX)        # its result was lost
    talking = {**started, "agent_answered_at": START + timedelta(seconds=5)}
    assert calls.blocking(talking, START + timedelta(minutes=20))
    assert not calls.blocking({**talking, "ended_at": START + timedelta(minutes=3)}, START + timedelta(minutes=4))


def test_safe_values_for_ami():
    assert calls.safe('RDV "Dupont, <fils>"; x=1') == "RDV Dupont fils x1"
