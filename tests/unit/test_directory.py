"""The office (SIE) directory: dated coverage, the demo offices.csv, every kind of bad row, and the
`ccpros directory import` command."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from ccpros_agi.cli import main
from ccpros_agi.config import ConfigError, Problem, load_config
from ccpros_agi.directory import (
    HEADER, MAX_OFFICES, Coverage, Directory, Office, load_directory, parse_directory,
)

DEMO = Path(__file__).resolve().parents[2] / "config"
SITES = ("pau", "cahors", "lisieux", "perpignan")
NATIONAL = "+33199001000"
RESERVED = {NATIONAL: "platform.yaml national_number"}

PAU = "sie-64445-01,SIE de Pau,64,+33465710064,+33465719064,pau@2021-09-01"
BAYONNE = "sie-64102-01,SIE de Bayonne,64,+33465710164,+33465719164,pau@2030-01-01"
PARIS = "sie-75056-01,SIE de Paris 1er,75,+33199000175,+33199009175,"
GOOD = [PAU, BAYONNE, PARIS]  # lines 2, 3, 4
OK_ROW = "sie-47001-01,SIE d'Agen,47,+33465710047,+33465719047,cahors@2022-03-01"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def parse(text: str) -> Directory:
    return parse_directory(text, site_ids=SITES, reserved_numbers=RESERVED)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


# --- coverage ---------------------------------------------------------------------------------------


def office(*coverage: tuple[str | None, date]) -> Office:
    return Office(id="sie-64445-01", name="SIE de Pau", departement="64", numbers=("+33465710064",),
                  internal_line="+33465719064", coverage=tuple(Coverage(s, d) for s, d in coverage))


def test_covering_site_follows_the_dates() -> None:
    start, moved, end = date(2021, 9, 1), date(2023, 1, 2), date(2026, 12, 31)
    o = office(("pau", start), ("cahors", moved), (None, end))
    assert o.covering_site(start - timedelta(days=1)) is None  # the day before: not covered yet
    assert o.covering_site(start) == "pau"  # the day it starts
    assert o.covering_site(moved - timedelta(days=1)) == "pau"  # the day before: previous site
    assert o.covering_site(moved) == "cahors"
    assert o.covering_site(end - timedelta(days=1)) == "cahors"
    assert o.covering_site(end) is None  # '-' ends it
    assert o.covering_site(date(2099, 1, 1)) is None


def test_never_covered_office() -> None:
    assert office().covering_site(date(2026, 1, 1)) is None


def test_coverage_is_parsed_from_the_csv() -> None:
    row = ("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,"
           "cahors@2022-03-01;pau@2025-01-06;-@2026-12-31")
    (o,) = parse(csv_text(row)).offices
    assert o.coverage == (Coverage("cahors", date(2022, 3, 1)), Coverage("pau", date(2025, 1, 6)),
                          Coverage(None, date(2026, 12, 31)))
    assert o.covering_site(date(2025, 1, 5)) == "cahors"
    assert o.covering_site(date(2025, 1, 6)) == "pau"
    assert o.covering_site(date(2026, 12, 31)) is None


def test_lookups() -> None:
    d = parse(csv_text(*GOOD, "sie-64122-01,SIE de Biarritz,64,+33465710264 +33465715264,+33465719264,"))
    assert len(d) == 4
    assert d.office_for_number("+33465710064").id == "sie-64445-01"
    assert d.office_for_number("+33465715264").id == d.office_for_number("+33465710264").id == "sie-64122-01"
    assert d.office_for_number("+33465719064") is None  # an internal line is not a published number
    assert d.office_for_number(NATIONAL) is None
    assert d.office("sie-75056-01").name == "SIE de Paris 1er"
    with pytest.raises(KeyError):
        d.office("sie-00000-01")
    assert d.internal_lines() == frozenset({"+33465719064", "+33465719164", "+33199009175", "+33465719264"})
    assert [o.id for o in d.covered_on(date(2026, 1, 1))] == ["sie-64445-01"]


def test_directory_is_hashable_and_comparable() -> None:
    a, b = parse(csv_text(*GOOD)), parse(csv_text(*GOOD))
    assert a == b and hash(a) == hash(b)
    assert a != parse(csv_text(PAU))
    assert len(Directory()) == 0 and Directory().office_for_number("+33465710064") is None


def test_reserved_numbers_may_be_a_plain_collection() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_directory(csv_text(PAU), site_ids=SITES, reserved_numbers=["+33465710064"])
    assert "published number +33465710064 is already used by" in caught.value.problems[0].message


def test_tolerated_writing() -> None:
    """A UTF-8 BOM, CRLF line ends, blank lines, spaces around fields, columns in another order."""
    text = "\ufeffname,id,departement,numbers,internal_line,coverage\r\n\r\n" \
           " SIE de Pau , sie-64445-01 ,64, +33465710064 ,+33465719064, pau@2021-09-01 ; -@2026-12-31 \r\n"
    (o,) = parse(text).offices
    assert (o.id, o.name, o.numbers) == ("sie-64445-01", "SIE de Pau", ("+33465710064",))
    assert o.coverage[-1] == Coverage(None, date(2026, 12, 31))


# --- the demo ---------------------------------------------------------------------------------------


def test_demo_directory_loads_with_the_config() -> None:
    config = load_config(DEMO)
    d = config.directory
    assert len(d) >= 250
    pau = d.office_for_number("+33465710064")
    assert (pau.id, pau.name, pau.internal_line) == ("sie-64445-01", "SIE de Pau", "+33465719064")
    assert pau.covering_site(date(2021, 9, 1)) == "pau" and pau.covering_site(date(2021, 8, 31)) is None
    bayonne = d.office("sie-64102-01")
    assert bayonne.numbers == ("+33465710164",) and bayonne.internal_line == "+33465719164"
    assert bayonne.covering_site(date(2029, 12, 31)) is None
    assert bayonne.covering_site(date(2030, 1, 1)) == "pau"
    paris = d.office_for_number("+33199000175")
    assert (paris.id, paris.internal_line, paris.coverage) == ("sie-75056-01", "+33199009175", ())
    assert "64" in config.site("pau").departements
    # every site covers offices; some offices are never covered, some only in the future
    today = date(2026, 11, 23)
    assert {o.covering_site(today) for o in d} - {None} == {s.id for s in config.sites}
    assert sum(1 for o in d if not o.coverage) >= 20
    assert sum(1 for o in d if o.coverage and o.coverage[0].since.year >= 2027) >= 10
    assert hash(config) == hash(load_config(DEMO))


def test_demo_numbers_keep_clear_of_the_test_and_platform_ranges() -> None:
    d = load_config(DEMO).directory
    for o in d:
        for number in (*o.numbers, o.internal_line):
            assert not number.startswith("+3353649"), (o.id, number)  # integration tests' callers
            assert not number.startswith("+332619109"), (o.id, number)  # the tests' unknown number
            assert not number.startswith("+33199002"), (o.id, number)  # platform numbers
            assert number != NATIONAL


def test_demo_generator_is_deterministic(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "offices.csv"
    script = DEMO.parent / "tools" / "make_demo_offices.py"
    subprocess.run([sys.executable, str(script), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (DEMO / "offices.csv").read_bytes()


def test_config_without_offices_csv_has_an_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    (target / "offices.csv").unlink()
    assert len(load_config(target).directory) == 0


def test_bad_offices_csv_is_a_config_problem(tmp_path: Path) -> None:
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    (target / "offices.csv").write_text(csv_text(PAU, PAU.replace("64445", "64446")), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    expected = ("offices.csv: line 3 (id 'sie-64446-01'): published number +33465710064 is already a number "
                "of line 2 (id 'sie-64445-01')")
    assert any(str(p).startswith(expected) for p in caught.value.problems)


# --- every kind of bad row --------------------------------------------------------------------------

ROW_CASES = [
    pytest.param("sie-6445-01,SIE de Pau 2,64,+33465710264,+33465719264,", "sie-6445-01",
                 "id 'sie-6445-01' is invalid; write it as sie-<INSEE code", id="bad-id"),
    pytest.param("SIE-64445-02,SIE de Pau 2,64,+33465710264,+33465719264,", "SIE-64445-02",
                 "id 'SIE-64445-02' is invalid", id="bad-id-case"),
    pytest.param(",SIE de Pau 2,64,+33465710264,+33465719264,", None, "'id' is empty", id="no-id"),
    pytest.param("sie-64445-01,SIE de Pau 2,64,+33465710264,+33465719264,", "sie-64445-01",
                 "duplicate id 'sie-64445-01' (already used on line 2); give each office its own id",
                 id="duplicate-id"),
    pytest.param("sie-64122-01,SIE de Biarritz,20,+33465710264,+33465719264,", "sie-64122-01",
                 "département '20' is not a département code; write 01 to 95 (no 20), 2A, 2B or 971 to 976",
                 id="bad-departement"),
    pytest.param("sie-04070-01,SIE de Digne-les-Bains,4,+33465710004,+33465719004,", "sie-04070-01",
                 "département '4' is not a département code (write '04', with its leading zero)",
                 id="departement-without-zero"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+3346571026,+33465719264,", "sie-64122-01",
                 "published number: '+3346571026' is not a valid French number", id="bad-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,0465710264,+33465719264,", "sie-64122-01",
                 "published number: '0465710264' is not in E.164 form; write it as +33465710264",
                 id="number-national-form"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33 4 65 71 02 64,+33465719264,", "sie-64122-01",
                 "looks like one number written with spaces; numbers are separated by spaces, so write it as "
                 "+33465710264", id="number-with-spaces"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+442079460000,+33465719264,", "sie-64122-01",
                 "is not a French number (country code +44)", id="number-not-french"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,,+33465719264,", "sie-64122-01", "'numbers' is empty",
                 id="no-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264 +33465710264,+33465719264,", "sie-64122-01",
                 "published number +33465710264 is listed twice", id="number-twice-in-a-row"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264 +33465710164,+33465719264,", "sie-64122-01",
                 "published number +33465710164 is already a number of line 3 (id 'sie-64102-01'); "
                 "each number belongs to one office only", id="duplicate-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33199001000,+33465719264,", "sie-64122-01",
                 "published number +33199001000 is already used by platform.yaml national_number",
                 id="national-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465710064,", "sie-64122-01",
                 "internal line +33465710064 is a published number of line 2 (id 'sie-64445-01'); the "
                 "carrier forwards published numbers to the platform, so dialling it would loop",
                 id="line-is-published"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465710264,", "sie-64122-01",
                 "internal line +33465710264 is one of this office's own published numbers",
                 id="line-is-own-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719064,", "sie-64122-01",
                 "internal line +33465719064 is already the internal line of line 2 (id 'sie-64445-01')",
                 id="duplicate-line"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33199001000,", "sie-64122-01",
                 "internal line +33199001000 is already used by platform.yaml national_number",
                 id="line-is-national-number"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,,", "sie-64122-01", "'internal_line' is empty",
                 id="no-line"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pua@2021-09-01", "sie-64122-01",
                 "site 'pua' in coverage entry 'pua@2021-09-01' is not defined in sites.yaml; use one of: "
                 "cahors, lisieux, pau, perpignan, or - to end the coverage", id="unknown-site"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau@2022-01-03;cahors@2021-09-01",
                 "sie-64122-01", "coverage dates must be strictly increasing: 'cahors@2021-09-01' is not "
                 "after 'pau@2022-01-03'", id="dates-decreasing"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau@2022-01-03;-@2022-01-03",
                 "sie-64122-01", "coverage dates must be strictly increasing", id="dates-equal"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau@2021-02-30", "sie-64122-01",
                 "date '2021-02-30' in coverage entry 'pau@2021-02-30' is not a valid date; write it as "
                 "YYYY-MM-DD",
                 id="bad-date"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau@01/09/2021", "sie-64122-01",
                 "date '01/09/2021' in coverage entry 'pau@01/09/2021' is not a valid date",
                 id="date-not-iso"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau", "sie-64122-01",
                 "coverage entry 'pau' must be SITE@YYYY-MM-DD", id="coverage-without-date"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264,pau@2021-09-01;", "sie-64122-01",
                 "empty coverage entry", id="coverage-trailing-semicolon"),
    pytest.param(f"sie-64122-01,SIE de {'B' * 54},64,+33465710264,+33465719264,", "sie-64122-01",
                 "name is 61 characters long; shorten it to 60 at most", id="name-too-long"),
    pytest.param("sie-64122-01,SIE de <Biarritz>,64,+33465710264,+33465719264,", "sie-64122-01",
                 "name contains '<' '>', which would break the phones' display; remove them",
                 id="name-brackets"),
    pytest.param('sie-64122-01,"SIE de ""Biarritz""",64,+33465710264,+33465719264,', "sie-64122-01",
                 "name contains '\"'", id="name-quote"),
    pytest.param("sie-64122-01,SIE de Biarritz\\Anglet,64,+33465710264,+33465719264,", "sie-64122-01",
                 "name contains '\\'", id="name-backslash"),
    pytest.param('sie-64122-01,"SIE de Biarritz; Anglet",64,+33465710264,+33465719264,', "sie-64122-01",
                 "name contains ';'", id="name-semicolon"),
    pytest.param("sie-64122-01,SIE de Biarritz\tAnglet,64,+33465710264,+33465719264,", "sie-64122-01",
                 "name contains a control character", id="name-control-char"),
    pytest.param("sie-64122-01,,64,+33465710264,+33465719264,", "sie-64122-01", "'name' is empty",
                 id="no-name"),
    pytest.param("sie-64122-01,SIE de Biarritz,64,+33465710264,+33465719264", "sie-64122-01",
                 "5 fields instead of 6", id="missing-field"),
    pytest.param("sie-64122-01,SIE de Biarritz, Anglet,64,+33465710264,+33465719264,", "sie-64122-01",
                 "7 fields instead of 6 (id,name,departement,numbers,internal_line,coverage); separate the "
                 "fields with commas, and put a field containing a comma between double quotes",
                 id="unquoted-comma"),
]


@pytest.mark.parametrize(("row", "ident", "fragment"), ROW_CASES)
def test_bad_row(row: str, ident: str | None, fragment: str) -> None:
    problems = problems_of(csv_text(*GOOD, OK_ROW, row))  # the bad row is line 6
    entry = f"line 6 (id '{ident}')" if ident else "line 6 (no id)"
    matching = [p for p in problems if p.entry == entry and fragment in p.message]
    assert matching, "\n".join(map(str, problems))
    assert str(matching[0]).startswith(f"offices.csv: {entry}: ")
    assert {p.entry for p in problems} == {entry}, "\n".join(map(str, problems))  # the good rows are fine


def test_every_bad_row_is_reported_in_file_order() -> None:
    text = csv_text(PAU, "sie-64122-01,SIE de Biarritz,64,+33465710264,+33465710064,",  # line 3
                    "sie-64122-01,SIE de Biarritz,64,+33465710364,+33465719364,",  # line 4
                    "sie-64024-01,SIE d'Anglet,64,+33465710464,+33465719464,pau@2022-13-01")  # line 5
    problems = problems_of(text)
    assert [p.entry for p in problems] == ["line 3 (id 'sie-64122-01')", "line 4 (id 'sie-64122-01')",
                                           "line 5 (id 'sie-64024-01')"]


def test_line_numbers_are_physical_lines() -> None:
    """Blank lines count, and a quoted field over two lines makes its record take two lines."""
    text = (f"{HEADER}\n\n{PAU}\n"  # lines 1-3
            'sie-64122-01,"SIE de\nBiarritz",64,+33465710264,+33465719264,\n'  # lines 4-5
            "sie-64024-01,SIE d'Anglet,64,+33465710464,+33465719464,pau@2021-09-1\n")  # line 6
    problems = problems_of(text)
    assert [p.entry for p in problems] == ["line 4 (id 'sie-64122-01')", "line 6 (id 'sie-64024-01')"]


# --- file-level problems ----------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "fragment"), [
    pytest.param("id,name,dept,numbers,internal_line,coverage",
                 "missing column departement; unknown column 'dept'; the first line must be "
                 f"{HEADER} (in any order)", id="misspelt"),
    pytest.param("id,name,departement,numbers,coverage", "missing column internal_line", id="missing"),
    pytest.param(f"{HEADER},comment", "unknown column 'comment'", id="extra"),
    pytest.param(f"{HEADER},name", "column written twice: name", id="twice"),
    pytest.param("id;name;departement;numbers;internal_line;coverage",
                 "missing columns id, name, departement", id="semicolons"),
])
def test_wrong_header(header: str, fragment: str) -> None:
    problems = problems_of(csv_text(*GOOD, header=header))
    assert len(problems) == 1, "\n".join(map(str, problems))
    assert problems[0].entry == "line 1 (header)"
    assert fragment in problems[0].message


def test_missing_header() -> None:
    problems = problems_of("\n".join(GOOD) + "\n")
    assert [(p.entry, p.message) for p in problems] == [
        ("line 1 (header)", f"the header line is missing; add {HEADER} as the first line")]


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty_file(text: str) -> None:
    (problem,) = problems_of(text)
    assert problem.entry == "(file)"
    assert problem.message == (f"the file is empty; write the header line {HEADER} and then one line "
                               "per office")


def test_header_only_is_an_empty_directory() -> None:
    assert len(parse(csv_text())) == 0


def test_bad_csv_quoting() -> None:
    (problem,) = problems_of(csv_text(PAU, 'sie-64122-01,"SIE de" Biarritz,64,+33465710264,+33465719264,'))
    assert problem.entry == "line 3" and problem.message.startswith("invalid CSV (")


def test_too_many_offices() -> None:
    rows = [f"sie-{64000 + i // 100:05d}-{i % 100:02d},SIE {i},64,+3346571{i:04d},+3335301{i:04d},"
            for i in range(MAX_OFFICES + 1)]
    (problem,) = problems_of(csv_text(*rows))
    assert problem.entry == "(file)"
    assert problem.message.startswith(f"{MAX_OFFICES + 1} offices, at most 5000 are allowed")


def test_load_directory_reports_a_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "offices.csv"
    path.write_bytes(csv_text(PAU).replace("Pau", "Pa\u00f9").encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_directory(path, site_ids=SITES)
    (problem,) = caught.value.problems
    assert (problem.file, problem.entry) == (str(path), "(file)")
    assert problem.message.startswith("not UTF-8 text (byte 0xf9 at offset")
    path.write_text(csv_text(PAU), encoding="utf-8")
    assert len(load_directory(path, site_ids=SITES)) == 1


# --- ccpros directory import --------------------------------------------------------------------------


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEMO, target)
    return target


def run_import(path: Path, cfg_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["directory", "import", str(path), "--config", str(cfg_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_replaces_offices_csv(cfg_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "new.csv"
    text = csv_text(PAU, BAYONNE.replace("2030-01-01", "2099-01-01"), PARIS)
    new.write_text(text, encoding="utf-8")
    code, out, err = run_import(new, cfg_dir, capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"imported 3 offices into {cfg_dir}/offices.csv (1 covered today, 2 not covered)"
    assert "restart the services" in lines[1]
    assert (cfg_dir / "offices.csv").read_text(encoding="utf-8") == text
    assert sorted(p.name for p in cfg_dir.iterdir() if "offices" in p.name) == ["offices.csv"]  # no temp file
    assert len(load_config(cfg_dir).directory) == 3


def test_import_of_bad_rows_changes_nothing(cfg_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    before = (cfg_dir / "offices.csv").read_bytes()
    new = tmp_path / "new.csv"
    new.write_text(csv_text(PAU, "sie-6412-01,SIE de Biarritz,64,+33465710264,+33465719264,",
                            "sie-64024-01,SIE d'Anglet,64,+33199001000,+33465719464,pua@2021-09-01"),
                   encoding="utf-8")
    code, out, err = run_import(new, cfg_dir, capsys)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[:3] == [
        f"{new}: line 3 (id 'sie-6412-01'): id 'sie-6412-01' is invalid; write it as sie-<INSEE code of the "
        "commune, 5 characters>-<two digits>, e.g. sie-64445-01 (sie-2A004-01 in Corsica)",
        f"{new}: line 4 (id 'sie-64024-01'): published number +33199001000 is already used by platform.yaml "
        "national_number; an office cannot use it, fix the number",
        f"{new}: line 4 (id 'sie-64024-01'): site 'pua' in coverage entry 'pua@2021-09-01' is not defined in "
        "sites.yaml; use one of: alencon, cahors, carpentras, chalons-en-champagne, decazeville, lisieux, "
        "lons-le-saunier, morlaix, pau, perpignan, or - to end the coverage",
    ]
    assert lines[3] == f"nothing imported (3 problems): {cfg_dir}/offices.csv is unchanged"
    assert (cfg_dir / "offices.csv").read_bytes() == before
    assert sorted(p.name for p in cfg_dir.iterdir() if "offices" in p.name) == ["offices.csv"]


@pytest.mark.parametrize(("content", "fragment"), [
    pytest.param(None, "no such file; check the path", id="missing"),
    pytest.param(b"id,name\n\xe9\n", "not UTF-8 text (byte 0xe9 at offset 8); save it as 'CSV UTF-8'",
                 id="not-utf8"),
    pytest.param(b"", "the file is empty", id="empty"),
])
def test_import_unreadable_file(cfg_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                content: bytes | None, fragment: str) -> None:
    before = (cfg_dir / "offices.csv").read_bytes()
    new = tmp_path / "new.csv"
    if content is not None:
        new.write_bytes(content)
    code, out, err = run_import(new, cfg_dir, capsys)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{new}: (file): ") and fragment in err
    assert (cfg_dir / "offices.csv").read_bytes() == before


def test_import_into_a_config_without_offices(cfg_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (cfg_dir / "offices.csv").unlink()
    new = tmp_path / "new.csv"
    new.write_text(csv_text(PAU), encoding="utf-8")
    code, out, _ = run_import(new, cfg_dir, capsys)
    assert code == 0
    assert out.startswith(f"imported 1 office into {cfg_dir}/offices.csv (1 covered today, 0 not covered)")
    assert (cfg_dir / "offices.csv").read_text(encoding="utf-8") == csv_text(PAU)
