"""Meaning checks across the configuration files, and assembly of the final :class:`Config`.

Each check reports a Problem saying what is wrong and how to fix it. References to an entry that
exists but has other problems are not reported again (no cascades).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import holidays

from .common import DEPARTEMENT_RE, Collector, Entries, describe, number_problem
from .models import Advisor, Callback, Config, Hours, Individuals, Site, Topic, Trunk
from .schema import OFFICES_FILE, HoursRaw, PlatformRaw

if TYPE_CHECKING:
    from ccpros_agi.directory import Directory

ID_RE = re.compile(r"[a-z0-9-]+")
ENDPOINT_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_ADVISOR_ID = 40  # advisor ids become PJSIP endpoint names
MAX_DEPARTEMENTS = 3
KEY_RE = re.compile(r"[0-9]")
TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|24:00")
END_OF_DAY = "24:00"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TIMEOUT_RANGE = (1, 60)


def build_config(parsed: dict[str, Any], source: Path, out: Collector) -> Config | None:
    """Check the parsed files together; return the Config, or None if anything is missing or wrong."""
    platform: PlatformRaw | None = parsed.get("platform.yaml")
    sites: Entries | None = parsed.get("sites.yaml")
    topics: Entries | None = parsed.get("topics.yaml")
    advisors: Entries | None = parsed.get("advisors.yaml")
    hours_raw: HoursRaw | None = parsed.get("hours.yaml")
    offices: tuple[str, str] | None = parsed.get(OFFICES_FILE)  # (name shown in problems, CSV text)
    numbers = _NumberBook(out)

    trunk = _check_platform(platform, topics, numbers, out) if platform else None
    individuals = _check_individuals(platform, topics, numbers, out) if platform else None
    callback = _check_callback(platform, out) if platform else None
    pause_reasons = _check_pause_reasons(platform, out) if platform else ()
    site_models = _check_sites(sites, out) if sites else None
    topic_models = _check_topics(topics, out) if topics else None
    advisor_models = (
        _check_advisors(advisors, sites, topics, platform, out) if advisors else None
    )
    if advisors:
        _check_coverage(advisors, sites, topics, platform, out)
    fallback_tz = platform.timezone if platform else None
    hours = _check_hours(hours_raw, fallback_tz, out) if hours_raw else None
    # last: every number of the YAML files is known by then, and the offices' numbers must differ
    directory = _check_directory(offices, sites, numbers, out)

    if (out.problems or platform is None or trunk is None or hours is None or directory is None
            or individuals is None):
        return None
    if site_models is None or topic_models is None or advisor_models is None:
        return None
    return Config(
        national_number=platform.national_number,
        timezone=platform.timezone,
        menu_timeout_seconds=platform.menu.timeout_seconds,
        general_topic=platform.general_topic,
        trunk=trunk,
        sites=site_models,
        topics=topic_models,
        advisors=advisor_models,
        hours=hours,
        source_dir=source,
        directory=directory,
        individuals=individuals,
        admin_gateway=platform.admin_gateway,
        advisor_dial_allowed=tuple(platform.advisor_dial_allowed),
        history_days=platform.history_days,
        callback=callback,
        repeat_caller_seconds=platform.repeat_caller_seconds,
        pause_reasons=pause_reasons,
    )


# --- helpers ---------------------------------------------------------------------------------------


def _one_of(ids: frozenset[str] | set[str]) -> str:
    return ", ".join(sorted(ids)) if ids else "(none defined)"


def _id_problem(kind: str, ident: str, example: str, max_len: int | None = None) -> str | None:
    if not ID_RE.fullmatch(ident):
        return (f"{kind} id {ident!r} is invalid; use only lowercase letters a-z, digits and '-', "
                f"e.g. '{example}'")
    if max_len is not None and len(ident) > max_len:
        return f"{kind} id {ident!r} is {len(ident)} characters long; shorten it to {max_len} at most"
    return None


def _check_id(kind: str, ident: str, example: str, ids: dict[str, str], file: str, entry: str,
              out: Collector, max_len: int | None = None) -> None:
    """A valid id, not used by an earlier entry (``ids``: id -> entry, filled here)."""
    if problem := _id_problem(kind, ident, example, max_len):
        out.add(file, entry, problem)
    elif ident in ids:
        out.add(file, entry, f"duplicate {kind} id {ident!r} (already used by {ids[ident]}); "
                f"give each {kind} its own id")
    else:
        ids[ident] = entry


def _timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
    return None


class _NumberBook:
    """Checks phone numbers and reports one used twice anywhere in the configuration."""

    def __init__(self, out: Collector) -> None:
        self._out = out
        self._seen: dict[str, str] = {}

    def add(self, value: str, file: str, entry: str) -> None:
        problem = number_problem(value)
        if problem:
            self._out.add(file, entry, problem)
            return
        if value in self._seen:
            self._out.add(file, entry, f"phone number {value} is already used by {self._seen[value]}; "
                          "each number must appear only once, remove one of them")
            return
        self._seen[value] = f"{file} {entry}"

    def used(self) -> dict[str, str]:
        """Every valid number added so far -> where it is written."""
        return dict(self._seen)


# --- platform.yaml ---------------------------------------------------------------------------------


def _check_platform(p: PlatformRaw, topics: Entries | None, numbers: _NumberBook,
                    out: Collector) -> Trunk | None:
    f = "platform.yaml"
    numbers.add(p.national_number, f, "national_number")
    if problem := _timezone_problem(p.timezone):
        out.add(f, "timezone", problem)
    low, high = TIMEOUT_RANGE
    if not low <= p.menu.timeout_seconds <= high:
        out.add(f, "menu", f"'timeout_seconds' must be between {low} and {high} seconds, "
                f"got {p.menu.timeout_seconds}; 5 is a good value")
    if topics is not None and p.general_topic not in topics.raw_ids():
        out.add(f, "general_topic", f"general topic {p.general_topic!r} is not defined in topics.yaml; "
                f"use one of: {_one_of(topics.raw_ids())}")
    ok = True
    if not ENDPOINT_RE.fullmatch(p.trunk.name) or len(p.trunk.name) > MAX_ADVISOR_ID:
        ok = False
        out.add(f, "trunk", f"trunk name {p.trunk.name!r} is invalid; use letters, digits, '-' or '_' "
                f"(at most {MAX_ADVISOR_ID}), e.g. 'trunk'")
    if not p.trunk.match:
        ok = False
        out.add(f, "trunk", "'match' is empty; list the carrier's IP addresses or networks, "
                "e.g. [\"192.0.2.10\"]")
    for index, value in enumerate(p.trunk.match):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            ok = False
            out.add(f, f"trunk.match[{index}]", f"{value!r} is not an IP address or network; "
                    "write an address like 192.0.2.10 or a network like 192.0.2.0/24")
    if p.trunk.contact is not None and not GATEWAY_RE.fullmatch(p.trunk.contact):
        ok = False
        out.add(f, "trunk", f"'contact' {p.trunk.contact!r} is not a SIP URI of the form sip:HOST[:PORT]; "
                "e.g. \"sip:192.0.2.10:5060\"")
    return Trunk(name=p.trunk.name, match=tuple(p.trunk.match), contact=p.trunk.contact) if ok else None


def _check_callback(p: PlatformRaw, out: Collector) -> Callback | None:
    """platform.yaml's callback: a key, sane delays, and a way out to call businesses back."""
    f, c = "platform.yaml", p.callback
    if c is None:
        return None
    before = len(out.problems)
    if not KEY_RE.fullmatch(c.key):
        out.add(f, "callback", f"key {c.key!r} must be a single digit from \"0\" to \"9\"; e.g. \"5\"")
    for name, low, high, good in (("offer_after_seconds", 0, 3600, 60), ("ring_seconds", 5, 120, 30),
                                  ("max_attempts", 1, 10, 3), ("retry_after_seconds", 10, 86400, 120),
                                  ("max_attempts_per_number_per_day", 1, 50, 6)):
        value = getattr(c, name)
        if not low <= value <= high:
            out.add(f, "callback", f"'{name}' must be between {low} and {high}, got {value}; {good} is a good value")
    if p.trunk.contact is None:
        out.add(f, "callback", "callbacks need a way out to the businesses: set trunk.contact (the carrier's "
                "SIP URI, e.g. \"sip:192.0.2.10:5060\") or remove 'callback'")
    if len(out.problems) != before:
        return None
    return Callback(key=c.key, offer_after_seconds=c.offer_after_seconds, ring_seconds=c.ring_seconds,
                    max_attempts=c.max_attempts, retry_after_seconds=c.retry_after_seconds,
                    max_attempts_per_number_per_day=c.max_attempts_per_number_per_day)


# PJSIP endpoints the platform defines besides advisors and the trunk (see confgen.py).
RESERVED_ENDPOINTS = {"admin-gw": "the administration's gateway endpoint"}
GATEWAY_RE = re.compile(r"sip:[A-Za-z0-9.-]+(:[0-9]{1,5})?")
HISTORY_RANGE = (1, 365)


def _check_individuals(p: PlatformRaw, topics: Entries | None, numbers: _NumberBook,
                       out: Collector) -> Individuals | None:
    """individuals, admin_gateway, advisor_dial_allowed, history_days of platform.yaml."""
    f = "platform.yaml"
    before = len(out.problems)
    ind = p.individuals
    if not KEY_RE.fullmatch(ind.key):
        out.add(f, "individuals", f"key {ind.key!r} must be a single digit from \"0\" to \"9\"; fix 'key'")
    elif topics is not None and ind.key in {getattr(t, "key", None) for _, t in topics.items}:
        out.add(f, "individuals", f"key {ind.key!r} is already a topic's key in topics.yaml; "
                "give private individuals a key of their own")
    numbers.add(ind.number, f, "individuals.number")
    if not ind.prompt.strip():
        out.add(f, "individuals", "'prompt' is empty; write the sentence of the menu, e.g. "
                "\"Si vous êtes un particulier, tapez 8.\"")
    if p.admin_gateway is not None and not GATEWAY_RE.fullmatch(p.admin_gateway):
        out.add(f, "admin_gateway", f"{p.admin_gateway!r} is not a SIP URI of the form sip:HOST[:PORT]; "
                "e.g. \"sip:192.0.2.20:5060\"")
    for index, number in enumerate(p.advisor_dial_allowed):
        if problem := number_problem(number):
            out.add(f, f"advisor_dial_allowed[{index}]", problem)
    low, high = HISTORY_RANGE
    if not low <= p.history_days <= high:
        out.add(f, "history_days", f"must be between {low} and {high} days, got {p.history_days}; "
                "30 is a good value")
    if not 0 <= p.repeat_caller_seconds <= 30:
        out.add(f, "repeat_caller_seconds", f"must be between 0 (off) and 30 seconds, got "
                f"{p.repeat_caller_seconds}; 8 is a good value")
    if len(out.problems) != before:
        return None
    return Individuals(key=ind.key, number=ind.number, transfer=ind.transfer, prompt=ind.prompt)


# --- sites.yaml ------------------------------------------------------------------------------------


def _check_sites(sites: Entries, out: Collector) -> tuple[Site, ...]:
    f = "sites.yaml"
    ids: dict[str, str] = {}
    covered: dict[str, str] = {}
    result = []
    for entry, s in sites.items:
        _check_id("site", s.id, "pau", ids, f, entry, out)
        if not s.name.strip():
            out.add(f, entry, "'name' is empty; write the site's name, e.g. 'Pau'")
        if not 1 <= len(s.departements) <= MAX_DEPARTEMENTS:
            out.add(f, entry, f"a site covers 1 to {MAX_DEPARTEMENTS} départements, got "
                    f"{len(s.departements)}; fix 'departements'")
        for dep in s.departements:
            if not DEPARTEMENT_RE.fullmatch(dep):
                out.add(f, entry, f"département {dep!r} is not a département code; write it as two "
                        "digits in quotes (\"01\" to \"95\"), \"2A\", \"2B\" or \"971\" to \"976\"")
            elif dep in covered:
                out.add(f, entry, f"département {dep!r} is already covered by {covered[dep]}; "
                        "a département belongs to one site only, remove it from one of them")
            else:
                covered[dep] = f"site {s.id!r}"
        result.append(Site(id=s.id, name=s.name, departements=tuple(s.departements)))
    return tuple(result)


# --- offices.csv ------------------------------------------------------------------------------------


def _check_directory(offices: tuple[str, str] | None, sites: Entries | None, numbers: _NumberBook,
                     out: Collector) -> Directory | None:
    """The office directory (empty without offices.csv); its numbers must differ from all the others."""
    # imported here: ccpros_agi.directory itself imports this package (Problem, ConfigError, helpers)
    from ccpros_agi.directory import Directory, collect_directory

    if offices is None:
        return Directory()
    file, text = offices
    site_ids = sites.raw_ids() if sites is not None else None  # None: sites.yaml unreadable, not checked
    return collect_directory(text, file=file, site_ids=site_ids, reserved_numbers=numbers.used(), out=out)


# --- topics.yaml -----------------------------------------------------------------------------------


def _check_topics(topics: Entries, out: Collector) -> tuple[Topic, ...]:
    f = "topics.yaml"
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    result = []
    for entry, t in topics.items:
        _check_id("topic", t.id, "tva", ids, f, entry, out)
        if not KEY_RE.fullmatch(t.key):
            out.add(f, entry, f"key {t.key!r} must be a single digit from \"0\" to \"9\"; fix 'key'")
        elif t.key in keys:
            out.add(f, entry, f"DTMF key {t.key!r} is already used by {keys[t.key]}; "
                    "give each topic its own key")
        else:
            keys[t.key] = f"topic {t.id!r}"
        for name in ("label", "prompt"):
            if not getattr(t, name).strip():
                out.add(f, entry, f"'{name}' is empty; write the text")
        if t.online is not None and not t.online.strip():
            out.add(f, entry, "'online' is empty; write the text or remove the key")
        if problem := _overflow_problem(t.overflow):
            out.add(f, entry, problem)
        result.append(Topic(id=t.id, label=t.label, key=t.key, prompt=t.prompt, online=t.online,
                            overflow=t.overflow))
    return tuple(result)


def _overflow_problem(text: str) -> str | None:
    """The overflow policies Asterisk runs (ccpros_agi/overflow.py: the simulator runs more)."""
    from ccpros_agi.overflow import Pooled, SeparateSites, StateBased, TimerOverflow, parse_policy

    fix = ('use "pooled", "separate", "timer:SECONDS" (e.g. "timer:30") or "state:SECONDS" '
           '(e.g. "state:60", or "state:60,180" to widen after 180 s whatever the state)')
    try:
        policy = parse_policy(text)
    except ValueError as exc:
        return f"overflow: {exc}; {fix}"
    if isinstance(policy, (Pooled, SeparateSites)):
        return None
    if isinstance(policy, TimerOverflow) and len(policy.tiers) == 1 and policy.tiers[0].sites == "all":
        return None
    if isinstance(policy, StateBased) and policy.sites == "all" and policy.min_wait_s == 0:
        return None
    return f"overflow {text!r} is not available on the live platform (only in 'ccpros simulate'); {fix}"


# --- advisors.yaml ---------------------------------------------------------------------------------


def _check_advisors(advisors: Entries, sites: Entries | None, topics: Entries | None,
                    platform: PlatformRaw | None, out: Collector) -> tuple[Advisor, ...]:
    f = "advisors.yaml"
    site_ids = sites.raw_ids() if sites else None
    topic_ids = topics.raw_ids() if topics else None
    ids: dict[str, str] = {}
    result = []
    for entry, a in advisors.items:
        _check_id("advisor", a.id, "pau-01", ids, f, entry, out, MAX_ADVISOR_ID)
        if platform is not None and a.id == platform.trunk.name:
            out.add(f, entry, f"advisor id {a.id!r} is the trunk's name in platform.yaml; both become "
                    "PJSIP endpoints, rename the advisor")
        elif a.id in RESERVED_ENDPOINTS:
            out.add(f, entry, f"advisor id {a.id!r} is reserved for {RESERVED_ENDPOINTS[a.id]}; "
                    "rename the advisor")
        if not a.name.strip():
            out.add(f, entry, "'name' is empty; write the advisor's name")
        if not a.site:
            out.add(f, entry, "the advisor is in no site; add 'site:' with one of: "
                    f"{_one_of(site_ids or set())}")
        elif site_ids is not None and a.site not in site_ids:
            out.add(f, entry, f"site {a.site!r} is not defined in sites.yaml; "
                    f"use one of: {_one_of(site_ids)}")
        seen: set[str] = set()
        for topic in a.topics:
            if topic in seen:
                out.add(f, entry, f"topic {topic!r} is listed twice; list it once")
            elif topic_ids is not None and topic not in topic_ids:
                out.add(f, entry, f"topic {topic!r} is not defined in topics.yaml; use one of: "
                        f"{_one_of(topic_ids)}")
            seen.add(topic)
        result.append(Advisor(id=a.id, name=a.name, site=a.site or "", topics=tuple(a.topics)))
    return tuple(result)


def _check_coverage(advisors: Entries, sites: Entries | None, topics: Entries | None,
                    platform: PlatformRaw | None, out: Collector) -> None:
    """Every site has advisors; every topic is handled by someone."""
    staffed = set(advisors.raw_values("site"))
    for entry, s in sites.items if sites else ():
        if s.id not in staffed and ID_RE.fullmatch(s.id):
            out.add("sites.yaml", entry, f"site {s.id!r} has no advisor; add advisors with "
                    f"'site: {s.id}' in advisors.yaml or remove the site")
    if platform is None or (topics and platform.general_topic not in topics.raw_ids()):
        return  # the general topic is unknown: it would be reported as unhandled
    handled = {t for ts in advisors.raw_values("topics") if isinstance(ts, list) for t in ts}
    for entry, t in topics.items if topics else ():
        if t.id != platform.general_topic and t.id not in handled:
            out.add("topics.yaml", entry, f"no advisor handles topic {t.id!r}; add it to the 'topics' "
                    "of some advisors in advisors.yaml or remove the topic")


# --- hours.yaml ------------------------------------------------------------------------------------


def _check_hours(h: HoursRaw, fallback_tz: str | None, out: Collector) -> Hours | None:
    f = "hours.yaml"
    before = len(out.problems)
    tz = h.timezone or fallback_tz
    if h.timezone is not None and (problem := _timezone_problem(h.timezone)):
        out.add(f, "timezone", problem)
    weekly = {day: () for day in range(7)}
    for name, intervals in h.weekly.items():
        if name not in WEEKDAYS:
            out.add(f, "weekly", f"unknown weekday {name!r}; use one of: {', '.join(WEEKDAYS)}")
            continue
        weekly[WEEKDAYS.index(name)] = _check_day(name, intervals, out)
    if len(out.problems) == before and not any(weekly.values()):
        out.add(f, "weekly", "no opening hours in the whole week; add intervals such as "
                "monday: [[\"08:30\", \"18:00\"]]")
    country = h.public_holidays.country if h.public_holidays else None
    subdivision = h.public_holidays.subdivision if h.public_holidays else None
    if country is not None:
        supported = holidays.list_supported_countries()
        if country not in supported:
            out.add(f, "public_holidays", f"unknown holiday country {country!r}; use a country code "
                    "supported by the 'holidays' library, e.g. FR")
        elif subdivision is not None and subdivision not in supported[country]:
            out.add(f, "public_holidays", f"unknown subdivision {subdivision!r} for {country}; use one "
                    f"of: {', '.join(supported[country])}, or remove 'subdivision'")
    if len(out.problems) != before or tz is None:
        return None
    return Hours(timezone=tz, weekly=weekly, public_holidays_country=country,
                 public_holidays_subdivision=subdivision, closed_dates=frozenset(h.closed_dates))


def _check_day(name: str, intervals: list[Any], out: Collector) -> tuple[tuple[time, time], ...]:
    f = "hours.yaml"
    good: list[tuple[time, time]] = []
    for index, interval in enumerate(intervals):
        entry = f"weekly.{name}[{index}]"
        if not isinstance(interval, list) or len(interval) != 2:
            out.add(f, entry, f"an opening interval must be a pair of times like [\"08:30\", \"18:00\"], "
                    f"got {describe(interval)}")
            continue
        start, end = (_parse_time(value, entry, out) for value in interval)
        if start is None or end is None:
            continue
        if start >= end:
            out.add(f, entry, f"empty interval: it starts at {start:%H:%M} and ends at {end:%H:%M}; "
                    "the start must be before the end")
            continue
        good.append((start, end))
    good.sort()
    for (s1, e1), (s2, e2) in zip(good, good[1:]):
        if s2 < e1:
            out.add(f, f"weekly.{name}", f"intervals {s1:%H:%M}-{e1:%H:%M} and {s2:%H:%M}-{e2:%H:%M} "
                    "overlap; merge them or fix the times")
    return tuple(good)


def _parse_time(value: Any, entry: str, out: Collector) -> time | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        hhmm = f"{value // 60:02d}:{value % 60:02d}"
        out.add("hours.yaml", entry, f"time {value} is a number because YAML reads an unquoted {hhmm} "
                f"as minutes; put it in quotes: \"{hhmm}\"")
        return None
    match = TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        out.add("hours.yaml", entry, f"{describe(value)} is not a time; write it as \"HH:MM\" between "
                "\"00:00\" and \"23:59\" (\"24:00\" for the end of the day), e.g. \"08:30\"")
        return None
    if value == END_OF_DAY:
        return time.max  # "24:00": open until midnight (ends are excluded)
    return time(int(match[1]), int(match[2]))


def _check_pause_reasons(p: PlatformRaw, out: Collector) -> tuple[tuple[str, str], ...]:
    """platform.yaml's pause_reasons: {digit: reason id}; advisors pause with *23<digit>."""
    f, seen, reasons = "platform.yaml", set(), []
    for key, reason in sorted(p.pause_reasons.items()):
        if not 0 <= key <= 9:
            out.add(f, f"pause_reasons.{key}", f"key {key} must be a single digit from 0 to 9 (advisors dial "
                    "*23 then this digit); e.g. 1: break")
        elif not ID_RE.fullmatch(reason) and not re.fullmatch(r"[a-z0-9_]+", reason):
            out.add(f, f"pause_reasons.{key}", f"reason {reason!r} is invalid; use lowercase letters, digits, "
                    "'-' or '_', e.g. back_office")
        elif reason in seen:
            out.add(f, f"pause_reasons.{key}", f"reason {reason!r} is given twice; give each reason one key")
        else:
            seen.add(reason)
            reasons.append((str(key), reason))
    return tuple(reasons)
