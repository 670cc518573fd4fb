"""Callbacks' pure rules (ccpros_agi.callbacks.policy) and their configuration. The dialer, the queue
legs and the business legs run against the real Asterisk (tests/integration/test_callbacks.py)."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from ccpros_agi.callbacks.policy import (
    after_attempt, callback_number, channel_id, parse_channel_id, position_for, queue_leg_id, texts,
)
from ccpros_agi.config import ConfigError, load_config
from ccpros_agi.config.models import Callback

DEMO = Path(__file__).resolve().parents[2] / "config"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "expected"), [
    ("+33536490001", "+33536490001"),        # geographic (Sud-Ouest)
    ("05 36 49 00 01", "+33536490001"),
    ("0612345678", "+33612345678"),          # mobile
    ("+33899123456", None),                  # premium rate
    ("0800123456", None),                    # toll free
    ("0970000000", None),                    # VoIP (not geographic)
    ("3949", None),                          # short number
    ("+441632960961", None),                 # foreign
    ("", None), ("abc", None), ("0" * 30, None),
])
def test_only_french_geographic_and_mobile_numbers_are_called_back(text, expected):
    number, why = callback_number(text)
    assert number == expected
    assert (why is None) == (expected is not None)


def test_a_callback_takes_its_turn_among_the_waiting_calls():
    others = [T0 - timedelta(seconds=30), T0 + timedelta(seconds=5), None, T0 + timedelta(seconds=60)]
    assert position_for(T0, others) == 3          # after the earlier one and the unknown one
    assert position_for(T0, []) == 1


def test_after_an_attempt_retry_then_fail():
    settings = Callback(max_attempts=2, retry_after_seconds=120)
    assert after_attempt("answered", 1, settings, T0).status == "done"
    retry = after_attempt("no_answer", 1, settings, T0)
    assert (retry.status, retry.next_attempt_at, retry.outcome) == ("pending", T0 + timedelta(seconds=120), None)
    final = after_attempt("busy", 2, settings, T0)
    assert (final.status, final.outcome) == ("failed", "busy")


def test_channel_ids_round_trip():
    assert parse_channel_id(channel_id(12, 3)) == (12, 3)
    assert parse_channel_id(queue_leg_id(12, 3)) == (12, 3)
    assert parse_channel_id("1795450000.12") is None and parse_channel_id("ccpros-cb-x-1") is None


def test_prompts_follow_the_configuration():
    config = load_config(DEMO)
    out = texts(config)
    assert "tapez 5" in out["callback-offer"] and "callback-whisper-tva" in out


def _platform_problems(tmp_path, change) -> list[str]:
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    path = target / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    return [p.message for p in caught.value.problems if p.entry in ("callback", "trunk")]


def test_callbacks_need_a_way_out_and_sane_settings(tmp_path):
    no_contact = _platform_problems(tmp_path, lambda d: d["trunk"].pop("contact"))
    assert any("set trunk.contact" in m for m in no_contact)
    bad = _platform_problems(tmp_path / "b", lambda d: d["callback"].update(key="55", max_attempts=0))
    assert any("single digit" in m for m in bad) and any("'max_attempts' must be between 1 and 10" in m for m in bad)
    bad_uri = _platform_problems(tmp_path / "c", lambda d: d["trunk"].update(contact="carrier"))
    assert any("not a SIP URI" in m for m in bad_uri)


def test_the_callback_is_offered_when_the_wait_will_be_long():
    from ccpros_agi.callbacks.policy import offer_at_entry

    settings = Callback(offer_after_seconds=60)
    assert offer_at_entry(settings, "estimate", 90.0) and not offer_at_entry(settings, "estimate", 30.0)
    assert offer_at_entry(settings, "too_long", None) and offer_at_entry(settings, "nobody_staffed", None)
    for reason in ("answered_at_once", "direct_offer", "no_state"):
        assert not offer_at_entry(settings, reason, 600.0)
    assert not offer_at_entry(None, "too_long", None)


def test_callback_slots_are_the_next_opening_half_hours():
    from zoneinfo import ZoneInfo

    from ccpros_agi.callbacks.policy import callback_slots

    hours = load_config(DEMO).hours                 # Monday to Friday 8:30-18:00, French holidays
    paris = ZoneInfo("Europe/Paris")

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=paris)

    assert callback_slots(hours, at("2026-11-23 21:00")) == [at("2026-11-24 08:30"), at("2026-11-24 09:00"),
                                                            at("2026-11-24 09:30")]
    # Saturday: Monday morning; open now: from the next half hour; the day's end: the next morning
    assert callback_slots(hours, at("2026-11-28 11:00"))[0] == at("2026-11-30 08:30")
    assert callback_slots(hours, at("2026-11-24 08:40"))[:2] == [at("2026-11-24 09:00"), at("2026-11-24 09:30")]
    assert callback_slots(hours, at("2026-11-24 17:45")) == [at("2026-11-25 08:30"), at("2026-11-25 09:00"),
                                                            at("2026-11-25 09:30")]
    # Christmas Day (Friday) is a holiday, then the week-end: Monday the 28th
    assert callback_slots(hours, at("2026-12-24 19:00"))[0] == at("2026-12-28 08:30")


def test_the_caller_is_told_within_how_long_when_it_can_be_said():
    out = texts(load_config(DEMO))
    assert "dans moins de 15 minutes" in out["callback-within-15"]
    assert "moins d'une minute" in out["callback-within-1"]
