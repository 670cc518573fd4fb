"""Validated, immutable configuration models (built by :func:`ccpros_agi.config.load_config`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: ccpros_agi.directory imports this module
    from ccpros_agi.directory import Directory


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where it is and what to do about it."""

    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}:\n{lines}")


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    departements: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    key: str
    prompt: str
    online: str | None = None   # what can be done online, told after the choice (optional)
    # how calls with a home site widen to other sites: "pooled" (other sites at once when the home
    # site has nobody free), "separate" (never), "timer:SECONDS" (other sites after SECONDS)
    overflow: str = "pooled"


@dataclass(frozen=True)
class Individuals:
    """Private individuals who dialled the businesses' number: the key they press, their number."""

    key: str
    number: str
    transfer: bool
    prompt: str


@dataclass(frozen=True)
class Advisor:
    id: str
    name: str
    site: str
    topics: tuple[str, ...]  # as written in advisors.yaml, without the implicit general topic


@dataclass(frozen=True)
class Trunk:
    name: str
    match: tuple[str, ...]
    # where calls to businesses go (callbacks), SIP URI; None: the platform places no outgoing call
    contact: str | None = None


@dataclass(frozen=True)
class Callback:
    """Callbacks offered to waiting callers (issue 5): the key they press in the queue, when it is
    offered, how the dialer calls them back."""

    key: str = "5"
    offer_after_seconds: int = 60        # offered when the expected wait (or the wait so far) passes this
    ring_seconds: int = 30               # how long the business's phone rings
    max_attempts: int = 3                # then the callback is failed
    retry_after_seconds: int = 120       # between two attempts
    max_attempts_per_number_per_day: int = 6


@dataclass(frozen=True)
class Hours:
    timezone: str
    # 0 = Monday ... 6 = Sunday; always the 7 keys, () for a closed day; intervals sorted, [start, end).
    weekly: dict[int, tuple[tuple[time, time], ...]]
    public_holidays_country: str | None = None
    public_holidays_subdivision: str | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def __hash__(self) -> int:  # weekly is a dict: hash its items so that Config stays hashable
        return hash((self.timezone, tuple(sorted(self.weekly.items())), self.public_holidays_country,
                     self.public_holidays_subdivision, self.closed_dates))


def _empty_directory() -> Directory:
    from ccpros_agi.directory import Directory

    return Directory()


@dataclass(frozen=True)
class Config:
    national_number: str
    timezone: str
    menu_timeout_seconds: int
    general_topic: str
    trunk: Trunk
    sites: tuple[Site, ...]
    topics: tuple[Topic, ...]
    advisors: tuple[Advisor, ...]
    hours: Hours
    source_dir: Path
    individuals: Individuals
    # The administration's network gateway (SIP URI): offices' own lines, the individuals' centre.
    admin_gateway: str | None = None
    # Numbers outside the platform advisors may dial, besides offices' own lines.
    advisor_dial_allowed: tuple[str, ...] = ()
    # How far back the advisor's view of a caller's previous contacts goes.
    history_days: int = 30
    # A repeat caller (a call answered in the last history_days) first rings the advisor who last
    # answered them, for this many seconds, if that advisor is free (0: off).
    repeat_caller_seconds: int = 8
    # Callbacks offered to waiting callers; None: not offered.
    callback: Callback | None = None
    # Reasons an advisor may pause with: (key digit of *23<digit>, reason id), e.g. (("1", "break"),).
    pause_reasons: tuple[tuple[str, str], ...] = ()
    # The office (SIE) directory, from offices.csv; empty when the file does not exist.
    directory: Directory = field(default_factory=_empty_directory)

    @cached_property
    def _sites_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    @cached_property
    def _topics_by_id(self) -> dict[str, Topic]:
        return {t.id: t for t in self.topics}

    @cached_property
    def _topics_by_key(self) -> dict[str, Topic]:
        return {t.key: t for t in self.topics}

    @cached_property
    def _advisors_by_id(self) -> dict[str, Advisor]:
        return {a.id: a for a in self.advisors}

    @cached_property
    def _advisors_by_topic(self) -> dict[str, tuple[Advisor, ...]]:
        return {
            t.id: tuple(a for a in self.advisors if t.id in self.advisor_topics(a)) for t in self.topics
        }

    def site(self, site_id: str) -> Site:
        """The site with this id; KeyError if unknown."""
        return self._sites_by_id[site_id]

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id; KeyError if unknown."""
        return self._topics_by_id[topic_id]

    def advisor(self, advisor_id: str) -> Advisor:
        """The advisor with this id; KeyError if unknown."""
        return self._advisors_by_id[advisor_id]

    def topic_by_key(self, key: str) -> Topic | None:
        """The topic chosen with this DTMF key, or None."""
        return self._topics_by_key.get(key) if isinstance(key, str) else None

    def general(self) -> Topic:
        """The general topic (no input, wrong key, fallback)."""
        return self.topic(self.general_topic)

    def advisor_topics(self, advisor: Advisor | str) -> tuple[str, ...]:
        """The advisor's topics plus the general topic (last), without duplicates."""
        adv = self.advisor(advisor) if isinstance(advisor, str) else advisor
        own = tuple(dict.fromkeys(t for t in adv.topics if t != self.general_topic))
        return own + (self.general_topic,)

    def advisors_for_topic(self, topic_id: str) -> tuple[Advisor, ...]:
        """Advisors handling this topic (everyone for the general topic); KeyError if unknown."""
        return self._advisors_by_topic[topic_id]
