"""Small helpers shared by the loader and the checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .models import Problem

# French département codes: 01 to 95 (no 20), 2A, 2B (Corsica), 971 to 976 (overseas).
DEPARTEMENT_RE = re.compile(r"0[1-9]|1[0-9]|2[1-9]|2A|2B|[3-8][0-9]|9[0-5]|97[1-6]")


@dataclass
class Collector:
    """Accumulates problems instead of stopping at the first one."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, entry: str, message: str) -> None:
        self.problems.append(Problem(file, entry, message))


@dataclass(frozen=True)
class Entries:
    """The entries of a list file (sites, topics, advisors) whose shape is valid."""

    items: tuple[tuple[str, Any], ...]  # (entry label such as "sites[0] (id 'pau')", validated entry)
    raw: tuple[Any, ...]  # every entry as written, valid or not (to avoid cascading errors)

    def raw_ids(self) -> frozenset[str]:
        """Ids written in the file, including those of entries with other problems."""
        return frozenset(r["id"] for r in self.raw if isinstance(r, dict) and isinstance(r.get("id"), str))

    def raw_values(self, key: str) -> list[Any]:
        """Values of ``key`` over every entry as written."""
        return [r.get(key) for r in self.raw if isinstance(r, dict)]


def describe(value: Any) -> str:
    """A short, human description of a YAML value, for error messages."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def number_problem(value: str) -> str | None:
    """None if ``value`` is a valid French number written in E.164 form, else what to fix."""
    hint = "write it as +33 followed by 9 digits, without spaces, e.g. +33199001000"
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return f"{value!r} is not a phone number in E.164 form; {hint}"
    if parsed.country_code != 33:
        return f"{value!r} is not a French number (country code +{parsed.country_code}); use a +33 number"
    if not phonenumbers.is_valid_number(parsed):
        return f"{value!r} is not a valid French number (no such number range); check the digits"
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if value != e164:
        return f"{value!r} is not in E.164 form; write it as {e164}"
    return None
