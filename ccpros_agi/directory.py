"""The office (SIE) directory: published numbers, own lines and dated coverage of the local tax offices.

Businesses still dial their local tax office (SIE). The carrier forwards the offices' published
numbers to our trunk; a call must reach the contact-centre site covering that office *on that day*,
and an office nobody covers keeps answering on its own internal line.

The directory is the CSV file ``offices.csv`` of the configuration directory (UTF-8, header line,
comma-separated, RFC 4180 quoting), one line per office::

    id,name,departement,numbers,internal_line,coverage
    sie-64445-01,SIE de Pau,64,+33465710064,+33465719064,pau@2021-09-01
    sie-47001-01,SIE d'Agen,47,+33465710047 +33465712047,+33465719047,cahors@2022-03-01;pau@2025-01-06

``coverage`` lists ``SITE@YYYY-MM-DD`` entries separated by ``;``, dates strictly increasing: from
that date the office is covered by SITE (``-``: by nobody any more); empty: never covered.

Parsing collects every problem (one :class:`~ccpros_agi.config.Problem` per mistake, its entry
``line N (id '...')`` with N the physical line of the file, header = line 1) before raising
:class:`~ccpros_agi.config.ConfigError`. The models and the coverage functions are pure.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import phonenumbers

from ccpros_agi.config.common import DEPARTEMENT_RE, Collector, number_problem
from ccpros_agi.config.models import ConfigError, Problem
from ccpros_agi.config.schema import OFFICES_FILE

COLUMNS = ("id", "name", "departement", "numbers", "internal_line", "coverage")
HEADER = ",".join(COLUMNS)
MAX_OFFICES = 5000
MAX_NAME = 60  # the name is shown on the advisors' phones
OFFICE_ID_RE = re.compile(r"sie-(?:\d{5}|2[AB]\d{3})-\d{2}")
NAME_FORBIDDEN = '";<>\\'  # would break the caller-ID display string (quotes, SIP header syntax)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
END_OF_COVERAGE = "-"
ID_EXAMPLE = "sie-64445-01"


# --- models ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """From ``since`` (included), the office is covered by ``site``; None: by nobody (``-``)."""

    site: str | None
    since: date


@dataclass(frozen=True)
class Office:
    id: str
    name: str
    departement: str
    numbers: tuple[str, ...]  # published numbers, E.164, forwarded by the carrier to the platform
    internal_line: str  # the office's own line, E.164, dialled for the calls the office keeps
    coverage: tuple[Coverage, ...]  # dates strictly increasing

    def covering_site(self, day: date) -> str | None:
        """The site covering the office on ``day``: that of the last entry starting on or before it;
        None if no entry has started yet or the last one is ``-`` (the office answers its own calls)."""
        site = None
        for entry in self.coverage:
            if entry.since > day:
                break
            site = entry.site
        return site


@dataclass(frozen=True)
class Directory:
    """Every office; lookups by number and id are dict-based, built once on first use."""

    offices: tuple[Office, ...] = ()

    @cached_property
    def _by_number(self) -> dict[str, Office]:
        return {number: office for office in self.offices for number in office.numbers}

    @cached_property
    def _by_id(self) -> dict[str, Office]:
        return {office.id: office for office in self.offices}

    @cached_property
    def _internal_lines(self) -> frozenset[str]:
        return frozenset(office.internal_line for office in self.offices)

    @cached_property
    def _hash(self) -> int:
        return hash(self.offices)

    def __hash__(self) -> int:  # computed once: Config (hashable) holds the directory
        return self._hash

    def __len__(self) -> int:
        return len(self.offices)

    def __iter__(self) -> Iterator[Office]:
        return iter(self.offices)

    def office_for_number(self, e164: str) -> Office | None:
        """The office whose published number this is (E.164), or None."""
        return self._by_number.get(e164) if isinstance(e164, str) else None

    def office(self, office_id: str) -> Office:
        """The office with this id; KeyError if unknown."""
        return self._by_id[office_id]

    def internal_lines(self) -> frozenset[str]:
        """The offices' own lines (the only office numbers the platform may dial)."""
        return self._internal_lines

    def covered_on(self, day: date) -> tuple[Office, ...]:
        """The offices covered by some site on ``day``."""
        return tuple(o for o in self.offices if o.covering_site(day) is not None)


# --- parsing ---------------------------------------------------------------------------------------


def parse_directory(text: str, *, file: str = OFFICES_FILE, site_ids: Collection[str],
                    reserved_numbers: Collection[str] = ()) -> Directory:
    """Parse and check the CSV ``text``; raise ConfigError listing every problem.

    ``site_ids``: the sites coverage may name. ``reserved_numbers``: numbers used elsewhere in the
    configuration (the national number...), which no office may use; a Mapping number -> where it
    is used gives better messages.
    """
    out = Collector()
    directory = collect_directory(text, file=file, site_ids=site_ids, reserved_numbers=reserved_numbers,
                                  out=out)
    if out.problems or directory is None:
        raise ConfigError(out.problems)
    return directory


def load_directory(path: Path, *, site_ids: Collection[str],
                   reserved_numbers: Collection[str] = ()) -> Directory:
    """Read the CSV file ``path`` (UTF-8) and parse it (see :func:`parse_directory`)."""
    return parse_directory(read_csv_text(path), file=str(path), site_ids=site_ids,
                           reserved_numbers=reserved_numbers)


def read_csv_text(path: Path) -> str:
    """The text of a UTF-8 file; ConfigError with one clear problem if it is missing or not UTF-8."""
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(name, "(file)", "no such file; check the path")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(name, "(file)", "this is a directory; give the CSV file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(name, "(file)", f"cannot read it ({exc.strerror or exc}); "
                                   "check its permissions")]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(name, "(file)", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                                   f"{exc.start}); save it as 'CSV UTF-8'")]) from None


def collect_directory(text: str, *, file: str, site_ids: Collection[str] | None,
                      reserved_numbers: Collection[str], out: Collector) -> Directory | None:
    """Like :func:`parse_directory`, but problems go to ``out``; None if there is any.

    ``site_ids`` None: the sites are unknown (sites.yaml unreadable) and coverage sites are not checked.
    """
    mine = Collector()
    directory = _collect(text, file, site_ids, reserved_numbers, mine)
    # in file order (the internal lines are checked after every row)
    out.problems.extend(sorted(mine.problems, key=_line_of))
    return directory if not mine.problems else None


def _line_of(problem: Problem) -> int:
    match = re.match(r"line (\d+)", problem.entry)
    return int(match[1]) if match else 0


def _collect(text: str, file: str, site_ids: Collection[str] | None, reserved_numbers: Collection[str],
             out: Collector) -> Directory | None:
    rows = _read_rows(text.removeprefix("\ufeff"), file, out)
    if rows is None:
        return None
    header_line, header = rows[0]
    columns = _check_header(header, header_line, file, out)
    if columns is None:
        return None
    data = rows[1:]
    if len(data) > MAX_OFFICES:
        out.add(file, "(file)", f"{len(data)} offices, at most {MAX_OFFICES} are allowed; remove offices "
                "that are not SIE (one line per office)")
        return None
    reserved = _where_reserved(reserved_numbers)
    checker = _RowChecker(file, frozenset(site_ids) if site_ids is not None else None, reserved, out)
    for line, fields in data:
        checker.row(line, fields, columns)
    checker.check_internal_lines()
    return Directory(offices=tuple(checker.offices))


def _read_rows(text: str, file: str, out: Collector) -> list[tuple[int, list[str]]] | None:
    """(physical line where the record starts, fields) of every non-blank record."""
    if not text.strip():
        out.add(file, "(file)", f"the file is empty; write the header line {HEADER} and then one line "
                "per office")
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for fields in reader:
            start, last = last + 1, reader.line_num
            if any(f.strip() for f in fields):
                rows.append((start, fields))
    except csv.Error as exc:
        out.add(file, f"line {last + 1}", f"invalid CSV ({exc}); put a field containing a comma or a "
                "line break between double quotes, and double any double quote inside it")
        return None
    return rows


def _check_header(header: list[str], line: int, file: str, out: Collector) -> dict[str, int] | None:
    """Column name -> index; None (and one problem) if a column is missing, unknown or doubled."""
    names = [h.strip() for h in header]
    entry = f"line {line} (header)"
    if names and OFFICE_ID_RE.fullmatch(names[0]):
        out.add(file, entry, f"the header line is missing; add {HEADER} as the first line")
        return None
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    doubled = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
    if not (missing or unknown or doubled):
        return {name: index for index, name in enumerate(names)}
    parts = []
    if missing:
        parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if unknown:
        parts.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}")
    if doubled:
        parts.append(f"column{'s' if len(doubled) > 1 else ''} written twice: {', '.join(doubled)}")
    out.add(file, entry, f"{'; '.join(parts)}; the first line must be {HEADER} (in any order)")
    return None


def _where_reserved(reserved: Collection[str]) -> dict[str, str]:
    if isinstance(reserved, Mapping):
        return {str(number): str(where) for number, where in reserved.items()}
    return {number: "the platform's configuration (platform.yaml)" for number in reserved}


def _e164_hint(value: str) -> str | None:
    """The E.164 form of a French number written another way ("04 65 71 00 64"), or None."""
    try:
        parsed = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 33 or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _label(line: int, ident: str) -> str:
    return f"line {line} (id {ident!r})" if ident else f"line {line} (no id)"


class _RowChecker:
    """Checks rows one by one, remembering ids and numbers to report duplicates where they occur."""

    def __init__(self, file: str, site_ids: frozenset[str] | None, reserved: dict[str, str],
                 out: Collector) -> None:
        self.file, self.site_ids, self.reserved, self.out = file, site_ids, reserved, out
        self.offices: list[Office] = []
        self.ids: dict[str, int] = {}  # id -> line
        self.published: dict[str, str] = {}  # published number -> label of its office
        self.lines: list[tuple[str, str]] = []  # (entry, internal line), checked after every row

    def _add(self, entry: str, message: str) -> None:
        self.out.add(self.file, entry, message)

    def row(self, line: int, fields: list[str], columns: dict[str, int]) -> None:
        values = {name: fields[i].strip() if i < len(fields) else "" for name, i in columns.items()}
        ident = values["id"]
        entry = _label(line, ident)
        if len(fields) != len(columns):
            self._add(entry, f"{len(fields)} fields instead of {len(columns)} ({HEADER}); separate the "
                      "fields with commas, and put a field containing a comma between double quotes")
            return
        self._check_id(ident, line, entry)
        name = self._check_name(values["name"], entry)
        self._check_departement(values["departement"], entry)
        numbers = self._check_numbers(values["numbers"], entry)
        line_number = self._check_internal_line(values["internal_line"], entry)
        coverage = self._check_coverage(values["coverage"], entry)
        if line_number:
            self.lines.append((entry, line_number))
        # kept whatever its problems: the directory is only returned when there is none at all
        self.offices.append(Office(id=ident, name=name, departement=values["departement"], numbers=numbers,
                                   internal_line=line_number, coverage=coverage))

    def _check_id(self, ident: str, line: int, entry: str) -> None:
        if not ident:
            self._add(entry, f"'id' is empty; write the office's id, sie-<INSEE code of its commune>-<two "
                      f"digits>, e.g. {ID_EXAMPLE}")
        elif not OFFICE_ID_RE.fullmatch(ident):
            self._add(entry, f"id {ident!r} is invalid; write it as sie-<INSEE code of the commune, 5 "
                      f"characters>-<two digits>, e.g. {ID_EXAMPLE} (sie-2A004-01 in Corsica)")
        elif ident in self.ids:
            self._add(entry, f"duplicate id {ident!r} (already used on line {self.ids[ident]}); give each "
                      "office its own id")
        else:
            self.ids[ident] = line

    def _check_name(self, name: str, entry: str) -> str:
        if not name:
            self._add(entry, "'name' is empty; write the office's name as the advisors' phones will show "
                      "it, e.g. SIE de Pau")
        elif len(name) > MAX_NAME:
            self._add(entry, f"name is {len(name)} characters long; shorten it to {MAX_NAME} at most (it is "
                      "shown on the advisors' phones)")
        if not name.isprintable():
            self._add(entry, "name contains a control character (line break, tab...); write it on one line "
                      "without them")
        forbidden = sorted({c for c in name if c in NAME_FORBIDDEN})
        if forbidden:
            shown = " ".join(f"'{c}'" for c in forbidden)
            self._add(entry, f"name contains {shown}, which would break the phones' display; remove "
                      f"{'it' if len(forbidden) == 1 else 'them'} (not allowed in a name: \" ; < > \\)")
        return name

    def _check_departement(self, dep: str, entry: str) -> None:
        if DEPARTEMENT_RE.fullmatch(dep):
            return
        hint = f" (write '0{dep}', with its leading zero)" if re.fullmatch(r"[1-9]", dep) else ""
        self._add(entry, f"département {dep!r} is not a département code{hint}; write 01 to 95 (no 20), "
                  "2A, 2B or 971 to 976")

    def _number(self, value: str, what: str, entry: str) -> bool:
        """Check one number's form; report and return False if it is invalid."""
        problem = number_problem(value)
        if problem is None:
            return True
        hint = _e164_hint(value)
        if hint and not problem.endswith(hint):
            problem = f"{value!r} is not in E.164 form; write it as {hint}"
        self._add(entry, f"{what}: {problem}")
        return False

    def _check_numbers(self, text: str, entry: str) -> tuple[str, ...]:
        tokens = text.split()
        if not tokens:
            self._add(entry, "'numbers' is empty; write the office's published number(s) in E.164, "
                      "separated by spaces, e.g. +33465710064")
            return ()
        compact = "".join(tokens)
        if len(tokens) > 1 and (hint := _e164_hint(compact)) and any(number_problem(t) for t in tokens):
            self._add(entry, f"'numbers' {text!r} looks like one number written with spaces; numbers are "
                      f"separated by spaces, so write it as {hint}")
            return ()
        good: list[str] = []
        for number in tokens:
            if not self._number(number, "published number", entry):
                continue
            if number in good:
                self._add(entry, f"published number {number} is listed twice; list it once")
            elif number in self.reserved:
                self._add(entry, f"published number {number} is already used by {self.reserved[number]}; "
                          "an office cannot use it, fix the number")
            elif number in self.published:
                self._add(entry, f"published number {number} is already a number of "
                          f"{self.published[number]}; each number belongs to one office only, remove it "
                          "from one of them")
            else:
                good.append(number)
        for number in good:
            self.published[number] = entry
        return tuple(good)

    def _check_internal_line(self, value: str, entry: str) -> str:
        if not value:
            self._add(entry, "'internal_line' is empty; write the office's own line in E.164, e.g. "
                      "+33465719064 (the platform dials it for the calls the office keeps)")
            return ""
        return value if self._number(value, "internal line", entry) else ""

    def _check_coverage(self, text: str, entry: str) -> tuple[Coverage, ...]:
        if not text:
            return ()
        result: list[Coverage] = []
        previous: tuple[str, date] | None = None
        example = "e.g. pau@2021-09-01 or cahors@2022-03-01;pau@2025-01-06"
        for part in (p.strip() for p in text.split(";")):
            if not part:
                self._add(entry, f"empty coverage entry in {text!r} (';' at the end or twice in a row); "
                          "remove the extra ';'")
                continue
            site, at, day_text = part.partition("@")
            site, day_text = site.strip(), day_text.strip()
            if not at or not site or "@" in day_text:
                self._add(entry, f"coverage entry {part!r} must be SITE@YYYY-MM-DD (-@YYYY-MM-DD to end the "
                          f"coverage), entries separated by ';', {example}")
                continue
            if site != END_OF_COVERAGE and self.site_ids is not None and site not in self.site_ids:
                known = ", ".join(sorted(self.site_ids)) or "(none defined)"
                self._add(entry, f"site {site!r} in coverage entry {part!r} is not defined in sites.yaml; "
                          f"use one of: {known}, or - to end the coverage")
            since = _parse_date(day_text)
            if since is None:
                self._add(entry, f"date {day_text!r} in coverage entry {part!r} is not a valid date; "
                          "write it as YYYY-MM-DD, e.g. 2021-09-01")
                continue
            if previous is not None and since <= previous[1]:
                self._add(entry, f"coverage dates must be strictly increasing: {part!r} is not after "
                          f"{previous[0]!r}; write the entries in date order, one entry per date")
                continue
            previous = (part, since)
            result.append(Coverage(site=None if site == END_OF_COVERAGE else site, since=since))
        return tuple(result)

    def check_internal_lines(self) -> None:
        """After every row: an internal line is no published number (dialling it would come back to the
        platform, a loop), no number of the configuration, and the line of one office only."""
        seen: dict[str, str] = {}
        for entry, number in self.lines:
            owner = self.published.get(number)
            if owner is not None:
                whose = "one of this office's own published numbers" if owner == entry else \
                    f"a published number of {owner}"
                self._add(entry, f"internal line {number} is {whose}; the carrier forwards published "
                          "numbers to the platform, so dialling it would loop: write the office's own line")
            elif number in self.reserved:
                self._add(entry, f"internal line {number} is already used by {self.reserved[number]}; "
                          "dialling it would come back to the platform: write the office's own line")
            elif number in seen:
                self._add(entry, f"internal line {number} is already the internal line of {seen[number]}; "
                          "each office has its own line, fix one of them")
            else:
                seen[number] = entry


def _parse_date(text: str) -> date | None:
    if not DATE_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
