"""Honest waiting information (issue 4), on real calls: at entry the handler says a bound on the wait it
can defend, or nothing, and records what it said (``wait_announced``); app_queue says the position in
French when the call joins its queue (ccpros_agi.waiting, docs/decisions/0005)."""
from __future__ import annotations

import re

import pytest

from ccpros_agi import waiting
from tests.integration.conftest import CALLBACK_OFFER_AFTER_S, NATIONAL
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration

PAU = "+33465710064"            # sie-64445-01, covered by Pau


def announced(records, caller_number: str, timeout: float = 30) -> dict:
    """The ``wait_announced`` event of that caller's call (its data)."""
    def find():
        rows = records.query(
            "SELECT e.data FROM call_events e JOIN calls c ON c.linkedid = e.linkedid "
            "WHERE c.caller_number = %s AND e.kind = 'wait_announced' ORDER BY e.id DESC", caller_number)
        return rows[0]["data"] if rows else None
    return wait_for(find, timeout, what=f"wait_announced of {caller_number}")


@pytest.fixture
def queue_log(platform):
    """Asterisk's verbose messages from now on (app_queue's "Told ... their queue position")."""
    path = f"{platform.instance.dir}/log/verbose-{id(platform)}.log"
    platform.instance.rx(f"logger add channel {path} verbose(3)")
    host = platform.instance.rootfs / path.lstrip("/")
    yield lambda: host.read_text(errors="replace") if host.exists() else ""
    platform.instance.rx(f"logger remove channel {path}")


def test_nobody_staffed_position_recorded_and_no_time_said(platform, caller, records, new_caller_number,
                                                           queue_log):
    first, second = new_caller_number(), new_caller_number()
    call_1 = caller.sipp(PAU, first, dtmf="1", hangup_after_ms=14000).start()
    one = announced(records, first)
    call_2 = caller.sipp(PAU, second, dtmf="1", hangup_after_ms=8000).start()
    two = announced(records, second)
    assert call_1.wait(60).ok and call_2.wait(60).ok
    # nobody logged in: the TVA queue of Pau is empty, the call goes to Pau's general queue
    assert (one["queue"], one["position"], two["queue"], two["position"]) == (
        "q-pau-conseiller", 1, "q-pau-conseiller", 2)
    for said in (one, two):
        # nothing about time; a long wait: the callback key is offered (the test configuration has callbacks)
        assert (said["reason"], said["estimate_s"], said["said"]) == ("nobody_staffed", None, ["callback-offer"])
    # app_queue said each caller's position when the call joined the queue
    log = queue_log()
    told = re.findall(r"Told (\S+) in q-pau-conseiller their queue position \(which was (\d+)\)", log)
    assert [pos for _, pos in told][:2] == ["1", "2"], log[-3000:]
    assert records.final(first)["outcome"] == records.final(second)["outcome"] == "abandoned_queue"


def test_busy_advisor_bound_said_and_grows_with_position(platform, phones, caller, records, new_caller_number):
    phones("alencon-01")                                  # TVA and CFE, at Alençon
    talking, second, third = new_caller_number(), new_caller_number(), new_caller_number()
    call_1 = caller.sipp(NATIONAL, talking, dtmf="1", hangup_after_ms=25000).start()
    wait_for(lambda: (r := records.by_caller(talking)) and r["answered_at"], what="first call answered")
    assert announced(records, talking)["reason"] == "answered_at_once"
    assert announced(records, talking)["said"] == []

    call_2 = caller.sipp(NATIONAL, second, dtmf="1", hangup_after_ms=12000).start()
    two = announced(records, second)
    call_3 = caller.sipp(NATIONAL, third, dtmf="1", hangup_after_ms=12000).start()
    three = announced(records, third)
    for call in (call_1, call_2, call_3):
        assert call.wait(60).ok

    assert (two["queue"], two["position"], three["position"]) == ("q-tva", 1, 2)
    for said in (two, three):
        assert said["reason"] == "estimate"
        assert said["said"][0] == waiting.estimate_prompt(said["minutes"])       # played to the end
        # the callback is offered too when the expected wait is long (conftest.CALLBACK_OFFER_AFTER_S)
        assert said["said"][1:] == (["callback-offer"] if said["mean_s"] >= CALLBACK_OFFER_AFTER_S else [])
        assert said["estimate_s"] == 60 * said["minutes"] >= said["bound_s"] > said["mean_s"] > 0
        assert said["pools"] == [{"staffed": 1, "free": 0, "waiting_elsewhere": 0, "after_s": 0.0}]
    assert three["bound_s"] > two["bound_s"]
    assert three["minutes"] >= two["minutes"]
