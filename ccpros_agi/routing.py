"""Routing policy as pure functions: opening hours, menu choice, queue names, menu text.

No I/O: callers pass the configuration and the current time (a tz-aware datetime).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from ccpros_agi.config import Config, Hours, Topic
from ccpros_agi.directory import Office

LOOKAHEAD_DAYS = 31
WELCOME = "Bienvenue au service des professionnels de la Direction générale des Finances publiques."
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


def is_holiday(hours: Hours, day: date) -> bool:
    """True if ``day`` is a public holiday of the configured country or one of the closed dates."""
    if day in hours.closed_dates:
        return True
    if hours.public_holidays_country is None:
        return False
    return day in _public_holidays(hours.public_holidays_country, hours.public_holidays_subdivision, day.year)


def _local(hours: Hours, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(ZoneInfo(hours.timezone))


def is_open(hours: Hours, now: datetime) -> bool:
    """True if the platform is open at ``now`` (start of an interval included, end excluded)."""
    local = _local(hours, now)
    if is_holiday(hours, local.date()):
        return False
    clock = local.time().replace(tzinfo=None)
    return any(start <= clock < end for start, end in hours.weekly.get(local.weekday(), ()))


def next_opening(hours: Hours, now: datetime) -> datetime | None:
    """``now`` (in hours.timezone) if open, else the next interval start within 31 days, else None."""
    local = _local(hours, now)
    if is_open(hours, now):
        return local
    tz = ZoneInfo(hours.timezone)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if is_holiday(hours, day):
            continue
        for start, _end in hours.weekly.get(day.weekday(), ()):
            candidate = datetime.combine(day, start, tzinfo=tz)
            # A start inside a DST gap does not exist: normalise it through UTC.
            candidate = candidate.astimezone(ZoneInfo("UTC")).astimezone(tz)
            if candidate > now:
                return candidate
    return None


def _clock(t: time) -> str:
    """8:30 -> "8 heures 30", 18:00 -> "18 heures", 1:05 -> "1 heure 5" (read well by a synthesizer)."""
    if t == time.max:
        return "minuit"
    text = f"{t.hour} heure{'s' if t.hour > 1 else ''}"
    return f"{text} {t.minute}" if t.minute else text


def _days(first: int, last: int) -> str:
    if first == last:
        return f"le {DAY_NAMES[first]}"
    if last == first + 1:
        return f"le {DAY_NAMES[first]} et le {DAY_NAMES[last]}"
    return f"du {DAY_NAMES[first]} au {DAY_NAMES[last]}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]


def hours_sentence(hours: Hours) -> str:
    """French sentence for the closed message, grouping consecutive days with the same hours."""
    groups: list[tuple[int, int, tuple[tuple[time, time], ...]]] = []
    for day in range(7):
        intervals = hours.weekly.get(day, ())
        if not intervals:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == intervals:
            groups[-1] = (groups[-1][0], day, intervals)
        else:
            groups.append((day, day, intervals))
    if not groups:
        return "Nos conseillers ne sont pas joignables par téléphone pour le moment."
    phrases = [
        _days(first, last) + ", " + _join([f"de {_clock(s)} à {_clock(e)}" for s, e in intervals])
        for first, last, intervals in groups
    ]
    text = "Nos conseillers vous répondent " + "; ".join(phrases)
    if hours.public_holidays_country is not None:
        text += ", sauf les jours fériés"
    return text + "."


def choose_topic(config: Config, digits: str | None) -> tuple[Topic, str]:
    """(topic, reason): reason is "choice" for a valid key, "no_input" for nothing, else "invalid".

    Never raises: any unexpected input leads to the general topic.
    """
    if digits is None or digits == "":
        return config.general(), "no_input"
    topic = config.topic_by_key(digits) if isinstance(digits, str) and len(digits) == 1 else None
    if topic is None:
        return config.general(), "invalid"
    return topic, "choice"


def queue_name(topic_id: str) -> str:
    """Name of the Asterisk queue of a topic."""
    return "q-" + topic_id


def _keypad_order(topic: Topic) -> int:
    """1, 2, ... 9 then 0, as on a telephone keypad."""
    return 10 if topic.key == "0" else int(topic.key)


def menu_prompt(config: Config) -> str:
    """French text of the menu: a welcome sentence, each topic's prompt in keypad order, then the
    key for private individuals who called the businesses' number by mistake."""
    prompts = [t.prompt.strip() for t in sorted(config.topics, key=_keypad_order)]
    return " ".join([WELCOME, *prompts, config.individuals.prompt.strip()])


def individuals_message(config: Config) -> str:
    """Told to a private individual: this is the businesses' number, and theirs is ..."""
    text = ("Ce numéro est réservé aux entreprises. Pour une question sur vos impôts de particulier, "
            f"appelez le {speakable_number(config.individuals.number)}.")
    if config.individuals.transfer:
        return text + " Nous vous mettons en relation."
    return text + f" Je répète : {speakable_number(config.individuals.number)}. Au revoir."


# --- calls by called number (offices) ----------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """What a called number means: the national number, an office (SIE) number, or unknown."""

    kind: str                        # "national" | "office" | "unknown"
    office: Office | None = None
    covering_site: str | None = None  # the office's covering site on the day of the call
    home_site: str | None = None      # whose advisors are tried first (None: anywhere, longest idle)

    @property
    def own_line(self) -> bool:
        """An office nobody covers today keeps answering its own calls."""
        return self.kind == "office" and self.covering_site is None


def classify_call(config: Config, called_e164: str | None, day: date) -> Entry:
    if called_e164 is not None and called_e164 == config.national_number:
        return Entry("national")
    office = config.directory.office_for_number(called_e164) if called_e164 else None
    if office is None:
        return Entry("unknown")
    site = office.covering_site(day)
    return Entry("office", office, site, site)


def site_queue_name(site_id: str, topic_id: str) -> str:
    """Name of the queue of a topic for calls whose home site is ``site_id``."""
    return f"q-{site_id}-{topic_id}"


def queue_for(topic_id: str, home_site: str | None) -> str:
    return site_queue_name(home_site, topic_id) if home_site else queue_name(topic_id)


def display_name(entry: Entry, topic: Topic) -> str:
    """What the advisor's phone shows: the office (when the call came through one) and the topic."""
    label = f"{entry.office.name} · {topic.label}" if entry.office else topic.label
    return label[:60]


def callback_display(config: Config, office_id: str | None, topic_id: str | None) -> str:
    """What the advisor's phone shows for a callback: "Rappel · SIE de Pau · TVA"."""
    parts = ["Rappel"]
    if office_id:
        try:
            parts.append(config.directory.office(office_id).name)
        except KeyError:
            pass
    topic = next((t for t in config.topics if t.id == topic_id), None)
    if topic is not None:
        parts.append(topic.label)
    return " · ".join(parts)[:60]


def speakable_number(e164: str) -> str:
    """+33199002000 -> "01 99 00 20 00": French numbers are said two digits at a time."""
    national = "0" + e164[3:] if e164.startswith("+33") else e164
    return " ".join(national[i:i + 2] for i in range(0, len(national), 2))


# --- overflow to other sites, as Asterisk runs it ---------------------------------------------------------
@dataclass(frozen=True)
class QueuePlan:
    """How app_queue treats a call: advisors of other sites are queue members at penalty 1.

    - ``max_penalty``: QUEUE_MAX_PENALTY at entry (0: home site only), None: no limit;
    - ``rule``: the queue rule (queuerules.conf) that raises it after ``rule_after_s``, None: none;
    - ``widen_after_s``: when other sites may answer (0: at once when the home site has nobody free),
      None: never (separate sites), decided live (state-based: the events service widens the call and
      records when) or no home site (national number: every site from the start);
    - ``live``: the events service decides when the call widens (state-based policy).
    """

    max_penalty: int | None = None
    rule: str | None = None
    rule_after_s: float | None = None
    widen_after_s: float | None = None
    live: bool = False


def queue_rule_name(topic_id: str) -> str:
    return f"ccpros-{topic_id}"


def queue_plan(topic: Topic, home_site: str | None) -> QueuePlan:
    """The live form of the topic's overflow policy (ccpros_agi.overflow) for one call."""
    from ccpros_agi.overflow import SeparateSites, StateBased, TimerOverflow, parse_policy

    if home_site is None:
        return QueuePlan()
    policy = parse_policy(topic.overflow)
    if isinstance(policy, SeparateSites):
        return QueuePlan(max_penalty=0)
    if isinstance(policy, TimerOverflow):
        after = policy.tiers[0].after_seconds
        return QueuePlan(max_penalty=0, rule=queue_rule_name(topic.id), rule_after_s=after, widen_after_s=after)
    if isinstance(policy, StateBased):
        fallback = policy.fallback_after_s
        return QueuePlan(max_penalty=0, rule=queue_rule_name(topic.id) if fallback is not None else None,
                         rule_after_s=fallback, live=True)
    return QueuePlan(widen_after_s=0.0)


# --- repeat callers ----------------------------------------------------------------------------------------
def direct_queue_name(advisor_id: str) -> str:
    """The queue of one advisor alone: a repeat caller rings it first, for a few seconds."""
    return f"q-direct-{advisor_id}"


def last_advisor(config: Config, previous_contacts: list[dict]) -> str | None:
    """The advisor who answered the caller's most recent answered contact (newest first), if still
    an advisor of the configuration."""
    for contact in previous_contacts:
        advisor = contact.get("advisor_id")
        if advisor and contact.get("outcome") == "answered":
            return advisor if advisor in {a.id for a in config.advisors} else None
    return None
