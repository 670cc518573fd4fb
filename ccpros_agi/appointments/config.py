"""``config/appointments.yaml``: office agendas (reasons, weekly slot templates), booking rules and
the written confirmations' settings, loaded and checked like the rest of ``config/``.

Kept apart from :func:`ccpros_agi.config.load_config` (the call routing does not need it): the
services that do call :func:`load_appointments` with the already loaded platform configuration, so
that offices are checked against offices.csv and public holidays come from hours.yaml. Every problem
names the file, the entry and the fix. Credentials are never in this file: see :func:`load_credentials`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import StrictBool, StrictInt

from ccpros_agi.config import Config, ConfigError, Hours
from ccpros_agi.config.common import Collector, describe
from ccpros_agi.config.loader import _read_yaml, _validate
from ccpros_agi.config.schema import Raw

FILE = "appointments.yaml"
CHANNELS = ("phone", "desk")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ID_RE = re.compile(r"[a-z0-9-]+")
TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
DURATION_RANGE = (5, 480)  # minutes
STEP_RANGE = (5, 120)
MAX_AGENTS = 50


# --- shapes of the YAML --------------------------------------------------------------------------


class ReasonRaw(Raw):
    id: str
    label: str
    duration_minutes: StrictInt
    channel: str = "phone"


class AgendaRaw(Raw):
    weekly: dict[str, list[Any]]  # weekday -> [["HH:MM", "HH:MM", agents], ...]
    reasons: list[str] | None = None  # None: every reason
    closed_dates: list[date] = []


class SmtpRaw(Raw):
    host: str
    port: StrictInt = 25
    starttls: StrictBool = False
    sender: str
    timeout_seconds: StrictInt = 30


class SmsRaw(Raw):
    url: str
    sender: str = "DGFiP"
    timeout_seconds: StrictInt = 10


class NotificationsRaw(Raw):
    smtp: SmtpRaw | None = None
    sms: SmsRaw | None = None
    reminder_time: str = "10:00"
    max_attempts: StrictInt = 8
    backoff_seconds: StrictInt = 30
    backoff_max_seconds: StrictInt = 3600
    poll_seconds: StrictInt = 5


class AppointmentsFile(Raw):
    horizon_days: StrictInt = 30
    min_notice_minutes: StrictInt = 60
    step_minutes: StrictInt = 15
    reasons: list[Any]
    default: AgendaRaw | None = None
    offices: dict[str, AgendaRaw] = {}
    closed_dates: list[date] = []
    notifications: NotificationsRaw = NotificationsRaw()


# --- validated models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    id: str
    label: str
    duration_minutes: int
    channel: str  # phone: the office calls the business back; desk: the business comes to the office


@dataclass(frozen=True)
class Period:
    """A stretch of a weekday open to appointments, [start, end), with ``agents`` in parallel."""

    start: time
    end: time
    agents: int


@dataclass(frozen=True)
class Agenda:
    weekly: dict[int, tuple[Period, ...]]  # 0 = Monday; always 7 keys
    reasons: tuple[str, ...]
    closed_dates: frozenset[date] = frozenset()

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.weekly.items())), self.reasons, self.closed_dates))

    def max_agents(self) -> int:
        return max((p.agents for ps in self.weekly.values() for p in ps), default=0)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    timeout_seconds: int = 30


@dataclass(frozen=True)
class SmsSettings:
    url: str
    sender: str = "DGFiP"
    timeout_seconds: int = 10


@dataclass(frozen=True)
class Notifications:
    smtp: SmtpSettings | None = None
    sms: SmsSettings | None = None
    reminder_time: time = time(10, 0)  # reminders of tomorrow's appointments are queued from then on
    max_attempts: int = 8
    backoff_seconds: int = 30
    backoff_max_seconds: int = 3600
    poll_seconds: int = 5


@dataclass(frozen=True)
class AppointmentsConfig:
    hours: Hours  # the platform's calendar: time zone, public holidays, closed dates
    reasons: tuple[Reason, ...]
    default: Agenda | None
    offices: dict[str, Agenda]
    horizon_days: int = 30
    min_notice_minutes: int = 60
    step_minutes: int = 15
    closed_dates: frozenset[date] = frozenset()
    notifications: Notifications = field(default_factory=Notifications)
    office_names: dict[str, str] = field(default_factory=dict)  # from offices.csv, for messages

    @property
    def timezone(self) -> str:
        return self.hours.timezone

    def reason(self, reason_id: str) -> Reason:
        """The reason with this id; KeyError if unknown."""
        for r in self.reasons:
            if r.id == reason_id:
                return r
        raise KeyError(reason_id)

    def agenda(self, office_id: str) -> Agenda | None:
        """The office's own agenda, else the default one, else None (no appointments)."""
        return self.offices.get(office_id, self.default)


@dataclass(frozen=True)
class Credentials:
    """Secrets of the senders: from the environment, else ``notifications:`` in var/secrets.yaml."""

    smtp_user: str | None = field(default=None, repr=False)
    smtp_password: str | None = field(default=None, repr=False)
    sms_user: str | None = field(default=None, repr=False)
    sms_token: str | None = field(default=None, repr=False)


CREDENTIAL_ENV = {
    "smtp_user": "CCPROS_SMTP_USER",
    "smtp_password": "CCPROS_SMTP_PASSWORD",
    "sms_user": "CCPROS_SMS_USER",
    "sms_token": "CCPROS_SMS_TOKEN",
}
SECRETS_FILE_ENV = "CCPROS_SECRETS_FILE"


def load_credentials(secrets_file: str | os.PathLike[str] | None = None,
                     environ: dict[str, str] | None = None) -> Credentials:
    """The senders' credentials; the environment wins over the secrets file (mode 0600, never
    committed), whose ``notifications:`` mapping may hold the same keys (smtp_user, ...)."""
    env = os.environ if environ is None else environ
    path = Path(secrets_file or env.get(SECRETS_FILE_ENV) or "var/secrets.yaml")
    stored: dict[str, Any] = {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and isinstance(data.get("notifications"), dict):
            stored = data["notifications"]
    except (OSError, yaml.YAMLError):
        stored = {}
    values = {}
    for key, var in CREDENTIAL_ENV.items():
        value = env.get(var) or stored.get(key)
        values[key] = str(value) if value not in (None, "") else None
    return Credentials(**values)


# --- loading and checks --------------------------------------------------------------------------


def load_appointments(config: Config, path: str | os.PathLike[str] | None = None) -> AppointmentsConfig | None:
    """Load and check ``appointments.yaml`` of the configuration directory (or ``path``);
    None if the file does not exist (no office takes appointments); ConfigError listing every problem."""
    file = Path(path) if path is not None else Path(config.source_dir) / FILE
    if not file.exists():
        return None
    out = Collector()
    data = _read_yaml(file, FILE, AppointmentsFile, out)
    raw = _validate(FILE, AppointmentsFile, data, (), data, out) if data is not None else None
    if raw is None or not isinstance(raw, AppointmentsFile):
        raise ConfigError(out.problems)
    result = _build(raw, config, out)
    if out.problems or result is None:
        raise ConfigError(out.problems)
    return result


def _build(raw: AppointmentsFile, config: Config, out: Collector) -> AppointmentsConfig | None:
    _range(out, "horizon_days", raw.horizon_days, 1, 366)
    _range(out, "min_notice_minutes", raw.min_notice_minutes, 0, 7 * 24 * 60)
    _range(out, "step_minutes", raw.step_minutes, *STEP_RANGE)
    reasons = _reasons(raw.reasons, out)
    reason_ids = {r.id for r in reasons}
    default = _agenda(raw.default, "default", reason_ids, out) if raw.default is not None else None
    office_ids = {o.id for o in config.directory}
    offices: dict[str, Agenda] = {}
    for office_id, agenda_raw in raw.offices.items():
        entry = f"offices.{office_id}"
        if office_id not in office_ids:
            out.add(FILE, entry, f"office {office_id!r} is not in offices.csv; use the id of an office of "
                    "the directory (first column of offices.csv) or remove this entry")
            continue
        agenda = _agenda(agenda_raw, entry, reason_ids, out)
        if agenda is not None:
            offices[office_id] = agenda
    notifications = _notifications(raw.notifications, out)
    if out.problems or notifications is None:
        return None
    return AppointmentsConfig(
        hours=config.hours, reasons=reasons, default=default, offices=offices,
        horizon_days=raw.horizon_days, min_notice_minutes=raw.min_notice_minutes,
        step_minutes=raw.step_minutes, closed_dates=frozenset(raw.closed_dates),
        notifications=notifications, office_names={o.id: o.name for o in config.directory},
    )


def _range(out: Collector, key: str, value: int, low: int, high: int, entry: str | None = None) -> bool:
    if low <= value <= high:
        return True
    out.add(FILE, entry or key, f"'{key}' is {value}; write a whole number between {low} and {high}")
    return False


def _reasons(items: list[Any], out: Collector) -> tuple[Reason, ...]:
    result: list[Reason] = []
    seen: set[str] = set()
    if not items:
        out.add(FILE, "reasons", "no appointment reason; add at least one, e.g. "
                "{id: tva, label: TVA, duration_minutes: 30, channel: phone}")
    for index, item in enumerate(items):
        entry = f"reasons[{index}]"
        reason = _validate(FILE, ReasonRaw, item, ("reasons", index), {"reasons": items}, out)
        if not isinstance(reason, ReasonRaw):
            continue
        entry += f" (id '{reason.id}')"
        before = len(out.problems)
        if not ID_RE.fullmatch(reason.id):
            out.add(FILE, entry, f"reason id {reason.id!r} is invalid; use only lowercase letters a-z, "
                    "digits and '-', e.g. 'tva'")
        elif reason.id in seen:
            out.add(FILE, entry, f"reason id {reason.id!r} is used twice; give each reason its own id")
        if reason.channel not in CHANNELS:
            out.add(FILE, entry, f"channel {reason.channel!r} is unknown; use 'phone' (the office calls "
                    "back) or 'desk' (the business comes to the office)")
        _range(out, "duration_minutes", reason.duration_minutes, *DURATION_RANGE, entry=entry)
        seen.add(reason.id)
        if len(out.problems) == before:
            result.append(Reason(reason.id, reason.label, reason.duration_minutes, reason.channel))
    return tuple(result)


def _agenda(raw: AgendaRaw, entry: str, reason_ids: set[str], out: Collector) -> Agenda | None:
    before = len(out.problems)
    weekly: dict[int, tuple[Period, ...]] = {day: () for day in range(7)}
    for name, periods in raw.weekly.items():
        if name not in WEEKDAYS:
            out.add(FILE, f"{entry}.weekly", f"unknown weekday {name!r}; use one of: {', '.join(WEEKDAYS)}")
            continue
        weekly[WEEKDAYS.index(name)] = _periods(periods, f"{entry}.weekly.{name}", out)
    if len(out.problems) == before and not any(weekly.values()):
        out.add(FILE, f"{entry}.weekly", "no appointment period in the whole week; add periods such as "
                "monday: [[\"09:00\", \"12:00\", 2]] (start, end, number of agents)")
    reasons = tuple(raw.reasons) if raw.reasons is not None else tuple(sorted(reason_ids))
    for reason in reasons:
        if reason not in reason_ids:
            out.add(FILE, f"{entry}.reasons", f"reason {reason!r} is not defined under 'reasons'; use one "
                    f"of: {', '.join(sorted(reason_ids)) or '(none defined)'}")
    if len(out.problems) != before:
        return None
    return Agenda(weekly=weekly, reasons=reasons, closed_dates=frozenset(raw.closed_dates))


def _periods(items: list[Any], entry: str, out: Collector) -> tuple[Period, ...]:
    good: list[Period] = []
    for index, item in enumerate(items):
        where = f"{entry}[{index}]"
        if not isinstance(item, list) or len(item) != 3:
            out.add(FILE, where, "a period must be [start, end, agents] like [\"09:00\", \"12:00\", 2], "
                    f"got {describe(item)}")
            continue
        start, end = _time(item[0], where, out), _time(item[1], where, out)
        agents = item[2]
        if not isinstance(agents, int) or isinstance(agents, bool) or not 1 <= agents <= MAX_AGENTS:
            out.add(FILE, where, f"the number of agents must be a whole number between 1 and {MAX_AGENTS}, "
                    f"got {describe(agents)}")
            continue
        if start is None or end is None:
            continue
        if start >= end:
            out.add(FILE, where, f"empty period: it starts at {start:%H:%M} and ends at {end:%H:%M}; the "
                    "start must be before the end")
            continue
        good.append(Period(start, end, agents))
    good.sort(key=lambda p: p.start)
    for a, b in zip(good, good[1:]):
        if b.start < a.end:
            out.add(FILE, entry, f"periods {a.start:%H:%M}-{a.end:%H:%M} and {b.start:%H:%M}-{b.end:%H:%M} "
                    "overlap; merge them or fix the times")
    return tuple(good)


def _time(value: Any, entry: str, out: Collector) -> time | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        hhmm = f"{value // 60:02d}:{value % 60:02d}"
        out.add(FILE, entry, f"time {value} is a number because YAML reads an unquoted {hhmm} as minutes; "
                f"put it in quotes: \"{hhmm}\"")
        return None
    match = TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        out.add(FILE, entry, f"{describe(value)} is not a time; write it as \"HH:MM\", e.g. \"09:00\"")
        return None
    return time(int(match[1]), int(match[2]))


def _notifications(raw: NotificationsRaw, out: Collector) -> Notifications | None:
    before = len(out.problems)
    entry = "notifications"
    reminder = _time(raw.reminder_time, f"{entry}.reminder_time", out)
    _range(out, "max_attempts", raw.max_attempts, 1, 100, entry=entry)
    _range(out, "backoff_seconds", raw.backoff_seconds, 1, 3600, entry=entry)
    _range(out, "backoff_max_seconds", raw.backoff_max_seconds, raw.backoff_seconds, 7 * 86400, entry=entry)
    _range(out, "poll_seconds", raw.poll_seconds, 1, 600, entry=entry)
    smtp = sms = None
    if raw.smtp is not None:
        s = raw.smtp
        if not s.host.strip():
            out.add(FILE, f"{entry}.smtp", "'host' is empty; write the SMTP relay's name or address")
        _range(out, "port", s.port, 1, 65535, entry=f"{entry}.smtp")
        _range(out, "timeout_seconds", s.timeout_seconds, 1, 300, entry=f"{entry}.smtp")
        if "@" not in s.sender:
            out.add(FILE, f"{entry}.smtp", f"sender {s.sender!r} is not an e-mail address; write e.g. "
                    "'no-reply@dgfip.finances.gouv.fr' or 'DGFiP <no-reply@dgfip.finances.gouv.fr>'")
        smtp = SmtpSettings(s.host, s.port, s.sender, s.starttls, s.timeout_seconds)
    if raw.sms is not None:
        url = urlparse(raw.sms.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            out.add(FILE, f"{entry}.sms", f"url {raw.sms.url!r} is not an http(s) address; write the SMS "
                    "gateway's address, e.g. https://sms.example.org/api/send (credentials go in "
                    "var/secrets.yaml or CCPROS_SMS_USER / CCPROS_SMS_TOKEN, never here)")
        if url.password:
            out.add(FILE, f"{entry}.sms", "the url holds a password; remove it and put the credentials in "
                    "var/secrets.yaml (notifications: sms_user, sms_token) or CCPROS_SMS_USER / CCPROS_SMS_TOKEN")
        _range(out, "timeout_seconds", raw.sms.timeout_seconds, 1, 120, entry=f"{entry}.sms")
        sms = SmsSettings(raw.sms.url, raw.sms.sender, raw.sms.timeout_seconds)
    if len(out.problems) != before or reminder is None:
        return None
    return Notifications(smtp=smtp, sms=sms, reminder_time=reminder, max_attempts=raw.max_attempts,
                         backoff_seconds=raw.backoff_seconds, backoff_max_seconds=raw.backoff_max_seconds,
                         poll_seconds=raw.poll_seconds)
