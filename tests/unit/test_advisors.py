"""Advisors' states from AMI events, the daily accounting, pause reasons and supervisors (issue 6)."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ccpros_agi.advisors.states import (AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, AdvisorStates, Change, Interval,
                                        daily_accounting, day_bounds)
from ccpros_agi.advisors.supervision import load_supervisors, may_supervise
from ccpros_agi.config import load_config
from ccpros_agi.config.models import ConfigError

PROJECT = Path(__file__).resolve().parents[2]
T0 = datetime(2027, 3, 9, 7, 0, tzinfo=timezone.utc)          # 08:00 in Paris


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def member(kind: str, queue: str, advisor: str = "pau-01", **fields: str) -> dict[str, str]:
    return {"Event": kind, "Queue": queue, "MemberName": advisor, "Interface": f"PJSIP/{advisor}", **fields}


def test_states_follow_queue_events():
    s = AdvisorStates(["pau-01", "pau-02"])
    changes = []
    changes += s.on_event(member("QueueMemberAdded", "q-tva", Paused="0"), at(0))
    changes += s.on_event(member("QueueMemberAdded", "q-cfe", Paused="0"), at(0))      # still available
    changes += s.on_event(member("QueueMemberPause", "q-tva", Paused="1", PausedReason="lunch"), at(10))
    changes += s.on_event(member("QueueMemberPause", "q-cfe", Paused="1", PausedReason="lunch"), at(10))
    changes += s.on_event(member("QueueMemberPause", "q-tva", Paused="0"), at(70))
    changes += s.on_event(member("QueueMemberPause", "q-cfe", Paused="0"), at(70))
    changes += s.on_event(member("AgentConnect", "q-tva", Uniqueid="1.1"), at(80))
    changes += s.on_event(member("QueueMemberStatus", "q-tva", Paused="0", InCall="1"), at(80))
    changes += s.on_event(member("AgentComplete", "q-tva", Uniqueid="1.1"), at(200))
    changes += s.on_event(member("QueueMemberRemoved", "q-tva"), at(300))
    changes += s.on_event(member("QueueMemberRemoved", "q-cfe"), at(300))
    changes += s.on_event(member("QueueMemberAdded", "q-tva", advisor="nobody"), at(300))   # unknown: ignored
    assert changes == [Change("pau-01", AVAILABLE, None, at(0)), Change("pau-01", PAUSED, "lunch", at(10)),
                       Change("pau-01", AVAILABLE, None, at(70)), Change("pau-01", ON_CALL, None, at(80)),
                       Change("pau-01", AVAILABLE, None, at(200)), Change("pau-01", LOGGED_OUT, None, at(300))]
    assert s.current()["pau-02"] == (LOGGED_OUT, None, None)


def test_wrap_up_after_a_call_when_the_queue_has_a_wrapuptime():
    s = AdvisorStates(["pau-01"])
    s.on_event(member("QueueMemberAdded", "q-tva", Paused="0", Wrapuptime="30"), at(0))
    s.on_event(member("AgentConnect", "q-tva", Uniqueid="1.1"), at(10))
    assert s.on_event(member("AgentComplete", "q-tva", Uniqueid="1.1"), at(100)) == [
        Change("pau-01", "wrap_up", None, at(100))]
    assert s.tick(at(120)) == []
    assert s.tick(at(131)) == [Change("pau-01", AVAILABLE, None, at(130))]


def test_daily_accounting_matches_a_scripted_day_to_the_second():
    start, split, end = day_bounds(date(2027, 3, 9), "Europe/Paris")
    assert (start, split, end) == (datetime(2027, 3, 8, 23, tzinfo=timezone.utc),
                                   datetime(2027, 3, 9, 12, tzinfo=timezone.utc),
                                   datetime(2027, 3, 9, 23, tzinfo=timezone.utc))

    def local(hh: int, mm: int, ss: int = 0) -> datetime:     # Paris time that day (UTC+1)
        return datetime(2027, 3, 9, hh, mm, ss, tzinfo=timezone.utc) - timedelta(hours=1)

    script = [  # (state, reason, from, to) for pau-01
        (AVAILABLE, None, local(8, 30), local(8, 31, 7)),
        (ON_CALL, None, local(8, 31, 7), local(10, 15, 0)),          # 1:43:53
        (PAUSED, "break", local(10, 15), local(10, 37, 30)),         # 22:30 (over 20 min)
        (ON_CALL, None, local(10, 37, 30), local(12, 0)),            # 1:22:30
        (PAUSED, "lunch", local(12, 0), local(13, 30)),
        (PAUSED, "break", local(12, 58), local(13, 3)),              # 2 min before noon split, 3 after
        (ON_CALL, None, local(13, 30), local(15, 30, 1)),            # 2:00:01
        (PAUSED, "written", local(15, 30, 1), local(16, 0)),         # 29:59
        (AVAILABLE, None, local(16, 0), local(17, 0)),
        (LOGGED_OUT, None, local(17, 0), None),
    ]
    intervals = [Interval("pau-01", *row) for row in script]
    intervals.append(Interval("pau-02", ON_CALL, None, start - timedelta(hours=2), start + timedelta(minutes=30)))  # began the day before
    result = daily_accounting(intervals, start, split, end, now=local(23, 59))
    one = result["pau-01"]
    assert one.phone_s == 6233 + 4950 + 7201 == 18384
    assert one.paused_s == {"break": 1350 + 300, "lunch": 5400, "written": 1799}
    assert (one.break_morning_s, one.break_afternoon_s) == (1350 + 120, 180)
    assert one.available_s == 67 + 3600
    assert one.phone_vs_norm_s == 18384 - 5 * 3600
    assert one.flags() == ["break_over_morning"]
    assert result["pau-02"].phone_s == 1800                        # clipped at midnight
    assert result["pau-02"].flags() == ["phone_under_norm"]
    # a state still going counts until now
    going = daily_accounting([Interval("pau-03", ON_CALL, None, local(9, 0), None)], start, split, end,
                             now=local(9, 0, 42))
    assert going["pau-03"].phone_s == 42


def test_pause_reasons_are_validated(tmp_path):
    assert load_config(PROJECT / "config").pause_reasons[0] == ("1", "break")
    shutil.copytree(PROJECT / "config", tmp_path, dirs_exist_ok=True)
    platform = tmp_path / "platform.yaml"
    text = platform.read_text()
    platform.write_text(text.replace("pause_reasons: {1: break, 2: lunch,", "pause_reasons: {12: break, 2: break,"))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path)
    message = str(error.value)
    assert "pause_reasons.12" in message and "single digit" in message


def test_supervisors_and_who_they_may_listen_to(tmp_path):
    config = load_config(PROJECT / "config")
    supervisors = load_supervisors(config)
    assert may_supervise(supervisors, config, "pau-04", "pau-01") is None
    assert "does not supervise" in may_supervise(supervisors, config, "morlaix-04", "pau-01")
    assert "not a supervisor" in may_supervise(supervisors, config, "pau-01", "pau-02")
    shutil.copytree(PROJECT / "config", tmp_path, dirs_exist_ok=True)
    (tmp_path / "supervisors.yaml").write_text("supervisors:\n  - {id: nobody, sites: [atlantis]}\n")
    with pytest.raises(ConfigError) as error:
        load_supervisors(load_config(tmp_path))
    assert "not an advisor" in str(error.value) and "unknown sites atlantis" in str(error.value)
