"""Reconciliation from CEL, pure parts: reading a call's CEL rows, planning what to fill.

The CEL rows are written as Asterisk 22's cel_pgsql stores them (columns of ``ccpros_agi.store.models.Cel``,
events of main/cel.c); the builders below are also used by tests/integration/test_reconcile_db.py.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ccpros_agi.reconcile import (
    ARRIVAL_TOLERANCE,
    CelCall,
    call_from_cel,
    endpoint_of_channel,
    hangup_cause_text,
    plan_changes,
    queue_from_appdata,
)

UTC = timezone.utc
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
NATIONAL = "+33199001000"
ADVISORS = {"pau-01": "pau", "pau-02": "pau", "cahors-02": "cahors", "lons-le-saunier-01": "lons-le-saunier"}
AGI_URL = "agi://127.0.0.1:4573/inbound?dialplan=1"


def hangup_extra(cause: int, source: str = "", dialstatus: str = "") -> str:
    return json.dumps({"hangupcause": cause, "hangupsource": source, "dialstatus": dialstatus})


class CelCallBuilder:
    """The CEL rows of one call from the trunk, event by event (times in seconds after ``t0``)."""

    def __init__(self, linkedid: str, t0: datetime = T0, *, caller: str = "0565123456", called: str = NATIONAL,
                 channel: str = "PJSIP/trunk-00000001") -> None:
        self.linkedid, self.t0, self.caller, self.called, self.channel = linkedid, t0, caller, called, channel
        self.rows: list[dict] = []
        self.legs: dict[str, str] = {}  # advisor channel -> its uniqueid
        self._next = int(float(linkedid.split(".")[-1])) if linkedid.split(".")[-1].isdigit() else 100

    def at(self, s: float) -> datetime:
        return self.t0 + timedelta(seconds=s)

    def ev(self, kind: str, s: float, *, channel: str | None = None, context: str = "ccpros-inbound",
           exten: str = "s", appname: str = "", appdata: str = "", extra: str = "", peer: str = "",
           cid_num: str | None = None) -> CelCallBuilder:
        channel = channel or self.channel
        own = channel == self.channel
        self.rows.append({
            "eventtype": kind, "eventtime": self.at(s), "userdeftype": "", "cid_name": "",
            "cid_num": self.caller if own else (cid_num or ""), "cid_ani": self.caller if own else "",
            "cid_rdnis": "", "cid_dnid": self.called if own else "", "exten": exten, "context": context,
            "channame": channel, "appname": appname, "appdata": appdata, "amaflags": 3, "accountcode": "",
            "peeraccount": "", "uniqueid": self.linkedid if own else self.legs[channel],
            "linkedid": self.linkedid, "userfield": "", "peer": peer, "extra": extra})
        return self

    def app(self, s: float, name: str, data: str = "", end: float | None = None, **kw) -> CelCallBuilder:
        self.ev("APP_START", s, appname=name, appdata=data, **kw)
        if end is not None:
            self.ev("APP_END", end, appname=name, appdata=data, **kw)
        return self

    # -- the dialplan's steps (dialplan/inbound.conf) --
    def arrive(self) -> CelCallBuilder:
        self.ev("CHAN_START", 0.0, context="from-trunk", exten=self.called)
        self.app(0.001, "Set", f"__CCPROS_CALLED={self.called}", end=0.001, context="from-trunk", exten=self.called)
        self.app(0.002, "Goto", "ccpros-inbound,s,1", end=0.002, context="from-trunk", exten=self.called)
        for i, var in enumerate(("CCPROS_DONE", "CCPROS_ACTION", "CCPROS_QUEUE", "CCPROS_DIAL", "CCPROS_RULE")):
            self.app(0.003 + i / 1000, "Set", f"{var}=", end=0.003 + i / 1000)
        self.app(0.01, "Answer")
        self.ev("ANSWER", 0.01, appname="Answer")
        self.ev("APP_END", 0.011, appname="Answer")
        return self

    def agi(self, s: float, end: float | None) -> CelCallBuilder:
        """The FastAGI app: ``end`` None when the caller hangs up during it."""
        return self.app(s, "AGI", AGI_URL, end=end)

    def fallback(self, s: float, queue: str = "q-conseiller") -> CelCallBuilder:
        self.app(s, "GotoIf", '0?decided', end=s)
        self.app(s + 0.001, "UserEvent", "CcprosFallback,Agistatus: FAILURE", end=s + 0.001)
        self.app(s + 0.002, "Set", f"CCPROS_QUEUE={queue}", end=s + 0.002)
        return self

    def queue(self, s: float, queue: str, rule: str = "") -> CelCallBuilder:
        return self.app(s, "Queue", f"{queue},,,,,,,{rule}")

    def ring(self, s: float, advisor: str) -> str:
        """The queue rings an advisor's phone: a new channel of the call's linkedid."""
        self._next += 1
        channel = f"PJSIP/{advisor}-{self._next:08x}"
        self.legs[channel] = f"{self.linkedid.split('.')[0]}.{self._next}"
        self.ev("CHAN_START", s, channel=channel, context="from-advisors", exten="s", cid_num=advisor)
        self.app(s, "AppQueue", "(Outgoing Line)", channel=channel, context="from-advisors")
        return channel

    def no_answer(self, s: float, channel: str, cause: int = 26) -> CelCallBuilder:
        self.ev("HANGUP", s, channel=channel, context="from-advisors", appname="AppQueue",
                extra=hangup_extra(cause))
        return self.ev("CHAN_END", s, channel=channel, context="from-advisors", appname="AppQueue")

    def connect(self, s: float, channel: str) -> CelCallBuilder:
        self.ev("ANSWER", s - 0.4, channel=channel, context="from-advisors", appname="AppQueue")
        self.ev("BRIDGE_ENTER", s, channel=channel, context="from-advisors", appname="AppQueue",
                extra=json.dumps({"bridge_id": "b-1", "bridge_technology": "simple_bridge"}))
        return self.ev("BRIDGE_ENTER", s, appname="Queue", peer=channel,
                       extra=json.dumps({"bridge_id": "b-1", "bridge_technology": "simple_bridge"}))

    def hangup(self, s: float, cause: int = 16, appname: str = "Queue", legs: tuple[str, ...] = (),
               over: bool = True) -> CelCallBuilder:
        """The caller hangs up (after leaving a bridge with ``legs``); the call ends when ``over``."""
        bridge = json.dumps({"bridge_id": "b-1", "bridge_technology": "simple_bridge"})
        if legs:
            self.ev("BRIDGE_EXIT", s, appname=appname, extra=bridge, peer=legs[0])
        self.ev("HANGUP", s, appname=appname, extra=hangup_extra(cause, self.channel))
        self.ev("CHAN_END", s, appname=appname)
        for leg in legs:
            self.ev("BRIDGE_EXIT", s + 0.01, channel=leg, context="from-advisors", appname="AppQueue", extra=bridge)
            self.ev("HANGUP", s + 0.01, channel=leg, context="from-advisors", appname="AppQueue",
                    extra=hangup_extra(16, self.channel))
            self.ev("CHAN_END", s + 0.01, channel=leg, context="from-advisors", appname="AppQueue")
        if over:  # reported with the last channel of the linkedid
            last = legs[-1] if legs else self.channel
            self.ev("LINKEDID_END", s + 0.02, channel=last, appname="AppQueue" if legs else appname,
                    context="from-advisors" if legs else "ccpros-inbound")
        return self


def answered_call(linkedid: str, t0: datetime = T0, *, advisor: str = "pau-01", agi: bool = False,
                  queue: str = "q-conseiller", caller: str = "0565123456", over: bool = True) -> CelCallBuilder:
    """Answered: with the app down (fallback to the general queue) or up (menu, then its queue).
    Another advisor rings first and does not answer; the advisor answers at 20 s, the caller hangs up at 95 s."""
    call = CelCallBuilder(linkedid, t0, caller=caller).arrive()
    if agi:
        call.agi(0.02, end=6.0).app(6.001, "GotoIf", '1?decided', end=6.001)
    else:
        call.agi(0.02, end=0.03).fallback(0.031, queue)
    call.queue(6.5 if agi else 0.05, queue, "ccpros-tva" if agi else "")
    other = call.ring(7.0, "pau-02")
    call.no_answer(19.0, other)
    leg = call.ring(19.5, advisor)
    call.connect(20.0, leg)
    return call.hangup(95.0, legs=(leg,), over=over)


def abandoned_in_queue(linkedid: str, t0: datetime = T0, *, queue: str = "q-pau-tva") -> CelCallBuilder:
    """The app ran the menu (0.02-6 s), the caller waited in the queue from 6.5 s and hung up at 40 s."""
    call = CelCallBuilder(linkedid, t0, called="+33559000000").arrive()
    call.agi(0.02, end=6.0).queue(6.5, queue, "ccpros-tva")
    leg = call.ring(7.0, "pau-01")
    call.no_answer(22.0, leg, cause=19)
    return call.hangup(40.0)


def menu_abandoned(linkedid: str, t0: datetime = T0) -> CelCallBuilder:
    """The caller hangs up in the app's menu, at 4 s."""
    return CelCallBuilder(linkedid, t0).arrive().agi(0.02, end=None).hangup(4.0, appname="AGI")


# -- helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("appdata, queue", [
    ("q-pau-tva,,,,,,,ccpros-tva", "q-pau-tva"), ("q-conseiller", "q-conseiller"),
    (" q-direct-pau-01 ,,,,3", "q-direct-pau-01"), ("", None), (None, None), (",,,", None)])
def test_queue_from_appdata(appdata, queue):
    assert queue_from_appdata(appdata) == queue


@pytest.mark.parametrize("channame, endpoint", [
    ("PJSIP/pau-01-0000000a", "pau-01"), ("PJSIP/lons-le-saunier-01-00000003", "lons-le-saunier-01"),
    ("PJSIP/trunk-00000001", "trunk"), ("Local/s@ccpros-callback-00000001;1", None), ("PJSIP/pau", None),
    ("", None), (None, None)])
def test_endpoint_of_channel(channame, endpoint):
    assert endpoint_of_channel(channame) == endpoint


@pytest.mark.parametrize("extra, text", [
    (hangup_extra(16), "Normal Clearing"), (hangup_extra(19), "User alerting, no answer"),
    (hangup_extra(0), "Unknown"), (hangup_extra(99), "99"), ('{"hangupcause": "17"}', "User busy"),
    ("", None), (None, None), ("not json", None), ("[]", None), ('{"dialstatus": ""}', None)])
def test_hangup_cause_text(extra, text):
    assert hangup_cause_text(extra) == text


# -- reading a call's CEL --------------------------------------------------------------------------
def test_answered_call_with_the_app_down():
    call = answered_call("1710408600.10")
    found = call_from_cel(call.linkedid, call.rows, ADVISORS)
    assert found == CelCall(
        linkedid="1710408600.10", arrived_at=T0, called_number=NATIONAL, caller_raw="0565123456",
        caller_number="+33565123456", queue="q-conseiller", queued_at=call.at(0.05),
        answered_at=call.at(20.0), advisor_id="pau-01", site_id="pau", ended_at=call.at(95.0),
        hangup_cause="Normal Clearing", fallback=True, finished=True, over_at=call.at(95.02),
        events=len(call.rows))


def test_answer_of_the_advisor_leg_without_a_bridge():
    call = answered_call("1710408600.10", advisor="cahors-02")
    rows = [r for r in call.rows if r["eventtype"] != "BRIDGE_ENTER"]
    found = call_from_cel(call.linkedid, rows, ADVISORS)
    assert (found.answered_at, found.advisor_id, found.site_id) == (call.at(19.6), "cahors-02", "cahors")


def test_unknown_endpoints_and_the_callers_own_answer_are_not_an_advisor():
    call = CelCallBuilder("1710408600.10").arrive().agi(0.02, end=0.03).fallback(0.031).queue(0.05, "q-conseiller")
    gateway = call.ring(3.0, "admin-gw")  # not an advisor of the configuration
    call.connect(5.0, gateway).hangup(30.0, legs=(gateway,))
    found = call_from_cel(call.linkedid, call.rows, ADVISORS)
    assert (found.answered_at, found.advisor_id, found.site_id) == (None, None, None)
    assert found.queue == "q-conseiller" and found.ended_at == call.at(30.0)


def test_abandoned_in_queue_and_menu_abandoned():
    queued = call_from_cel("1710408600.20", abandoned_in_queue("1710408600.20").rows, ADVISORS)
    assert (queued.queue, queued.queued_at, queued.answered_at, queued.fallback) == \
        ("q-pau-tva", T0 + timedelta(seconds=6.5), None, False)
    assert queued.called_number == "+33559000000" and queued.ended_at == T0 + timedelta(seconds=40)
    menu = call_from_cel("1710408600.30", menu_abandoned("1710408600.30").rows, ADVISORS)
    assert (menu.queue, menu.queued_at, menu.answered_at, menu.fallback, menu.finished) == \
        (None, None, None, False, True)
    assert menu.ended_at == T0 + timedelta(seconds=4)


def test_first_queue_is_kept_and_the_advisor_legs_appqueue_is_not_a_queue():
    call = CelCallBuilder("1710408600.10").arrive().agi(0.02, end=6.0)
    call.queue(6.5, "q-direct-pau-01").ev("APP_END", 6.6, appname="Queue").queue(6.7, "q-pau-tva")
    call.hangup(30.0)
    found = call_from_cel(call.linkedid, call.rows, ADVISORS)
    assert (found.queue, found.queued_at) == ("q-direct-pau-01", call.at(6.5))


def test_not_a_call_from_the_trunk():
    call = answered_call("1710408600.10")
    assert call_from_cel("ccpros-cb-42", [{**r, "linkedid": "ccpros-cb-42", "uniqueid": "ccpros-cb-42"}
                                          for r in call.rows], ADVISORS) is None
    advisor_call = [{**r, "context": "from-advisors"} if r["eventtype"] == "CHAN_START" else r for r in call.rows]
    assert call_from_cel(call.linkedid, advisor_call, ADVISORS) is None
    assert call_from_cel(call.linkedid, [], ADVISORS) is None


def test_live_call_is_not_finished_and_end_fallbacks():
    live = call_from_cel("1710408600.10", answered_call("1710408600.10", over=False).rows, ADVISORS)
    assert not live.finished and live.over_at is None
    call = menu_abandoned("1710408600.30")
    no_hangup = [r for r in call.rows if r["eventtype"] != "HANGUP"]
    found = call_from_cel(call.linkedid, no_hangup, ADVISORS)
    assert (found.ended_at, found.hangup_cause) == (call.at(4.0), None)  # its CHAN_END
    only_end = [r for r in no_hangup if r["eventtype"] != "CHAN_END"]
    assert call_from_cel(call.linkedid, only_end, ADVISORS).ended_at == call.at(4.02)  # LINKEDID_END


def test_anonymous_and_garbage_callers():
    found = call_from_cel("1710408600.30", menu_abandoned("1710408600.30").rows, ADVISORS)
    assert found.caller_number == "+33565123456"
    call = CelCallBuilder("1710408600.31", caller="anonymous").arrive().hangup(2.0, appname="AGI")
    found = call_from_cel(call.linkedid, call.rows, ADVISORS)
    assert (found.caller_raw, found.caller_number) == ("anonymous", None)
    call = CelCallBuilder("1710408600.32", caller="06\x0012" + "9" * 100).arrive().hangup(2.0, appname="AGI")
    found = call_from_cel(call.linkedid, call.rows, ADVISORS)
    assert found.caller_raw == ("0612" + "9" * 100)[:80] and found.caller_number is None


# -- planning the writes ---------------------------------------------------------------------------
def row(**fields) -> dict:
    base = {name: None for name in ("called_number", "caller_raw", "caller_number", "queue", "queued_at",
                                    "answered_at", "advisor_id", "site_id", "ended_at", "hangup_cause", "menu_at",
                                    "home_site")}
    return base | {"arrived_at": T0, "outcome": "in_progress", "fallback": False, "overflowed": False} | fields


def found_answered() -> CelCall:
    return call_from_cel("1710408600.10", answered_call("1710408600.10", agi=True, advisor="cahors-02").rows,
                         ADVISORS)


def test_missing_row_is_created_whole():
    found = found_answered()
    new = plan_changes(None, found)
    assert new == {k: v for k, v in found.columns().items() if v is not None} | {"fallback": False,
                                                                                  "outcome": "answered"}


def test_unfinished_row_gets_only_its_nulls():
    found = found_answered()
    agi_row = row(arrived_at=T0 + timedelta(seconds=0.05), called_number=NATIONAL, caller_raw="0565123456",
                  caller_number="+33565123456", queue="q-pau-tva", menu_at=T0 + timedelta(seconds=1),
                  home_site="pau")
    changes = plan_changes(agi_row, found)
    assert changes == {"queued_at": found.queued_at, "answered_at": found.answered_at, "advisor_id": "cahors-02",
                       "site_id": "cahors", "overflowed": True, "ended_at": found.ended_at,
                       "hangup_cause": "Normal Clearing", "outcome": "answered"}  # arrival within tolerance
    assert plan_changes(agi_row | changes, found) == {}


def test_what_the_journey_wrote_is_kept():
    found = found_answered()
    # the journey recorded the queue and the answer (another advisor, say), then stopped before the hangup
    live = row(called_number="+33100000000", caller_raw="x", queue="q-other", queued_at=T0,
               answered_at=T0 + timedelta(seconds=9), advisor_id="pau-01", site_id="pau", home_site="pau")
    changes = plan_changes(live, found)
    assert changes == {"ended_at": found.ended_at, "hangup_cause": "Normal Clearing", "outcome": "answered"}
    # an outcome the app decided stays; ended_at is filled
    closed = row(outcome="closed", called_number=NATIONAL, caller_raw="0565123456", caller_number="+33565123456")
    menu = call_from_cel("1710408600.30", menu_abandoned("1710408600.30").rows, ADVISORS)
    assert plan_changes(closed, menu) == {"ended_at": menu.ended_at, "hangup_cause": "Normal Clearing"}


def test_finished_row_only_gets_its_numbers_and_earlier_arrival():
    found = found_answered()
    done = row(outcome="abandoned_queue", queued_at=T0, ended_at=T0 + timedelta(seconds=50),
               arrived_at=T0 + timedelta(seconds=6.5))
    assert plan_changes(done, found) == {"arrived_at": T0, "called_number": NATIONAL, "caller_raw": "0565123456",
                                         "caller_number": "+33565123456"}
    same = done | {"arrived_at": T0 + ARRIVAL_TOLERANCE, "called_number": NATIONAL, "caller_raw": "0565123456",
                   "caller_number": "+33565123456"}
    assert plan_changes(same, found) == {}


def test_live_calls_and_fallback():
    live = call_from_cel("1710408600.10", answered_call("1710408600.10", over=False).rows, ADVISORS)
    assert plan_changes(None, live) == {} and plan_changes(row(), live) == {}
    fell_back = call_from_cel("1710408600.10", answered_call("1710408600.10").rows, ADVISORS)
    changes = plan_changes(row(queue="q-conseiller"), fell_back)
    assert changes["fallback"] is True and changes["outcome"] == "answered"
    assert "fallback" not in plan_changes(row(fallback=True, queue="q-conseiller"), fell_back)


@pytest.mark.parametrize("builder, existing, outcome", [
    (menu_abandoned, {"menu_at": T0 + timedelta(seconds=1)}, "abandoned_menu"),
    (menu_abandoned, {}, "failed"),
    (abandoned_in_queue, {"menu_at": T0 + timedelta(seconds=1)}, "abandoned_queue"),
    (abandoned_in_queue, {"outcome": "callback"}, "callback"),
])
def test_outcome_follows_the_journeys_rule(builder, existing, outcome):
    found = call_from_cel("1710408600.40", builder("1710408600.40").rows, ADVISORS)
    changes = plan_changes(row(**existing), found)
    assert changes.get("outcome", existing.get("outcome")) == outcome
    if not existing:
        assert plan_changes(None, found)["outcome"] == outcome
