"""Office agendas: configuration checks, slot rules, reminders, back-off, texts, input validation."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccpros_agi.appointments import agenda as rules
from ccpros_agi.appointments.config import (
    Agenda,
    AppointmentsConfig,
    Notifications,
    Period,
    Reason,
    load_appointments,
    load_credentials,
)
from ccpros_agi.appointments.messages import event_key, render, when_fr
from ccpros_agi.appointments.senders import message_id
from ccpros_agi.config import ConfigError, Hours, load_config
from ccpros_agi.web_appointments import Invalid, french_number, siren_ok

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
HOURS = Hours(timezone="Europe/Paris", weekly={d: () for d in range(7)}, public_holidays_country="FR",
              closed_dates=frozenset({date(2027, 3, 10)}))
TVA = Reason("tva", "TVA", 30, "phone")
CREATION = Reason("creation", "Création", 45, "desk")
AGENDA = Agenda(weekly={0: (Period(time(9), time(10), 2),), 1: (), 2: (Period(time(9), time(10), 1),),
                        3: (), 4: (), 5: (), 6: ()}, reasons=("tva", "creation"))


def cfg(**kw) -> AppointmentsConfig:
    base = dict(hours=HOURS, reasons=(TVA, CREATION), default=AGENDA, offices={}, horizon_days=30,
                min_notice_minutes=60, step_minutes=15, notifications=Notifications(reminder_time=time(10)),
                office_names={"sie-1": "SIE de Pau"})
    base.update(kw)
    return AppointmentsConfig(**base)


def at(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=PARIS)


MONDAY = date(2027, 3, 1)  # a Monday, no holiday
NOW = at(2027, 2, 26, 12)  # the Friday before


# --- slots -----------------------------------------------------------------------------------------


def test_day_slots_step_and_duration() -> None:
    starts = [s.start for s in rules.day_slots(cfg(), AGENDA, TVA, MONDAY)]
    assert starts == [at(2027, 3, 1, 9), at(2027, 3, 1, 9, 15), at(2027, 3, 1, 9, 30)]
    assert [s.start for s in rules.day_slots(cfg(), AGENDA, CREATION, MONDAY)] == [
        at(2027, 3, 1, 9), at(2027, 3, 1, 9, 15)]
    assert rules.day_slots(cfg(), AGENDA, TVA, MONDAY + timedelta(days=1)) == []  # no period on Tuesday


def test_holidays_and_closed_dates_have_no_slot() -> None:
    easter_monday = date(2027, 3, 29)
    assert easter_monday.weekday() == 0
    assert rules.day_slots(cfg(), AGENDA, TVA, easter_monday) == []
    assert rules.day_slots(cfg(), AGENDA, TVA, date(2027, 3, 10)) == []  # hours.yaml closed date
    assert rules.day_slots(cfg(closed_dates=frozenset({MONDAY})), AGENDA, TVA, MONDAY) == []


def test_free_slots_counts_agents_and_overlaps() -> None:
    busy = [rules.Busy(at(2027, 3, 1, 9), at(2027, 3, 1, 9, 30), 0),
            rules.Busy(at(2027, 3, 1, 9), at(2027, 3, 1, 9, 45), 1)]
    slots = rules.free_slots(cfg(), "sie-1", "tva", MONDAY, MONDAY, busy, NOW)
    # 9:00 and 9:15 overlap both; 9:30 overlaps only agent 1 (until 9:45)
    assert [(s.start, s.free) for s in slots] == [(at(2027, 3, 1, 9, 30), 1)]
    assert rules.free_agent(at(2027, 3, 1, 9, 30), at(2027, 3, 1, 10), 2, busy) == 0
    assert rules.free_agent(at(2027, 3, 1, 9), at(2027, 3, 1, 9, 30), 2, busy) is None


def test_free_slots_respect_notice_and_horizon() -> None:
    now = at(2027, 3, 1, 8, 10)  # 60 min notice: 9:00 is too soon, 9:15 is fine
    assert [s.start for s in rules.free_slots(cfg(), "sie-1", "tva", MONDAY, MONDAY, [], now)][0] == \
        at(2027, 3, 1, 9, 15)
    far = rules.free_slots(cfg(horizon_days=3), "sie-1", "tva", MONDAY, MONDAY + timedelta(days=20), [], NOW)
    assert all(s.start.date() <= date(2027, 3, 1) for s in far)


def test_check_slot_says_why() -> None:
    c = cfg()
    assert rules.check_slot(c, "sie-1", "tva", at(2027, 3, 1, 9, 30), NOW).end == at(2027, 3, 1, 10)
    cases = {
        at(2027, 2, 1, 9): "in the past",
        at(2027, 2, 26, 12, 30): "too soon",
        at(2027, 5, 3, 9): "beyond the booking horizon",
        at(2027, 3, 1, 9, 40): "not a slot",
        at(2027, 3, 2, 9): "not a slot",
    }
    for start, words in cases.items():
        with pytest.raises(rules.RuleError) as err:
            rules.check_slot(c, "sie-1", "tva", start, NOW)
        assert err.value.kind == "invalid" and words in err.value.message
    with pytest.raises(rules.RuleError, match="unknown reason"):
        rules.check_slot(c, "sie-1", "nope", at(2027, 3, 1, 9), NOW)
    with pytest.raises(rules.RuleError) as err:
        rules.check_slot(cfg(default=None), "sie-1", "tva", at(2027, 3, 1, 9), NOW)
    assert err.value.kind == "unknown"


def test_slots_across_dst_change() -> None:
    sunday_dst = date(2027, 3, 28)  # clocks go forward at 02:00
    agenda = Agenda(weekly={d: (Period(time(1), time(4), 1),) for d in range(7)}, reasons=("tva",))
    slots = rules.day_slots(cfg(default=agenda), agenda, TVA, sunday_dst)
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert len({s.start for s in slots}) == len(slots)


def test_change_and_outcome_rules() -> None:
    start = at(2027, 3, 1, 9)
    rules.check_change("booked", start, NOW, "cancel")
    for status in ("cancelled", "honoured"):
        with pytest.raises(rules.RuleError, match="status"):
            rules.check_change(status, start, NOW, "cancel")
    with pytest.raises(rules.RuleError, match="already started"):
        rules.check_change("booked", start, start, "reschedule")
    rules.check_outcome("booked", start, "no_answer", start + timedelta(minutes=1))
    with pytest.raises(rules.RuleError, match="not started"):
        rules.check_outcome("booked", start, "honoured", NOW)
    with pytest.raises(rules.RuleError, match="cancelled"):
        rules.check_outcome("cancelled", start, "honoured", start)
    with pytest.raises(rules.RuleError, match="unknown outcome"):
        rules.check_outcome("booked", start, "late", start)


def test_reminder_day_and_backoff() -> None:
    assert rules.reminder_day(cfg(), at(2027, 2, 28, 9, 59)) is None
    assert rules.reminder_day(cfg(), at(2027, 2, 28, 10)) == (at(2027, 3, 1, 0), at(2027, 3, 2, 0))
    assert [rules.backoff_seconds(n, 30, 3600) for n in range(0, 10)] == [
        0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert rules.backoff_seconds(10_000, 30, 3600) == 3600


# --- texts -------------------------------------------------------------------------------------------


def test_messages_and_keys() -> None:
    appt = {"id": 7, "office_id": "sie-1", "channel": "phone", "starts_at": at(2027, 3, 1, 9, 30),
            "phone": "+33612345678", "email": "a@b.fr", "reschedules": 0}
    assert when_fr(appt["starts_at"], "Europe/Paris") == "lundi 1 mars 2027 à 9 h 30"
    msgs = render(appt, "booked", office_name="SIE de Pau", reason_label="TVA", tz="Europe/Paris")
    assert [(m.channel, m.recipient, m.idempotency_key) for m in msgs] == [
        ("email", "a@b.fr", "appointment:7:booked:email"), ("sms", "+33612345678", "appointment:7:booked:sms")]
    assert "lundi 1 mars 2027 à 9 h 30" in msgs[1].body and "RDV-7" in msgs[1].body
    assert len(render({**appt, "email": None}, "cancelled", office_name="x", reason_label="y",
                      tz="Europe/Paris")) == 1
    assert event_key({**appt, "reschedules": 2}, "rescheduled") == "appointment:7:rescheduled:2"
    assert event_key(appt, "reminder") == "appointment:7:reminder:20270301T0830"
    assert message_id("appointment:7:booked:email") == "<appointment.7.booked.email@ccpros.invalid>"


# --- input ---------------------------------------------------------------------------------------------


def test_french_numbers_only() -> None:
    assert french_number("05 59 00 00 00") == "+33559000000"
    assert french_number("+33 6 12 34 56 78") == "+33612345678"
    for bad in ("", "abc", "+44 20 7946 0958", "0899 00 00 00", "06 12", None, 612345678):
        with pytest.raises(Invalid) as err:
            french_number(bad)
        assert err.value.status == 422 and "phone" in err.value.message


def test_siren_check_digit() -> None:
    assert siren_ok("732829320")  # a real SIREN
    assert not siren_ok("732829321") and not siren_ok("12345678") and not siren_ok("abcdefghi")


# --- configuration ------------------------------------------------------------------------------------


def test_repository_configuration_loads() -> None:
    config = load_config(CONFIG_DIR)
    appointments = load_appointments(config)
    assert appointments is not None and appointments.agenda("sie-64445-01") is not None
    assert appointments.notifications.smtp is not None


def _broken(tmp_path: Path, text: str) -> list[str]:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    (target / "appointments.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_appointments(load_config(target))
    return [str(p) for p in err.value.problems]


def test_configuration_problems_name_entry_and_fix(tmp_path: Path) -> None:
    problems = _broken(tmp_path, """
reasons:
  - {id: tva, label: TVA, duration_minutes: 30, channel: fax}
  - {id: tva, label: TVA, duration_minutes: 1}
default:
  weekly:
    monday: [["09:00", "08:00", 2], ["10:00", "12:00", 0]]
    funday: []
  reasons: [cfe]
offices:
  sie-nowhere: {weekly: {monday: [["09:00", "12:00", 1]]}}
notifications:
  sms: {url: "ftp://user:pw@gw"}
  smtp: {host: relay, sender: nobody}
""")
    text = "\n".join(problems)
    for words in ("channel 'fax' is unknown", "used twice", "'duration_minutes' is 1", "empty period",
                  "number of agents", "unknown weekday 'funday'", "reason 'cfe' is not defined",
                  "office 'sie-nowhere' is not in offices.csv", "not an http(s) address", "holds a password",
                  "not an e-mail address"):
        assert words in text, words
    assert all(p.startswith("appointments.yaml: ") for p in problems)


def test_unknown_key_and_missing_file(tmp_path: Path) -> None:
    assert any("unknown key 'horizon'" in p for p in _broken(tmp_path, "horizon: 3\nreasons: []\n"))
    target = tmp_path / "bare"
    shutil.copytree(CONFIG_DIR, target)
    (target / "appointments.yaml").unlink()
    assert load_appointments(load_config(target)) is None


def test_credentials_from_environment_over_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("notifications: {smtp_user: u, smtp_password: p, sms_token: t}\n")
    creds = load_credentials(secrets, environ={"CCPROS_SMS_TOKEN": "env"})
    assert (creds.smtp_user, creds.smtp_password, creds.sms_user, creds.sms_token) == ("u", "p", None, "env")
    assert "p" not in repr(creds)
    assert load_credentials(tmp_path / "missing.yaml", environ={}).smtp_user is None


def test_make_app_serves_the_agendas_only_when_given_a_store() -> None:
    from ccpros_agi.store.appointments import AppointmentStore
    from ccpros_agi.web import make_app

    config = load_config(CONFIG_DIR)
    store = AppointmentStore(engine=None, config=load_appointments(config))  # type: ignore[arg-type]
    paths = {r.resource.canonical for r in make_app(None, None, config, appointments=store).router.routes()}
    assert {"/api/appointments", "/api/offices/{office}/slots", "/agenda/{office}"} <= paths
    bare = {r.resource.canonical for r in make_app(None, None, config).router.routes()}
    assert not any(p.startswith(("/api/appointments", "/agenda")) for p in bare)
