"""Honest waiting information (ccpros_agi.waiting): what a caller is told, on hand-built states; the
entry handler's reading of Asterisk's state (a fake AGI); the queue lines and prompts that go with it."""
from __future__ import annotations

import math
import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ccpros_agi import confgen, routing, waiting
from ccpros_agi.agi import inbound
from ccpros_agi.config import load_config
from ccpros_agi.overflow import estimated_wait
from ccpros_agi.pbx import prompts
from ccpros_agi.waiting import Observed, Pool, decide, erlang_quantile, mean_handling_s, sayable_minutes

PROJECT = Path(__file__).resolve().parents[2]


def observed(position=1, *pools, handling=300.0):
    return Observed(position=position, pools=tuple(pools) or (Pool(staffed=1),), handling_s=handling)


# -- the model's arithmetic ----------------------------------------------------------------------------------
@pytest.mark.parametrize("k, p, expected", [
    (1, 0.9, math.log(10)), (2, 0.9, 3.88972), (5, 0.9, 7.99359), (10, 0.9, 14.20599), (3, 0.5, 2.67406),
])
def test_erlang_quantile_known_values(k, p, expected):
    assert erlang_quantile(k, p) == pytest.approx(expected, rel=1e-5)


def test_erlang_quantile_is_above_the_mean_and_grows():
    values = [erlang_quantile(k, 0.9) for k in range(1, 60)]
    assert all(v > k for k, v in enumerate(values, start=1))
    assert values == sorted(values)
    assert erlang_quantile(400, 0.9) / 400 < 1.07            # relative spread shrinks with k
    with pytest.raises(ValueError):
        erlang_quantile(0, 0.9)


@pytest.mark.parametrize("seconds, minutes", [
    (0, 1), (1, 1), (60, 1), (61, 2), (599, 10), (600, 10), (601, 15), (900, 15), (1201, 25), (1800, 30),
    (1801, None), (math.inf, None),
])
def test_bounds_are_rounded_up_to_a_minute_count_one_can_say(seconds, minutes):
    assert sayable_minutes(seconds) == minutes


def test_mean_handling_time_starts_from_the_default_and_follows_the_day():
    assert mean_handling_s([]) == waiting.DEFAULT_HANDLING_S
    assert mean_handling_s([120.0]) == pytest.approx((120 + 5 * 300) / 6)
    assert mean_handling_s([600.0] * 200) == pytest.approx(600, rel=0.02)
    assert mean_handling_s(count=3, total_s=360.0) == mean_handling_s([120.0] * 3)


# -- the rules -----------------------------------------------------------------------------------------------
def test_nobody_staffed_nothing_about_time():
    a = decide(observed(3, Pool(staffed=0), Pool(staffed=0, after_s=30)))
    assert (a.reason, a.prompts, a.estimate_s, a.position) == ("nobody_staffed", (), None, 3)


def test_free_advisor_for_everyone_ahead_answered_at_once():
    assert decide(observed(1, Pool(staffed=2, free=1))).reason == "answered_at_once"
    assert decide(observed(2, Pool(staffed=3, free=2))).reason == "answered_at_once"
    # a caller elsewhere may take the free advisor first: then a bound is said
    assert decide(observed(1, Pool(staffed=2, free=1, waiting_elsewhere=1))).reason == "estimate"
    # a widened pool's free advisors do not count: they may be busy by the time the call widens
    assert decide(observed(1, Pool(staffed=0), Pool(staffed=2, free=2, after_s=20))).reason == "estimate"


def test_bound_is_the_erlang_quantile_rounded_up():
    a = decide(observed(1, Pool(staffed=1), handling=300))
    assert a.reason == "estimate"
    assert a.bound_s == pytest.approx(300 * math.log(10))           # 691 s
    assert (a.minutes, a.estimate_s, a.prompts) == (15, 900.0, ("wait-under-15",))
    assert a.mean_s == estimated_wait(1, 300, 1)
    b = decide(observed(4, Pool(staffed=10), handling=300))         # 4 × 300 / 10 = 120 s on average
    assert b.mean_s == pytest.approx(120)
    assert b.bound_s == pytest.approx(30 * erlang_quantile(4, 0.9))
    assert b.minutes == 4 and b.estimate_s >= b.bound_s


def test_callers_waiting_elsewhere_for_the_same_advisors_count_as_ahead():
    alone = decide(observed(2, Pool(staffed=4), handling=240))
    shared = decide(observed(2, Pool(staffed=4, waiting_elsewhere=6), handling=240))
    assert shared.bound_s == pytest.approx(decide(observed(8, Pool(staffed=4), handling=240)).bound_s)
    assert shared.bound_s > alone.bound_s


def test_the_best_pool_is_said_a_widened_one_from_its_delay():
    home_empty = decide(observed(1, Pool(staffed=0), Pool(staffed=3, after_s=30), handling=120))
    assert home_empty.bound_s == pytest.approx(30 + 40 * math.log(10))
    both = decide(observed(5, Pool(staffed=1), Pool(staffed=10, after_s=15), handling=300))
    assert both.bound_s == pytest.approx(15 + 30 * erlang_quantile(5, 0.9))
    assert both.bound_s < decide(observed(5, Pool(staffed=1), handling=300)).bound_s


def test_too_long_nothing_about_time():
    a = decide(observed(40, Pool(staffed=2), handling=300))
    assert (a.reason, a.prompts, a.estimate_s) == ("too_long", (), None)
    assert a.bound_s > 30 * 60


def test_the_bound_holds_nine_times_in_ten_under_the_model():
    rng = random.Random(4)
    for position, staffed, elsewhere in ((1, 1, 0), (3, 2, 1), (8, 5, 4), (20, 12, 10)):
        a = decide(observed(position, Pool(staffed=staffed, waiting_elsewhere=elsewhere), handling=300))
        k, rate = position + elsewhere, staffed / 300
        waits = [sum(rng.expovariate(rate) for _ in range(k)) for _ in range(4000)]
        held = sum(w <= a.bound_s for w in waits) / len(waits)
        assert 0.88 <= held <= 0.92, (position, held)
        assert sum(w <= a.estimate_s for w in waits) / len(waits) >= held


def test_record_is_what_the_call_event_keeps():
    a = decide(observed(2, Pool(staffed=2), handling=200))
    assert a.record() == {"position": 2, "estimate_s": a.estimate_s, "minutes": a.minutes,
                          "said": list(a.prompts), "reason": "estimate", "bound_s": round(a.bound_s, 1),
                          "mean_s": round(a.mean_s, 1)}


# -- the sentences -------------------------------------------------------------------------------------------
def test_every_sayable_minute_has_its_french_sentence():
    for minutes in waiting.SAYABLE_MINUTES:
        text = waiting.PROMPTS[waiting.estimate_prompt(minutes)]
        assert text.startswith("Votre attente est estimée à moins d")
        assert (str(minutes) in text) == (minutes > 1)
    assert waiting.PROMPTS["wait-under-1"] == "Votre attente est estimée à moins d'une minute."
    assert "environ" not in " ".join(waiting.PROMPTS.values())
    with pytest.raises(ValueError):
        waiting.estimate_prompt(11)


def test_app_queue_says_the_position_with_our_sentences():
    assert set(waiting.QUEUE_PROMPTS.values()) <= set(waiting.PROMPTS)
    # "Vous êtes en position" <number> "dans la file d'attente."
    assert waiting.PROMPTS[waiting.QUEUE_PROMPTS["queue-thereare"]] == "Vous êtes en position"
    assert waiting.PROMPTS[waiting.QUEUE_PROMPTS["queue-callswaiting"]] == "dans la file d'attente."


@pytest.fixture(scope="module")
def config():
    return load_config(PROJECT / "config")


def test_topic_queues_announce_position_never_hold_time(config):
    text = confgen.render_queues(config, "/snd")
    sections = dict(re.findall(r"\[([^\]]+)\]\n(.*?)\n\n", text, re.S))
    for name, _, _ in confgen.all_queues(config):
        lines = sections[name].splitlines()
        assert {"announce-position=yes", "announce-holdtime=no", "min-announce-frequency=60",
                "queue-thereare=/snd/wait-position", "queue-callswaiting=/snd/wait-in-line",
                "queue-youarenext=/snd/wait-first"} <= set(lines)
        # the online message comes half-way between two position announcements, not on top of one
        assert "periodic-announce-startdelay=3" not in lines
    for advisor in config.advisors:                # an advisor's own queue: a few seconds, nothing said
        assert "announce-frequency=0" in sections[routing.direct_queue_name(advisor.id)]


def test_waiting_prompts_are_made_with_every_instance(tmp_path, monkeypatch):
    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)

    monkeypatch.setattr(prompts.subprocess, "run", fake_run)
    made = prompts.synthesize({"menu": "Bonjour."}, tmp_path)
    assert set(made) == {"menu", *waiting.PROMPTS}
    assert (tmp_path / "wait-under-5.txt").read_text() == "Votre attente est estimée à moins de 5 minutes."
    assert prompts.synthesize({"menu": "Bonjour."}, tmp_path / "only", fixed=False) == ["menu"]


# -- the entry handler against a fake Asterisk ---------------------------------------------------------------
class FakeAsterisk:
    """Answers GET FULL VARIABLE from a hand-built state of queues and devices."""

    def __init__(self, waiting_in=None, members=None, devices=None, variables=None, fail=False):
        self.waiting_in = waiting_in or {}
        self.members = members or {}          # queue -> {interface: (penalty, paused)}
        self.devices = devices or {}          # interface -> state
        self.variables = variables or {}
        self.played: list[str] = []
        self.commands: list[str] = []
        self.fail = fail

    def _function(self, match: re.Match) -> str:
        name, args = match.group(1), match.group(2).split(",")
        if name == "QUEUE_WAITING_COUNT":
            return str(self.waiting_in.get(args[0], 0))
        if name == "QUEUE_MEMBER_LIST":
            return ",".join(self.members.get(args[0], {}))
        if name == "QUEUE_MEMBER":
            penalty, paused = self.members[args[0]][args[2]]
            return str(penalty if args[1] == "penalty" else int(paused))
        if name == "DEVICE_STATE":
            return self.devices.get(args[0], "UNAVAILABLE")
        raise AssertionError(name)

    async def get_full_variable(self, expr: str):
        self.commands.append(expr)
        if self.fail:
            return None
        return re.sub(r"\$\{(\w+)\(([^)]*)\)\}", self._function, expr)

    async def get_variable(self, name: str):
        return self.variables.get(name)

    async def stream_file(self, path: str, escape_digits: str = "", **kwargs):
        self.played.append(path)


class FakeStore:
    def __init__(self):
        self.events = []

    async def add_event(self, linkedid, at, source, kind, data=None):
        self.events.append((kind, dict(data or {})))


NOW = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)


async def announce(config, asterisk, queue, plan=None):
    plan = plan or routing.QueuePlan()
    store = FakeStore()
    call = inbound.Call(asterisk, inbound.InboundDeps(config, store, "/snd", clock=lambda: NOW), "1.1")
    await inbound.announce_wait(call, queue, plan, NOW)
    (kind, data), = store.events
    assert kind == "wait_announced"
    return data


async def test_entry_one_busy_advisor_a_bound_is_said_and_recorded(config):
    asterisk = FakeAsterisk(members={"q-tva": {"PJSIP/alencon-01": (0, False)}},
                            devices={"PJSIP/alencon-01": "INUSE"}, waiting_in={"q-tva": 1})
    data = await announce(config, asterisk, "q-tva")
    # position 2, one advisor, 300 s: 1167 s; a long wait: the callback key is offered (callback in config)
    assert asterisk.played == ["/snd/wait-under-20", "/snd/callback-offer"]
    assert data | {"pools": None} == {
        "position": 2, "reason": "estimate", "estimate_s": 1200.0, "minutes": 20,
        "said": ["wait-under-20", "callback-offer"], "bound_s": round(300 * erlang_quantile(2, 0.9), 1),
        "mean_s": 600.0, "queue": "q-tva", "handling_s": 300.0, "pools": None, "callback_offered": True}
    assert data["pools"] == [{"staffed": 1, "free": 0, "waiting_elsewhere": 0, "after_s": 0.0}]


async def test_entry_counts_callers_waiting_for_the_same_advisors_elsewhere(config):
    # alencon-01 also serves q-conseiller and the TVA queues of every site (not its own direct queue: a
    # repeat caller rings it only while it is free)
    asterisk = FakeAsterisk(members={"q-tva": {"PJSIP/alencon-01": (0, False)}},
                            devices={"PJSIP/alencon-01": "INUSE"},
                            waiting_in={"q-conseiller": 1, "q-pau-tva": 1, "q-direct-alencon-01": 5})
    data = await announce(config, asterisk, "q-tva")
    assert data["pools"] == [{"staffed": 1, "free": 0, "waiting_elsewhere": 2, "after_s": 0.0}]
    assert (data["position"], data["bound_s"]) == (1, round(300 * erlang_quantile(3, 0.9), 1))
    assert asterisk.played == ["/snd/wait-under-30", "/snd/callback-offer"]


async def test_entry_home_site_empty_the_bound_starts_when_the_call_widens(config):
    members = {"PJSIP/pau-01": (0, False), "PJSIP/cahors-02": (1, False), "PJSIP/morlaix-03": (1, True)}
    asterisk = FakeAsterisk(members={"q-pau-tva": members},
                            devices={"PJSIP/pau-01": "UNAVAILABLE", "PJSIP/cahors-02": "INUSE",
                                     "PJSIP/morlaix-03": "NOT_INUSE"},            # paused: not staffed
                            variables={"QUEUE_MAX_PENALTY": "0"})
    plan = routing.QueuePlan(max_penalty=0, rule="r", rule_after_s=30, widen_after_s=30)
    data = await announce(config, asterisk, "q-pau-tva", plan)
    assert data["pools"] == [{"staffed": 0, "free": 0, "waiting_elsewhere": 0, "after_s": 0.0},
                             {"staffed": 1, "free": 0, "waiting_elsewhere": 0, "after_s": 30.0}]
    assert data["bound_s"] == round(30 + 300 * math.log(10), 1) and data["minutes"] == 15


async def test_entry_nothing_said_when_nobody_is_staffed_or_someone_is_free(config):
    nobody = await announce(config, FakeAsterisk(waiting_in={"q-tva": 1}), "q-tva")
    assert (nobody["position"], nobody["reason"], nobody["said"], nobody["estimate_s"]) == (
        2, "nobody_staffed", ["callback-offer"], None)          # nothing about time; the callback is offered
    free = FakeAsterisk(members={"q-tva": {"PJSIP/alencon-01": (0, False)}}, devices={"PJSIP/alencon-01": "NOT_INUSE"})
    data = await announce(config, free, "q-tva")
    assert (data["reason"], data["said"], free.played) == ("answered_at_once", [], [])


async def test_entry_repeat_caller_offered_to_their_free_last_advisor_hears_nothing(config):
    asterisk = FakeAsterisk(members={"q-tva": {"PJSIP/alencon-01": (0, False)}},
                            devices={"PJSIP/alencon-01": "INUSE"}, variables={"CCPROS_DIRECT": "q-direct-pau-01"})
    data = await announce(config, asterisk, "q-tva")
    assert (data["reason"], data["said"], data["estimate_s"], asterisk.played) == ("direct_offer", [], None, [])


async def test_entry_state_unreadable_nothing_said_and_recorded(config):
    asterisk = FakeAsterisk(fail=True)
    data = await announce(config, asterisk, "q-tva")
    assert (data["reason"], data["said"], data["position"], asterisk.played) == ("no_state", [], None, [])


async def test_entry_hangup_during_the_announcement_records_what_was_not_said(config):
    from ccpros_agi.agi.fastagi import ChannelHungUp

    class HangsUp(FakeAsterisk):
        async def stream_file(self, path, escape_digits="", **kwargs):
            raise ChannelHungUp("gone")

    asterisk = HangsUp(members={"q-tva": {"PJSIP/alencon-01": (0, False)}}, devices={"PJSIP/alencon-01": "INUSE"})
    data = await announce(config, asterisk, "q-tva")
    assert (data["said"], data["estimate_s"], data["planned"]) == ([], None, ["wait-under-15"])


async def test_entry_every_advisor_fits_in_agi_commands(config):
    everyone = {f"PJSIP/{a.id}": (0, False) for a in config.advisors}
    asterisk = FakeAsterisk(members={"q-chalons-en-champagne-conseiller": everyone},
                            devices={i: "INUSE" for i in everyone})
    data = await announce(config, asterisk, "q-chalons-en-champagne-conseiller")
    assert data["pools"][0]["staffed"] == len(config.advisors)
    assert len(asterisk.commands) > 3
    assert max(len(c) for c in asterisk.commands) <= 1500     # Asterisk reads 2047 bytes of a command
