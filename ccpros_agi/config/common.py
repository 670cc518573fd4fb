"""Small helpers shared by the loader and the checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import Problem


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
