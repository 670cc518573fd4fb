"""Configuration loading: the demo loads, and every kind of mistake gives a precise, actionable problem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccpros_agi.cli import main
from ccpros_agi.config import Config, ConfigError, Problem, load_config

DEMO = Path(__file__).resolve().parents[2] / "config"
Mutator = Callable[[Path], None]


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    return target


def data_edit(name: str, change: Callable[[dict[str, Any]], Any]) -> Mutator:
    """Mutator: load the YAML file, apply ``change`` to its data, write it back."""
    def apply(directory: Path) -> None:
        path = directory / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return apply


def text_edit(name: str, old: str, new: str) -> Mutator:
    """Mutator: replace text in the file (for syntax-level mistakes)."""
    def apply(directory: Path) -> None:
        path = directory / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return apply


def delete(name: str) -> Mutator:
    return lambda directory: (directory / name).unlink()


def problems_for(directory: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


# --- the demo ---------------------------------------------------------------------------------------


def test_demo_config_loads() -> None:
    config = load_config(DEMO)
    assert isinstance(config, Config)
    assert config.national_number == "+33199001000"
    assert config.timezone == "Europe/Paris"
    assert config.menu_timeout_seconds == 5
    assert len(config.sites) == 10
    assert {s.id for s in config.sites} == {
        "pau", "lons-le-saunier", "decazeville", "morlaix", "cahors", "alencon", "lisieux",
        "chalons-en-champagne", "carpentras", "perpignan",
    }
    assert config.site("alencon").name == "Alençon"
    assert config.site("pau").departements == ("64", "65", "40")
    assert all(1 <= len(s.departements) <= 3 for s in config.sites)
    assert {t.id for t in config.topics} >= {"tva", "cfe", "espace-pro", "paiement", "conseiller"}
    assert config.general().id == config.general_topic == "conseiller"
    assert config.trunk.name == "trunk" and config.trunk.match == ("127.0.0.2",)
    assert config.source_dir == DEMO
    for site in config.sites:
        assert len([a for a in config.advisors if a.site == site.id]) >= 3
    for topic in config.topics:
        sites = {a.site for a in config.advisors_for_topic(topic.id)}
        assert len(sites) >= 3, topic.id
    assert config.hours.weekly[0] == ((time(8, 30), time(18, 0)),)
    assert config.hours.weekly[5] == () and config.hours.weekly[6] == ()
    assert config.hours.public_holidays_country == "FR"


def test_config_helpers() -> None:
    config = load_config(DEMO)
    pau1 = config.advisor("pau-01")
    assert pau1.topics == ("tva", "cfe")
    assert config.advisor_topics(pau1) == ("tva", "cfe", "conseiller")
    assert config.advisor_topics("pau-04") == ("conseiller",)
    assert config.topic_by_key("1") == config.topic("tva")
    assert config.topic_by_key("8") is None
    assert config.topic_by_key("") is None
    assert len(config.advisors_for_topic("conseiller")) == len(config.advisors)
    assert pau1 in config.advisors_for_topic("cfe")
    assert config.advisor("pau-02") not in config.advisors_for_topic("cfe")
    with pytest.raises(KeyError):
        config.site("nowhere")
    with pytest.raises(KeyError):
        config.advisors_for_topic("nothing")


def test_config_is_immutable_and_hashable() -> None:
    config = load_config(DEMO)
    assert hash(config) == hash(load_config(DEMO))
    assert config == load_config(DEMO)
    with pytest.raises(AttributeError):
        config.national_number = "+33199001001"  # type: ignore[misc]


def test_problem_str() -> None:
    problem = Problem("advisors.yaml", "advisors[3] (id 'pau-04')", "site 'pua' is not defined")
    assert str(problem) == "advisors.yaml: advisors[3] (id 'pau-04'): site 'pua' is not defined"


# --- every kind of mistake ------------------------------------------------------------------------------

ALL_SITES = ("alencon, cahors, carpentras, chalons-en-champagne, decazeville, lisieux, lons-le-saunier, "
             "morlaix, pau, perpignan")
ALL_TOPICS = "cfe, conseiller, espace-pro, paiement, tva"

CASES = [
    # files and syntax
    pytest.param(delete("hours.yaml"), "hours.yaml", "(file)", "missing file", id="missing-file"),
    pytest.param(text_edit("platform.yaml", "timezone: Europe/Paris", "timezone: [Europe/Paris"),
                 "platform.yaml", "line 25", "invalid YAML, column 5: expected ',' or ']'", id="yaml-syntax"),
    pytest.param(text_edit("platform.yaml", "general_topic: conseiller", "general_topic: conseiller\n"
                           "general_topic: tva"),
                 "platform.yaml", "line 28", "key 'general_topic' is written twice", id="yaml-duplicate-key"),
    pytest.param(lambda d: (d / "topics.yaml").write_text("# nothing\n"), "topics.yaml", "(top level)",
                 "expected a mapping with the keys topics, got an empty file", id="empty-file"),
    pytest.param(lambda d: (d / "sites.yaml").write_text("- pau\n"), "sites.yaml", "(top level)",
                 "expected a mapping with the keys sites, got a list", id="not-a-mapping"),
    # types, missing fields, unknown keys
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(topics="tva")),
                 "advisors.yaml", "advisors[0] (id 'pau-01')",
                 "'topics' must be a list, got the text 'tva'; write it as [a, b]", id="wrong-type-list"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][0].pop("prompt")),
                 "topics.yaml", "topics[0] (id 'tva')", "missing required key 'prompt'; add it",
                 id="missing-field"),
    pytest.param(data_edit("platform.yaml", lambda d: d.pop("trunk")),
                 "platform.yaml", "(top level)", "missing required key 'trunk'; add it",
                 id="missing-section"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][0].update(departements=[64, "65", "40"])),
                 "sites.yaml", "sites[0] (id 'pau').departements[0]",
                 "value must be text, got the number 64; put it in quotes: \"64\"", id="number-not-text"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][0].update(key=1)),
                 "topics.yaml", "topics[0] (id 'tva')", "'key' must be text, got the number 1; put it in "
                 "quotes: \"1\"", id="key-not-quoted"),
    pytest.param(data_edit("platform.yaml", lambda d: d["menu"].update(timeout_seconds="5")),
                 "platform.yaml", "menu", "'timeout_seconds' must be a whole number, got the text '5'",
                 id="wrong-type-int"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(menu=5)),
                 "platform.yaml", "(top level)", "'menu' must be a mapping, got the number 5",
                 id="wrong-type-mapping"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(general_topc="tva")),
                 "platform.yaml", "(top level)", "unknown key 'general_topc'; remove it or fix its spelling "
                 "(allowed keys: national_number, timezone, menu, general_topic, trunk, individuals, admin_gateway, "
                 "advisor_dial_allowed, history_days, repeat_caller_seconds, callback, pause_reasons)",
                 id="unknown-key-top"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][1].update(topcis=["tva"])),
                 "advisors.yaml", "advisors[1] (id 'pau-02')",
                 "unknown key 'topcis'; remove it or fix its spelling (allowed keys: id, name, site, topics)",
                 id="unknown-key-entry"),
    pytest.param(data_edit("platform.yaml", lambda d: d["trunk"].update(matches=["10.0.0.1"])),
                 "platform.yaml", "trunk", "unknown key 'matches'; remove it or fix its spelling "
                 "(allowed keys: name, match, contact)", id="unknown-key-nested"),
    pytest.param(data_edit("hours.yaml", lambda d: d["public_holidays"].update(contry="FR")),
                 "hours.yaml", "public_holidays", "unknown key 'contry'", id="unknown-key-hours"),
    # references and duplicates
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][3].update(site="pua")),
                 "advisors.yaml", "advisors[3] (id 'pau-04')",
                 f"site 'pua' is not defined in sites.yaml; use one of: {ALL_SITES}", id="unknown-site"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(topics=["tva", "tav"])),
                 "advisors.yaml", "advisors[0] (id 'pau-01')",
                 f"topic 'tav' is not defined in topics.yaml; use one of: {ALL_TOPICS}", id="unknown-topic"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(topics=["tva", "tva"])),
                 "advisors.yaml", "advisors[0] (id 'pau-01')", "topic 'tva' is listed twice; list it once",
                 id="topic-twice"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][1].update(id="pau")),
                 "sites.yaml", "sites[1] (id 'pau')", "duplicate site id 'pau' (already used by sites[0] "
                 "(id 'pau')); give each site its own id", id="duplicate-site"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][1].update(id="tva")),
                 "topics.yaml", "topics[1] (id 'tva')", "duplicate topic id 'tva' (already used by topics[0] "
                 "(id 'tva')); give each topic its own id", id="duplicate-topic"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][1].update(id="pau-01")),
                 "advisors.yaml", "advisors[1] (id 'pau-01')", "duplicate advisor id 'pau-01' (already used "
                 "by advisors[0] (id 'pau-01')); give each advisor its own id", id="duplicate-advisor"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][1].update(key="1")),
                 "topics.yaml", "topics[1] (id 'cfe')", "DTMF key '1' is already used by topic 'tva'; give "
                 "each topic its own key", id="duplicate-key"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][1].update(key="10")),
                 "topics.yaml", "topics[1] (id 'cfe')", "key '10' must be a single digit", id="bad-key"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"][1].update(key="#")),
                 "topics.yaml", "topics[1] (id 'cfe')", "key '#' must be a single digit", id="bad-key-hash"),
    pytest.param(text_edit("offices.csv", ",+33465710064,", ",+33199001000,"),
                 "offices.csv", "line 2 (id 'sie-64445-01')",
                 "published number +33199001000 is already used by platform.yaml national_number",
                 id="duplicate-number"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][1].update(departements=["39", "64"])),
                 "sites.yaml", "sites[1] (id 'lons-le-saunier')", "département '64' is already covered by "
                 "site 'pau'; a département belongs to one site only", id="departement-twice"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][0].update(departements=["64", "20"])),
                 "sites.yaml", "sites[0] (id 'pau')", "département '20' is not a département code",
                 id="bad-departement"),
    pytest.param(data_edit("sites.yaml",
                           lambda d: d["sites"][0].update(departements=["64", "65", "40", "32"])),
                 "sites.yaml", "sites[0] (id 'pau')", "a site covers 1 to 3 départements, got 4",
                 id="too-many-departements"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][0].update(departements=[])),
                 "sites.yaml", "sites[0] (id 'pau')", "a site covers 1 to 3 départements, got 0",
                 id="no-departement"),
    # phone numbers
    pytest.param(data_edit("platform.yaml", lambda d: d.update(national_number="01 99 00 10 00")),
                 "platform.yaml", "national_number", "'01 99 00 10 00' is not a phone number in E.164 form; "
                 "write it as +33 followed by 9 digits", id="e164-national-format"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(national_number="+33 1 99 00 10 00")),
                 "platform.yaml", "national_number", "'+33 1 99 00 10 00' is not in E.164 form; write it as "
                 "+33199001000", id="e164-spaces"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(national_number="+442079460000")),
                 "platform.yaml", "national_number", "'+442079460000' is not a French number (country code "
                 "+44); use a +33 number", id="e164-not-french"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(national_number="+3319900100")),
                 "platform.yaml", "national_number", "'+3319900100' is not a valid French number",
                 id="e164-invalid"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][0].update(numbers=["+33465710064"])),
                 "sites.yaml", "sites[0] (id 'pau')", "'numbers' is no longer allowed; published numbers now "
                 "belong to the offices", id="site-numbers-retired"),
    # advisors and sites coverage
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].pop("site")),
                 "advisors.yaml", "advisors[0] (id 'pau-01')",
                 f"the advisor is in no site; add 'site:' with one of: {ALL_SITES}", id="advisor-no-site"),
    pytest.param(data_edit("advisors.yaml", lambda d: d.update(
                     advisors=[a for a in d["advisors"] if a["site"] != "pau"])),
                 "sites.yaml", "sites[0] (id 'pau')", "site 'pau' has no advisor; add advisors with "
                 "'site: pau' in advisors.yaml or remove the site", id="site-without-advisor"),
    pytest.param(data_edit("topics.yaml", lambda d: d["topics"].append(
                     {"id": "is", "label": "IS", "key": "5", "prompt": "Pour l'IS, tapez 5."})),
                 "topics.yaml", "topics[5] (id 'is')", "no advisor handles topic 'is'", id="topic-unhandled"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(id="Pau_01")),
                 "advisors.yaml", "advisors[0] (id 'Pau_01')", "advisor id 'Pau_01' is invalid; use only "
                 "lowercase letters a-z, digits and '-'", id="bad-advisor-id"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(id="a" * 41)),
                 "advisors.yaml", f"advisors[0] (id '{'a' * 41}')", "is 41 characters long; shorten it to "
                 "40 at most", id="advisor-id-too-long"),
    pytest.param(data_edit("advisors.yaml", lambda d: d["advisors"][0].update(id="trunk")),
                 "advisors.yaml", "advisors[0] (id 'trunk')", "advisor id 'trunk' is the trunk's name",
                 id="advisor-named-like-trunk"),
    pytest.param(data_edit("sites.yaml", lambda d: d["sites"][0].update(id="Pau")),
                 "sites.yaml", "sites[0] (id 'Pau')", "site id 'Pau' is invalid", id="bad-site-id"),
    # platform
    pytest.param(data_edit("platform.yaml", lambda d: d.update(general_topic="general")),
                 "platform.yaml", "general_topic", f"general topic 'general' is not defined in topics.yaml; "
                 f"use one of: {ALL_TOPICS}", id="general-topic-undefined"),
    pytest.param(data_edit("platform.yaml", lambda d: d.update(timezone="Europe/Pariss")),
                 "platform.yaml", "timezone", "unknown time zone 'Europe/Pariss'; use an IANA name such as "
                 "'Europe/Paris'", id="bad-timezone"),
    pytest.param(data_edit("platform.yaml", lambda d: d["menu"].update(timeout_seconds=0)),
                 "platform.yaml", "menu", "'timeout_seconds' must be between 1 and 60 seconds, got 0",
                 id="timeout-range"),
    pytest.param(data_edit("platform.yaml", lambda d: d["trunk"].update(match=["127.0.0.2", "carrier"])),
                 "platform.yaml", "trunk.match[1]", "'carrier' is not an IP address or network",
                 id="trunk-bad-ip"),
    pytest.param(data_edit("platform.yaml", lambda d: d["trunk"].update(match=[])),
                 "platform.yaml", "trunk", "'match' is empty", id="trunk-no-match"),
    # hours
    pytest.param(data_edit("hours.yaml", lambda d: d.update(timezone="Mars/Olympus")),
                 "hours.yaml", "timezone", "unknown time zone 'Mars/Olympus'", id="hours-bad-timezone"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(monday=[["8h30", "18:00"]])),
                 "hours.yaml", "weekly.monday[0]", "the text '8h30' is not a time; write it as \"HH:MM\"",
                 id="hours-bad-time"),
    pytest.param(text_edit("hours.yaml", 'monday: [["08:30", "18:00"]]', 'monday: [["08:30", 18:00]]'),
                 "hours.yaml", "weekly.monday[0]", "time 1080 is a number because YAML reads an unquoted "
                 "18:00 as minutes; put it in quotes: \"18:00\"", id="hours-unquoted-time"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(monday=[["08:30"]])),
                 "hours.yaml", "weekly.monday[0]", "an opening interval must be a pair of times",
                 id="hours-not-a-pair"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(monday=[["18:00", "08:30"]])),
                 "hours.yaml", "weekly.monday[0]", "empty interval: it starts at 18:00 and ends at 08:30; "
                 "the start must be before the end", id="hours-reversed"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(tuesday=[["08:30", "08:30"]])),
                 "hours.yaml", "weekly.tuesday[0]", "empty interval", id="hours-empty"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(
                     monday=[["08:30", "12:30"], ["12:00", "18:00"]])),
                 "hours.yaml", "weekly.monday", "intervals 08:30-12:30 and 12:00-18:00 overlap; merge them",
                 id="hours-overlap"),
    pytest.param(data_edit("hours.yaml", lambda d: d["weekly"].update(mon=[["08:30", "18:00"]])),
                 "hours.yaml", "weekly", "unknown weekday 'mon'; use one of: monday, tuesday, wednesday, "
                 "thursday, friday, saturday, sunday", id="hours-unknown-weekday"),
    pytest.param(data_edit("hours.yaml", lambda d: d.update(weekly={"saturday": []})),
                 "hours.yaml", "weekly", "no opening hours in the whole week", id="hours-never-open"),
    pytest.param(data_edit("hours.yaml", lambda d: d["public_holidays"].update(country="XX")),
                 "hours.yaml", "public_holidays", "unknown holiday country 'XX'", id="hours-bad-country"),
    pytest.param(data_edit("hours.yaml", lambda d: d["public_holidays"].update(subdivision="99")),
                 "hours.yaml", "public_holidays", "unknown subdivision '99' for FR",
                 id="hours-bad-subdivision"),
    pytest.param(data_edit("hours.yaml", lambda d: d.update(closed_dates=["2027-13-01"])),
                 "hours.yaml", "closed_dates[0]", "must be an ISO date, got the text '2027-13-01'",
                 id="hours-bad-closed-date"),
]


@pytest.mark.parametrize(("mutate", "file", "entry", "fragment"), CASES)
def test_bad_config(cfg_dir: Path, mutate: Mutator, file: str, entry: str, fragment: str) -> None:
    mutate(cfg_dir)
    problems = problems_for(cfg_dir)
    matching = [p for p in problems if p.file == file and p.entry == entry and fragment in p.message]
    assert matching, "\n".join(str(p) for p in problems)
    assert str(matching[0]).startswith(f"{file}: {entry}: ")


def test_missing_directory(tmp_path: Path) -> None:
    problems = problems_for(tmp_path / "nowhere")
    assert len(problems) == 1
    assert "configuration directory not found" in problems[0].message


def test_all_problems_are_collected(cfg_dir: Path) -> None:
    data_edit("advisors.yaml", lambda d: d["advisors"][3].update(site="pua"))(cfg_dir)
    data_edit("advisors.yaml", lambda d: d["advisors"][5].update(site="lons"))(cfg_dir)
    data_edit("topics.yaml", lambda d: d["topics"][1].update(key="1"))(cfg_dir)
    data_edit("hours.yaml", lambda d: d["public_holidays"].update(country="XX"))(cfg_dir)
    delete("platform.yaml")(cfg_dir)
    files = [p.file for p in problems_for(cfg_dir)]
    assert files.count("advisors.yaml") == 2
    assert {"platform.yaml", "topics.yaml", "hours.yaml"} <= set(files)


def test_no_cascade_from_an_invalid_entry(cfg_dir: Path) -> None:
    """A site whose entry has a type error is not reported again as unknown by its advisors."""
    data_edit("sites.yaml", lambda d: d["sites"][0].update(name=12))(cfg_dir)
    problems = problems_for(cfg_dir)
    assert [p.file for p in problems] == ["sites.yaml"], "\n".join(map(str, problems))


def test_error_message_lists_every_problem(cfg_dir: Path) -> None:
    data_edit("advisors.yaml", lambda d: d["advisors"][3].update(site="pua"))(cfg_dir)
    with pytest.raises(ConfigError) as caught:
        load_config(cfg_dir)
    assert "advisors.yaml: advisors[3] (id 'pau-04'): site 'pua'" in str(caught.value)


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_config_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(DEMO)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == (f"config OK: {DEMO}/ — 10 sites, 34 advisors, 5 topics, national number +33199001000")


def test_cli_config_check_uses_environment(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CCPROS_CONFIG", str(DEMO))
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.startswith("config OK: ")


def test_cli_config_check_errors(cfg_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_edit("advisors.yaml", lambda d: d["advisors"][3].update(site="pua"))(cfg_dir)
    data_edit("topics.yaml", lambda d: d["topics"][1].update(key="1"))(cfg_dir)
    assert main(["config", "check", "--config", str(cfg_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert any(line.startswith("advisors.yaml: advisors[3] (id 'pau-04'): site 'pua'") for line in lines)
    assert any(line.startswith("topics.yaml: topics[1] (id 'cfe'): DTMF key '1'") for line in lines)


# --- platform.yaml: individuals, admin gateway, dialling, history ----------------------------------------
@pytest.mark.parametrize("edit, entry, message", [
    (lambda d: d["individuals"].update(key="1"), "individuals", "already a topic's key"),
    (lambda d: d["individuals"].update(key="12"), "individuals", "single digit"),
    (lambda d: d["individuals"].update(number="+33199001000"), "individuals.number", "already used"),
    (lambda d: d["individuals"].update(number="0800"), "individuals.number", ""),
    (lambda d: d.update(admin_gateway="127.0.0.3:5070"), "admin_gateway", "SIP URI"),
    (lambda d: d.update(advisor_dial_allowed=["+3312"]), "advisor_dial_allowed[0]", ""),
    (lambda d: d.update(history_days=0), "history_days", "between 1 and 365"),
], ids=["key-taken", "key-long", "number-dup", "number-bad", "gateway", "dial-allowed", "history"])
def test_bad_platform_options(tmp_path, edit, entry, message):
    import shutil

    import yaml

    shutil.copytree(DEMO, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    texts = [str(p) for p in info.value.problems]
    assert any(f"platform.yaml: {entry}: " in t and message in t for t in texts), texts
