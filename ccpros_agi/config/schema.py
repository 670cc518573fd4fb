"""Shapes of the YAML files (types and allowed keys only; meaning is checked in checks.py).

List entries (sites, topics, advisors) are validated one by one so that one bad entry does not
hide the problems of the others.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt


class Raw(BaseModel):
    # extra="forbid": an unknown key (a typo) is an error.
    model_config = ConfigDict(extra="forbid", frozen=True)


class MenuRaw(Raw):
    timeout_seconds: StrictInt


class TrunkRaw(Raw):
    name: str
    match: list[str]
    contact: str | None = None


class CallbackRaw(Raw):
    key: str = "5"
    offer_after_seconds: StrictInt = 60
    ring_seconds: StrictInt = 30
    max_attempts: StrictInt = 3
    retry_after_seconds: StrictInt = 120
    max_attempts_per_number_per_day: StrictInt = 6


class IndividualsRaw(Raw):
    key: str
    number: str
    transfer: bool = False
    prompt: str


class PlatformRaw(Raw):
    national_number: str
    timezone: str
    menu: MenuRaw
    general_topic: str
    trunk: TrunkRaw
    individuals: IndividualsRaw
    admin_gateway: str | None = None
    advisor_dial_allowed: list[str] = []
    history_days: StrictInt = 30
    repeat_caller_seconds: StrictInt = 8
    callback: CallbackRaw | None = None
    pause_reasons: dict[StrictInt, str] = {}


class SiteRaw(Raw):
    id: str
    name: str
    departements: list[str]


class TopicRaw(Raw):
    id: str
    label: str
    key: str
    prompt: str
    online: str | None = None
    overflow: str = "pooled"


class AdvisorRaw(Raw):
    id: str
    name: str
    site: str | None = None  # None is reported as "in no site" by the checks
    topics: list[str] = []


class PublicHolidaysRaw(Raw):
    country: str
    subdivision: str | None = None


class HoursRaw(Raw):
    timezone: str | None = None  # defaults to platform.yaml's timezone
    weekly: dict[str, list[Any]]  # intervals are parsed by the checks, for precise messages
    public_holidays: PublicHolidaysRaw | None = None
    closed_dates: list[date] = []


class SitesFile(Raw):
    sites: list[Any]


class TopicsFile(Raw):
    topics: list[Any]


class AdvisorsFile(Raw):
    advisors: list[Any]


# The office (SIE) directory: optional CSV file, parsed and checked by ccpros_agi.directory.
OFFICES_FILE = "offices.csv"

# Keys of former versions: (file, key) -> what to do instead (a clearer message than "unknown key").
RETIRED_KEYS = {
    ("sites.yaml", "numbers"): "published numbers now belong to the offices: remove 'numbers' from the "
                               "site and write each office's numbers in offices.csv",
}

# (file name, model of the whole file, list key, model of one list entry), in reading order
FILES: tuple[tuple[str, type[Raw], str | None, type[Raw] | None], ...] = (
    ("platform.yaml", PlatformRaw, None, None),
    ("sites.yaml", SitesFile, "sites", SiteRaw),
    ("topics.yaml", TopicsFile, "topics", TopicRaw),
    ("advisors.yaml", AdvisorsFile, "advisors", AdvisorRaw),
    ("hours.yaml", HoursRaw, None, None),
)
