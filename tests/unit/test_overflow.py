"""Overflow policies (ccpros_agi.overflow): decisions on hand-built states."""

import math

import pytest

from ccpros_agi.overflow import (
    Pooled, SeparateSites, Snapshot, StateBased, Tier, TimerOverflow, WaitingCall, Widening, decide,
    estimated_wait, initial_scope, next_check, parse_policy, scope_rank, sites_in_scope, widenings,
)

SITES = ("pau", "cahors", "morlaix")
GROUPS = {"pau": "sud", "cahors": "sud", "morlaix": "ouest"}


def state(idle=None, staffed=None, waiting=None, handling=300.0):
    staffed = staffed if staffed is not None else {(s, "tva"): 10 for s in SITES}
    return Snapshot(SITES, idle or {}, staffed, waiting or {}, GROUPS, {"tva": handling})


def call(arrival=0.0, scope="home", position=1, home="pau"):
    return WaitingCall(arrival=arrival, topic="tva", home_site=home, scope=scope, position=position)


def test_estimated_wait():
    assert estimated_wait(1, 300, 10) == 30
    assert estimated_wait(5, 300, 10) == 150
    assert estimated_wait(3, 300, 0) == math.inf


def test_sites_in_scope():
    assert sites_in_scope(SITES, GROUPS, "pau", "home") == ("pau",)
    assert sites_in_scope(SITES, GROUPS, "pau", "group") == ("pau", "cahors")
    assert sites_in_scope(SITES, GROUPS, "morlaix", "group") == ("morlaix",)
    assert sites_in_scope(SITES, {}, "pau", "group") == ("pau",)
    assert sites_in_scope(SITES, GROUPS, "pau", "all") == SITES


def test_separate_never_widens():
    busy_here_idle_there = state(idle={("cahors", "tva"): 5})
    assert decide(SeparateSites(), call(), busy_here_idle_there, now=3600) is None
    assert initial_scope(SeparateSites(), "pau") == "home"


def test_pooled_is_all_from_the_start():
    assert initial_scope(Pooled(), "pau") == "all"
    assert decide(Pooled(), call(), state(), now=0) == Widening("all", "pooled")
    assert decide(Pooled(), call(scope="all"), state(), now=0) is None


def test_national_calls_are_all_and_never_change():
    assert initial_scope(SeparateSites(), None) == "all"
    national = call(home=None, scope="all")
    for policy in (SeparateSites(), Pooled(), TimerOverflow((Tier(5, "all"),)), StateBased(0)):
        assert decide(policy, national, state(idle={("cahors", "tva"): 1}), now=100) is None


def test_timer_tiers():
    policy = TimerOverflow((Tier(10, "group"), Tier(30, "all")))
    s = state()
    assert decide(policy, call(), s, now=9.9) is None
    assert decide(policy, call(), s, now=10) == Widening("group", "timer")
    assert decide(policy, call(scope="group"), s, now=20) is None
    assert decide(policy, call(scope="group"), s, now=30) == Widening("all", "timer")
    assert decide(policy, call(), s, now=45) == Widening("all", "timer")   # a missed check jumps to the widest
    assert decide(policy, call(scope="all"), s, now=100) is None            # never narrows
    assert next_check(policy, call()) == 10
    assert next_check(policy, call(scope="group")) == 30
    assert next_check(policy, call(scope="all")) is None


def test_state_based_does_not_widen_when_home_answers_soon():
    policy = StateBased(wait_threshold_s=60)
    idle_elsewhere = state(idle={("cahors", "tva"): 3})
    # position 1, 10 advisors, 300 s: about 30 s more; waited 10 s: 40 s in all <= 60 s
    assert decide(policy, call(position=1), idle_elsewhere, now=10) is None
    # a free advisor at home: it will be answered at once
    home_idle = state(idle={("pau", "tva"): 1, ("cahors", "tva"): 3})
    assert decide(policy, call(position=5), home_idle, now=50) is None


def test_state_based_widens_when_home_is_late_and_someone_is_idle_elsewhere():
    policy = StateBased(wait_threshold_s=60)
    idle_elsewhere = state(idle={("morlaix", "tva"): 1})
    assert decide(policy, call(position=4), idle_elsewhere, now=0) == Widening("all", "state")  # 120 s ahead
    assert decide(policy, call(position=1), idle_elsewhere, now=45) == Widening("all", "state")  # 45 + 30 s
    # nobody idle elsewhere: no point widening
    assert decide(policy, call(position=4), state(), now=0) is None
    # idle only outside the group when widening to the group
    group_policy = StateBased(wait_threshold_s=60, sites="group")
    assert decide(group_policy, call(position=4), idle_elsewhere, now=0) is None
    assert decide(group_policy, call(position=4), state(idle={("cahors", "tva"): 1}), now=0) == Widening("group", "state")


def test_state_based_never_narrows_and_respects_min_wait_and_fallback():
    policy = StateBased(wait_threshold_s=60, min_wait_s=5, fallback_after_s=120)
    idle_elsewhere = state(idle={("morlaix", "tva"): 1})
    assert decide(policy, call(position=9), idle_elsewhere, now=2) is None          # before min_wait
    assert decide(policy, call(position=9), idle_elsewhere, now=6) == Widening("all", "state")
    assert decide(policy, call(position=9, scope="all"), idle_elsewhere, now=6) is None
    # once widened, a state where home would answer soon does not bring it back: decide only widens
    assert decide(policy, call(position=1, scope="all"), state(idle={("pau", "tva"): 3}), now=6) is None
    assert decide(policy, call(position=1), state(), now=120) == Widening("all", "fallback")
    assert next_check(policy, call()) == 120


def test_state_based_sooner_elsewhere_without_idle():
    policy = StateBased(wait_threshold_s=30, require_idle=False)
    # home: position 6 of 10 advisors -> 180 s; cahors: 2 waiting -> (2+1)*30 = 90 s: sooner
    s = state(waiting={("pau", "tva"): 6, ("cahors", "tva"): 2, ("morlaix", "tva"): 20})
    assert decide(policy, call(position=6), s, now=0) == Widening("all", "state")
    s = state(waiting={("pau", "tva"): 6, ("cahors", "tva"): 9, ("morlaix", "tva"): 20})
    assert decide(policy, call(position=6), s, now=0) is None
    assert decide(StateBased(30), call(position=6), state(waiting={("cahors", "tva"): 0}), now=0) is None


def test_parse_policy():
    assert parse_policy("separate") == SeparateSites()
    assert parse_policy("pooled") == Pooled()
    assert parse_policy("timer:15").tiers == (Tier(15, "all"),)
    assert parse_policy("timer:10/group,30/all").tiers == (Tier(10, "group"), Tier(30, "all"))
    assert parse_policy("state:45/group") == StateBased(45, "group")
    assert parse_policy("state+:20").require_idle is False
    assert parse_policy("state:60,180") == StateBased(60, "all", fallback_after_s=180)
    assert parse_policy("state:60").fallback_after_s is None
    with pytest.raises(ValueError):
        parse_policy("sometimes")
    with pytest.raises(ValueError):
        parse_policy("timer:10/nowhere")
    assert scope_rank("home") < scope_rank("group") < scope_rank("all")


# --- widenings: one home queue at a time, in order ---------------------------------------------------------
LINE = [call(arrival=0.0), call(arrival=10.0), call(arrival=20.0)]


def test_widenings_count_each_widened_call_against_the_idle_advisors_elsewhere():
    busy_home = state(idle={("cahors", "tva"): 2})
    decisions = widenings(StateBased(0), LINE, busy_home, now=30.0)
    assert [d and d.reason for d in decisions] == ["state", "state", None]


def test_widenings_widen_the_calls_ahead_of_a_widened_call():
    # 10 advisors at Pau, 300 s per call: the first caller (waited 10 s, 1st) expects 10 + 30 = 40 s, the
    # second (waited 8 s, 2nd) 8 + 60 = 68 s. Over 50 s only the second; it widens, and the first with it,
    # so that the first does not block the second at the head of the queue (and keeps its place)
    line = [call(arrival=20.0), call(arrival=22.0)]
    free_elsewhere = state(idle={("cahors", "tva"): 2}, staffed={("pau", "tva"): 10})
    assert widenings(StateBased(70), line, free_elsewhere, now=30.0) == [None, None]
    decisions = widenings(StateBased(50), line, free_elsewhere, now=30.0)
    assert [d and (d.scope, d.reason) for d in decisions] == [("all", "ahead"), ("all", "state")]


def test_widenings_skip_calls_already_widened_and_never_narrow():
    line = [call(scope="all"), call(arrival=5.0)]
    decisions = widenings(StateBased(0), line, state(idle={("cahors", "tva"): 1}), now=30.0)
    assert decisions[0] is None and decisions[1] == Widening("all", "state")
    assert widenings(StateBased(0), line, state(), now=30.0) == [None, None]      # nobody free elsewhere
