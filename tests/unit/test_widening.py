"""State-based overflow's bookkeeping (ccpros_agi.ami.widening): the waiting lines rebuilt from AMI
events, the advisors' state from QueueStatus, the live plan of a state-based topic. The withdrawal and
the re-queue at the same position run against the real Asterisk (tests/integration/test_state_overflow.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ccpros_agi import confgen, routing
from ccpros_agi.ami.widening import Widener, advisors_state
from ccpros_agi.config import load_config
from ccpros_agi.config.checks import _overflow_problem

DEMO = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def config():
    config = load_config(DEMO)
    topics = tuple(replace(t, overflow="state:60,180") if t.id == "cfe" else t for t in config.topics)
    return replace(config, topics=topics)


def join(queue: str, uniqueid: str, position: int, ts: float = 1795440000.0) -> dict[str, str]:
    return {"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": uniqueid, "Linkedid": uniqueid,
            "Channel": f"PJSIP/trunk-{uniqueid}", "Position": str(position), "Timestamp": str(ts)}


def leave(queue: str, uniqueid: str) -> dict[str, str]:
    return {"Event": "QueueCallerLeave", "Queue": queue, "Uniqueid": uniqueid, "Linkedid": uniqueid}


async def test_lines_follow_joins_and_leaves_and_keep_the_first_arrival(config):
    w = Widener(ami=None, store=None, config=config)
    assert set(w.policies) == {"cfe", "paiement"} and "q-pau-cfe" in w.watched and "q-pau-tva" not in w.watched
    await w.on_event(join("q-pau-cfe", "a", 1, ts=100.0))
    await w.on_event(join("q-pau-cfe", "b", 2, ts=105.0))
    await w.on_event(join("q-pau-tva", "x", 1))                  # not a state-based topic: not followed
    assert [x.uniqueid for x in w.lines["q-pau-cfe"]] == ["a", "b"]
    # "a" is withdrawn to widen and comes back at position 1: same place, same arrival
    await w.on_event(leave("q-pau-cfe", "a"))
    assert [x.uniqueid for x in w.lines["q-pau-cfe"]] == ["b"]
    await w.on_event(join("q-pau-cfe", "a", 1, ts=130.0))
    assert [x.uniqueid for x in w.lines["q-pau-cfe"]] == ["a", "b"]
    assert w.waiters["a"].joined == 100.0 and w.waiters["a"].rejoined.is_set()
    await w.on_event(leave("q-pau-cfe", "b"))
    w._forget_gone()
    assert set(w.waiters) == {"a"}


async def test_talk_times_teach_the_mean_handling_time(config):
    w = Widener(ami=None, store=None, config=config)
    for _ in range(100):
        await w.on_event({"Event": "AgentComplete", "Queue": "q-lisieux-cfe", "TalkTime": "60"})
    await w.on_event({"Event": "AgentComplete", "Queue": "q-cfe", "TalkTime": "nonsense"})
    assert 60 < w.handling["cfe"] < 61


def test_advisors_state_counts_free_and_staffed_by_site(config):
    site_of = {a.id: a.site for a in config.advisors}.get
    members = [
        {"Event": "QueueParams", "Queue": "q-cfe"},
        {"Event": "QueueMember", "Name": "pau-01", "Location": "PJSIP/pau-01", "Status": "1", "Paused": "0",
         "InCall": "0"},
        {"Event": "QueueMember", "Name": "cahors-01", "Location": "PJSIP/cahors-01", "Status": "2", "Paused": "0",
         "InCall": "1"},
        {"Event": "QueueMember", "Location": "PJSIP/alencon-01", "Status": "1", "Paused": "1"},     # paused
        {"Event": "QueueMember", "Name": "lons-le-saunier-02", "Status": "5", "Paused": "0"},       # unreachable
        {"Event": "QueueMember", "Name": "nobody", "Status": "1", "Paused": "0"},                 # unknown
    ]
    idle, staffed = advisors_state(members, site_of, "cfe")
    assert idle == {("pau", "cfe"): 1}
    assert staffed == {("pau", "cfe"): 1, ("cahors", "cfe"): 1}


def test_state_based_topics_start_at_home_with_a_safety_net_rule(config):
    cfe = next(t for t in config.topics if t.id == "cfe")
    plan = routing.queue_plan(cfe, "pau")
    assert (plan.max_penalty, plan.rule, plan.rule_after_s, plan.widen_after_s, plan.live) == (
        0, "ccpros-cfe", 180, None, True)
    assert routing.queue_plan(cfe, None) == routing.QueuePlan()               # national: anywhere
    assert routing.queue_plan(replace(cfe, overflow="state:60"), "pau").rule is None
    assert "[ccpros-cfe]\n; CFE / IFER: state:60,180\npenaltychange => 180,1\n" in confgen.render_queue_rules(config)


def test_live_overflow_policies_accepted_by_the_configuration():
    for ok in ("pooled", "separate", "timer:30", "state:60", "state:0,120", "state+:30"):
        assert _overflow_problem(ok) is None, ok
    for refused in ("state:60/group", "timer:10/group,30/all"):
        assert "not available on the live platform" in _overflow_problem(refused), refused
    assert "unknown policy" in _overflow_problem("sometimes")
