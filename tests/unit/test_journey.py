"""The call journey from AMI events, on the real PostgreSQL store: the events are written as Asterisk
22 sends them (field names of its AMI documentation), for the paths a SIPp test cannot easily drive."""
from __future__ import annotations

import pytest

from ccpros_agi.ami.journey import Journey

CALLER = "1795440000.10"
OFFICE_LINE = "+33465719064"


def ev(name: str, ts: float, **fields: str) -> dict[str, str]:
    return {"Event": name, "Timestamp": f"{ts:.6f}", **fields}


@pytest.fixture
async def journey(store):
    return Journey(store, {"pau-01": "pau"}.get, frozenset({OFFICE_LINE}))


async def answered_call(journey, t0: float = 1795440000.0) -> None:
    await journey(ev("Newchannel", t0, Channel="PJSIP/trunk-00000001", Uniqueid=CALLER, Linkedid=CALLER,
                     Context="from-trunk", Exten="+33465710064", CallerIDNum="0465710099"))
    await journey(ev("QueueCallerJoin", t0 + 5, Uniqueid=CALLER, Linkedid=CALLER, Queue="q-pau-tva",
                     Position="1"))
    await journey(ev("AgentConnect", t0 + 8, Uniqueid=CALLER, Linkedid=CALLER, Queue="q-pau-tva",
                     MemberName="pau-01", Interface="PJSIP/pau-01", HoldTime="3", RingTime="1"))


async def test_attended_transfer_to_an_office_is_recorded(journey, store):
    await answered_call(journey)
    await journey(ev("AttendedTransfer", 1795440030.0, Result="Success",
                     OrigTransfererChannel="PJSIP/pau-01-00000002", OrigTransfererLinkedid=CALLER,
                     SecondTransfererChannel="PJSIP/pau-01-00000003", SecondTransfererContext="ccpros-dial-outside",
                     SecondTransfererExten=OFFICE_LINE,
                     SecondTransfererLinkedid="1795440025.20", TransfereeChannel="PJSIP/trunk-00000001",
                     TransfereeLinkedid=CALLER, DestType="Bridge"))
    await journey(ev("Hangup", 1795440090.0, Uniqueid=CALLER, Linkedid=CALLER, Cause="16",
                     **{"Cause-txt": "Normal Clearing"}))
    call = await store.get_call(CALLER)
    assert (call["outcome"], call["advisor_id"], call["site_id"]) == ("answered", "pau-01", "pau")
    assert call["transferred_to_office"] is True
    assert call["transferred_at"].timestamp() == pytest.approx(1795440030.0)
    kinds = [e["kind"] for e in await store.call_events(CALLER)]
    assert kinds == ["channel_created", "queued", "answered", "transferred_to_office", "ended"]


async def test_failed_or_foreign_transfers_are_not_recorded_as_office_transfers(journey, store):
    await answered_call(journey)
    await journey(ev("AttendedTransfer", 1795440030.0, Result="Fail", SecondTransfererExten=OFFICE_LINE,
                     TransfereeLinkedid=CALLER))
    await journey(ev("AttendedTransfer", 1795440031.0, Result="Success", SecondTransfererExten="pau-02",
                     TransfereeLinkedid=CALLER))
    call = await store.get_call(CALLER)
    assert call["transferred_to_office"] is False


async def test_advisor_feature_codes_leave_no_call_record(journey, store):
    advisor_call = "1795440100.30"
    await journey(ev("Newchannel", 1795440100.0, Uniqueid=advisor_call, Linkedid=advisor_call,
                     Context="from-advisors", Exten="*21", CallerIDNum="pau-01"))
    await journey(ev("Hangup", 1795440102.0, Uniqueid=advisor_call, Linkedid=advisor_call, Cause="16"))
    assert await store.get_call(advisor_call) is None


async def test_event_without_linkedid_or_unknown_is_ignored(journey, store):
    await journey({"Event": "QueueCallerJoin", "Queue": "q-tva"})
    await journey({"Event": "PeerStatus", "Linkedid": "x"})
    assert await store.recent_calls() == []
