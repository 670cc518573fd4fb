"""Pure routing policy: opening hours (holidays, DST), menu choice, queue names, texts."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccpros_agi.config import Config, Hours, Topic, load_config
from ccpros_agi.routing import (
    choose_topic, hours_sentence, is_holiday, is_open, menu_prompt, next_opening, queue_name,
)

DEMO = Path(__file__).resolve().parents[2] / "config"
PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(DEMO)


@pytest.fixture(scope="module")
def hours(config: Config) -> Hours:
    return config.hours


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- is_open / is_holiday ----------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "expected"), [
    pytest.param(paris(2027, 3, 1, 10, 0), True, id="monday-10:00"),
    pytest.param(paris(2027, 3, 1, 8, 29, 59), False, id="monday-08:29:59"),
    pytest.param(paris(2027, 3, 1, 8, 30), True, id="monday-08:30"),
    pytest.param(paris(2027, 3, 1, 17, 59, 59), True, id="monday-17:59:59"),
    pytest.param(paris(2027, 3, 1, 18, 0), False, id="monday-18:00"),
    pytest.param(paris(2027, 3, 6, 10, 0), False, id="saturday"),
    pytest.param(paris(2027, 3, 7, 10, 0), False, id="sunday"),
    pytest.param(paris(2027, 7, 14, 10, 0), False, id="14-july"),
    pytest.param(paris(2027, 12, 25, 10, 0), False, id="christmas"),
    pytest.param(paris(2027, 3, 29, 10, 0), False, id="easter-monday-2027"),
    pytest.param(paris(2027, 5, 17, 10, 0), False, id="whit-monday-2027"),
    # DST starts on Sunday 2027-03-28: 08:30 is 07:30 UTC before, 06:30 UTC after.
    pytest.param(utc(2027, 3, 26, 7, 29), False, id="utc-before-dst-closed"),
    pytest.param(utc(2027, 3, 26, 7, 30), True, id="utc-before-dst-open"),
    pytest.param(utc(2027, 3, 26, 6, 30), False, id="utc-before-dst-06:30"),
    pytest.param(utc(2027, 3, 30, 6, 29), False, id="utc-after-dst-closed"),
    pytest.param(utc(2027, 3, 30, 6, 30), True, id="utc-after-dst-open"),
    pytest.param(utc(2027, 3, 30, 15, 59), True, id="utc-after-dst-17:59"),
    pytest.param(utc(2027, 3, 30, 16, 0), False, id="utc-after-dst-18:00"),
    # DST ends on Sunday 2027-10-31 (Monday 1 November is a holiday).
    pytest.param(utc(2027, 10, 29, 6, 30), True, id="utc-before-dst-end-open"),
    pytest.param(utc(2027, 10, 29, 16, 0), False, id="utc-before-dst-end-18:00"),
    pytest.param(utc(2027, 11, 2, 6, 30), False, id="utc-after-dst-end-07:30-local"),
    pytest.param(utc(2027, 11, 2, 7, 30), True, id="utc-after-dst-end-open"),
    pytest.param(utc(2027, 11, 2, 16, 59), True, id="utc-after-dst-end-17:59"),
    pytest.param(utc(2027, 11, 2, 17, 0), False, id="utc-after-dst-end-18:00"),
])
def test_is_open(hours: Hours, now: datetime, expected: bool) -> None:
    assert is_open(hours, now) is expected


def test_holidays_from_library(hours: Hours) -> None:
    holidays_2027 = (date(2027, 7, 14), date(2027, 12, 25), date(2027, 3, 29), date(2027, 1, 1),
                     date(2027, 11, 1))
    for day in holidays_2027:
        assert is_holiday(hours, day), day
    assert not is_holiday(hours, date(2027, 3, 30))


def test_closed_dates_honoured(hours: Hours) -> None:
    bridge = dataclasses.replace(hours, closed_dates=frozenset({date(2027, 5, 7)}))
    assert is_holiday(bridge, date(2027, 5, 7))
    assert not is_open(bridge, paris(2027, 5, 7, 10, 0))
    assert is_open(hours, paris(2027, 5, 7, 10, 0))
    assert next_opening(bridge, paris(2027, 5, 6, 19, 0)) == paris(2027, 5, 10, 8, 30)


def test_no_public_holidays(hours: Hours) -> None:
    plain = dataclasses.replace(hours, public_holidays_country=None)
    assert not is_holiday(plain, date(2027, 7, 14))
    assert is_open(plain, paris(2027, 7, 14, 10, 0))


def test_subdivision_holidays(hours: Hours) -> None:
    moselle = dataclasses.replace(hours, public_holidays_subdivision="57")
    assert is_holiday(moselle, date(2027, 12, 26)) and not is_holiday(hours, date(2027, 12, 26))


def test_naive_datetime_refused(hours: Hours) -> None:
    with pytest.raises(ValueError):
        is_open(hours, datetime(2027, 3, 1, 10, 0))


# --- next_opening ------------------------------------------------------------------------------------


def test_next_opening_when_open_is_now(hours: Hours) -> None:
    now = utc(2027, 3, 1, 9, 0)
    result = next_opening(hours, now)
    assert result == now
    assert result is not None and result.tzinfo == PARIS


def test_next_opening_later_same_day(hours: Hours) -> None:
    assert next_opening(hours, paris(2027, 3, 1, 7, 0)) == paris(2027, 3, 1, 8, 30)


def test_next_opening_friday_evening_is_monday(hours: Hours) -> None:
    result = next_opening(hours, paris(2027, 3, 5, 19, 0))
    assert result == paris(2027, 3, 8, 8, 30)
    assert result is not None and result.tzinfo == PARIS and (result.hour, result.minute) == (8, 30)


def test_next_opening_before_holiday_monday_and_dst(hours: Hours) -> None:
    """Friday before Easter Monday 2027, also the DST weekend: Tuesday 08:30 summer time."""
    result = next_opening(hours, utc(2027, 3, 26, 18, 0))
    assert result == paris(2027, 3, 30, 8, 30)
    assert result is not None and result.utcoffset() == timedelta(hours=2)
    assert result.astimezone(UTC) == utc(2027, 3, 30, 6, 30)


def test_next_opening_after_dst_end(hours: Hours) -> None:
    result = next_opening(hours, paris(2027, 10, 29, 18, 0))  # Monday 1 November is a holiday
    assert result is not None and result.astimezone(UTC) == utc(2027, 11, 2, 7, 30)


def test_next_opening_at_closing_time(hours: Hours) -> None:
    assert next_opening(hours, paris(2027, 3, 1, 18, 0)) == paris(2027, 3, 2, 8, 30)


def test_next_opening_never(hours: Hours) -> None:
    never = dataclasses.replace(hours, weekly={day: () for day in range(7)})
    assert next_opening(never, paris(2027, 3, 1, 10, 0)) is None


def test_next_opening_in_dst_gap(hours: Hours) -> None:
    """An opening at 02:30 on the spring-forward day does not exist; it happens at 03:30 summer time."""
    night = dataclasses.replace(hours, weekly={**hours.weekly, 6: ((time(2, 30), time(4, 0)),)})
    result = next_opening(night, paris(2027, 3, 27, 20, 0))
    assert result is not None and result.astimezone(UTC) == utc(2027, 3, 28, 1, 30)


# --- hours_sentence ----------------------------------------------------------------------------------


def test_hours_sentence_demo(hours: Hours) -> None:
    assert hours_sentence(hours) == (
        "Nos conseillers vous répondent du lundi au vendredi, de 8 heures 30 à 18 heures, "
        "sauf les jours fériés."
    )


def test_hours_sentence_groups(hours: Hours) -> None:
    split = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 0)))
    varied = Hours(
        timezone="Europe/Paris",
        weekly={0: split, 1: split, 2: split, 3: split, 4: ((time(8, 30), time(16, 0)),),
                5: ((time(9, 0), time(12, 0)),), 6: ()},
        public_holidays_country=None,
        public_holidays_subdivision=None,
        closed_dates=frozenset(),
    )
    assert hours_sentence(varied) == (
        "Nos conseillers vous répondent du lundi au jeudi, de 8 heures 30 à 12 heures et de 13 heures 30 "
        "à 17 heures; le vendredi, de 8 heures 30 à 16 heures; le samedi, de 9 heures à 12 heures."
    )


def test_hours_sentence_two_days(hours: Hours) -> None:
    two = dataclasses.replace(hours, weekly={**{d: () for d in range(7)}, 0: ((time(1, 5), time(9, 0)),),
                                              1: ((time(1, 5), time(9, 0)),)})
    assert hours_sentence(two).startswith(
        "Nos conseillers vous répondent le lundi et le mardi, de 1 heure 5 à 9 heures")


# --- choose_topic, queue_name, menu_prompt ------------------------------------------------------------


def test_choose_topic_every_key(config: Config) -> None:
    for topic in config.topics:
        assert choose_topic(config, topic.key) == (topic, "choice")


@pytest.mark.parametrize("digits", [None, ""])
def test_choose_topic_no_input(config: Config, digits: str | None) -> None:
    assert choose_topic(config, digits) == (config.general(), "no_input")


@pytest.mark.parametrize(
    "digits", ["#", "*", "99", "\x00", "1;2", "8", "a", " 1", "1 ", "\u0663", "1" * 10_000, 1])
def test_choose_topic_invalid(config: Config, digits: str) -> None:
    assert choose_topic(config, digits) == (config.general(), "invalid")


def test_queue_name() -> None:
    assert queue_name("tva") == "q-tva"
    assert queue_name("espace-pro") == "q-espace-pro"


def test_menu_prompt(config: Config) -> None:
    text = menu_prompt(config)
    assert text.startswith("Bienvenue")
    positions = [text.index(t.prompt) for t in sorted(config.topics, key=lambda t: t.key)]
    assert positions == sorted(positions)


def test_menu_prompt_keypad_order(config: Config) -> None:
    topics = (
        Topic(id="zero", label="Zéro", key="0", prompt="Pour un conseiller, tapez 0."),
        Topic(id="deux", label="Deux", key="2", prompt="Pour deux, tapez 2."),
        Topic(id="un", label="Un", key="1", prompt="Pour un, tapez 1."),
    )
    custom = dataclasses.replace(config, topics=topics)
    assert menu_prompt(custom).endswith("Pour un, tapez 1. Pour deux, tapez 2. Pour un conseiller, tapez 0. "
                                        + config.individuals.prompt)


def test_open_until_midnight(tmp_path: Path) -> None:
    """"24:00" ends an interval at midnight: open at 23:59:59, closed at 00:00 the next day."""
    import shutil

    shutil.copytree(DEMO, tmp_path, dirs_exist_ok=True)
    (tmp_path / "hours.yaml").write_text(
        'weekly:\n  monday: [["00:00", "24:00"]]\npublic_holidays: {country: FR}\n')
    hours = load_config(tmp_path).hours
    assert is_open(hours, paris(2027, 3, 1, 23, 59, 59))
    assert is_open(hours, paris(2027, 3, 1, 0, 0))
    assert not is_open(hours, paris(2027, 3, 2, 0, 0))
    assert "minuit" in hours_sentence(hours)


# --- calls by called number (offices) ----------------------------------------------------------------
from ccpros_agi.routing import classify_call, display_name, queue_for, speakable_number  # noqa: E402


def test_classify_national_office_and_unknown(config: Config) -> None:
    day = date(2026, 11, 23)
    assert classify_call(config, config.national_number, day).kind == "national"
    assert classify_call(config, "+33261910999", day).kind == "unknown"
    assert classify_call(config, None, day).kind == "unknown"
    pau = classify_call(config, "+33465710064", day)
    assert (pau.kind, pau.office.id, pau.covering_site, pau.home_site, pau.own_line) == (
        "office", "sie-64445-01", "pau", "pau", False)
    paris = classify_call(config, "+33199000175", day)
    assert (paris.office.id, paris.home_site, paris.own_line) == ("sie-75056-01", None, True)


def test_office_coverage_starts_on_its_date(config: Config) -> None:
    """Bayonne is covered by Pau from 2030-01-01: its own line the day before, Pau that day."""
    before = classify_call(config, "+33465710164", date(2029, 12, 31))
    on = classify_call(config, "+33465710164", date(2030, 1, 1))
    assert (before.home_site, before.own_line) == (None, True)
    assert (on.home_site, on.own_line) == ("pau", False)


def test_queue_for_home_site_or_national(config: Config) -> None:
    assert queue_for("tva", None) == "q-tva"
    assert queue_for("tva", "pau") == "q-pau-tva"


def test_display_name_shows_office_and_topic(config: Config) -> None:
    tva = config.topic("tva")
    pau = classify_call(config, "+33465710064", date(2026, 11, 23))
    assert display_name(pau, tva) == "SIE de Pau · TVA"
    assert display_name(classify_call(config, config.national_number, date(2026, 11, 23)), tva) == "TVA"


def test_speakable_number() -> None:
    assert speakable_number("+33199002000") == "01 99 00 20 00"


def test_menu_offers_the_individuals_key(config: Config) -> None:
    assert menu_prompt(config).endswith(config.individuals.prompt)


def test_last_advisor_of_a_repeat_caller(config: Config) -> None:
    from ccpros_agi.routing import last_advisor

    contacts = [{"advisor_id": None, "outcome": "abandoned_queue"},
                {"advisor_id": "pau-02", "outcome": "answered"},
                {"advisor_id": "pau-01", "outcome": "answered"}]
    assert last_advisor(config, contacts) == "pau-02"
    assert last_advisor(config, [{"advisor_id": "gone-01", "outcome": "answered"}]) is None
    assert last_advisor(config, []) is None
