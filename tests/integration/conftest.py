"""The real platform for integration tests: Asterisk in its root filesystem, PostgreSQL,
the Python services, on free ports; SIPp callers on the trunk and SIPp advisors' phones."""
from __future__ import annotations

import itertools
import os
import re
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from ccpros_agi.platform import Database, Platform
from ccpros_agi.store.pgcluster import PrivateCluster  # noqa: F401 (type of db fixtures)
from tests.integration.sip import TRUNK_IP, SCENARIOS, AdvisorPhone, Caller, Sipp, free_udp_port, wait_for

PROJECT = Path(__file__).resolve().parents[2]
NATIONAL = "+33199001000"
ALL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


TVA_OVERFLOW_S = 5
CFE_OVERFLOW = "state:0"     # CFE widens once its home site has nobody free and another site has someone
GATEWAY_IP = "127.0.0.3"     # the administration's network gateway (offices' own lines), simulated
CALLBACK_KEY = "5"
CALLBACK_OFFER_AFTER_S = 600   # offered at entry when the expected wait is that long, or nobody is staffed


@pytest.fixture(scope="session")
def gateway_port() -> int:
    return free_udp_port(GATEWAY_IP)


@pytest.fixture(scope="session")
def business_port() -> int:
    """Where the carrier takes the platform's outgoing calls (callbacks to businesses), simulated."""
    return free_udp_port(TRUNK_IP)


@pytest.fixture(scope="session")
def _gateway_yaml(gateway_port, business_port) -> str:
    # appended to platform.yaml (its own admin_gateway and callback lines are dropped)
    return (f'\nadmin_gateway: "sip:{GATEWAY_IP}:{gateway_port}"\n'
            f"callback: {{key: \"{CALLBACK_KEY}\", offer_after_seconds: {CALLBACK_OFFER_AFTER_S}, ring_seconds: 5,"
            f" max_attempts: 2,"
            f" retry_after_seconds: 10, max_attempts_per_number_per_day: 6}}\n"
            f"# trunk contact: sip:{TRUNK_IP}:{business_port}\n")


def _config_copy(tmp_path_factory, name: str, hours_yaml: str, platform_extra: str = "") -> Path:
    target = tmp_path_factory.mktemp(name)
    shutil.copytree(PROJECT / "config", target, dirs_exist_ok=True)
    (target / "hours.yaml").write_text(hours_yaml)
    # TVA overflows to other sites after 5 s (the demo says 30 s): test_overflow_calls.py
    topics_yaml = target / "topics.yaml"
    # CFE overflows by state (test_state_overflow.py)
    topics = topics_yaml.read_text().replace('overflow: "timer:30"', f'overflow: "timer:{TVA_OVERFLOW_S}"')
    assert '    key: "2"\n' in topics
    topics_yaml.write_text(topics.replace('    key: "2"\n', f'    key: "2"\n    overflow: "{CFE_OVERFLOW}"\n'))
    if platform_extra:
        platform_yaml = target / "platform.yaml"
        text = platform_yaml.read_text()
        text = text[:text.index("\ncallback:")] if "\ncallback:" in text else text
        contact = re.search(r"# trunk contact: (\S+)", platform_extra)
        if contact:
            text = re.sub(r'contact: "sip:[^"]*"', f'contact: "{contact.group(1)}"', text)
        lines = [line for line in text.splitlines() if not line.startswith("admin_gateway:")]
        platform_yaml.write_text("\n".join(lines) + platform_extra)
    return target


def _weekly(interval: str) -> str:
    return "weekly:\n" + "".join(f"  {day}: [{interval}]\n" for day in ALL_DAYS)


@pytest.fixture(scope="session")
def open_config(tmp_path_factory, _gateway_yaml) -> Path:
    """The demo configuration, open at any hour of any day (tests run whenever CI runs), with the
    administration's gateway on a test address."""
    return _config_copy(tmp_path_factory, "config-open",
                        "timezone: Europe/Paris\n" + _weekly('["00:00", "24:00"]') + "closed_dates: []\n",
                        _gateway_yaml)


@pytest.fixture(scope="session")
def closed_config(tmp_path_factory, _gateway_yaml) -> Path:
    """The demo configuration, closed today (an exceptional closure around today's date)."""
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    days = ", ".join(str(today + timedelta(days=d)) for d in (-1, 0, 1))
    return _config_copy(tmp_path_factory, "config-closed",
                        "timezone: Europe/Paris\n" + _weekly('["08:30", "18:00"]')
                        + f"public_holidays: {{country: FR}}\nclosed_dates: [{days}]\n", _gateway_yaml)


@pytest.fixture(scope="session")
def platform(open_config, db_info):
    state = Path(tempfile.mkdtemp(prefix="ccpros-it-"))
    p = Platform(
        config_dir=open_config, state_dir=state, instance_name=f"it-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        # no notifier: the appointments tests run their own against their own SMTP and SMS receivers, and
        # one of the platform's could take their messages first (same database)
        service_names=("events", "agi", "dialer"),
        database=Database(url=db_info.url, host=db_info.host, port=db_info.port, name=db_info.dbname,
                          cel_user=db_info.cel_user, cel_password=db_info.cel_password))
    try:
        p.start()
        yield p
    except Exception:
        _dump_logs(p)
        raise
    finally:
        p.stop()
        if p.instance:
            p.instance.remove()
        shutil.rmtree(state, ignore_errors=True)


def _dump_logs(p: Platform) -> None:
    for path in sorted((p.state_dir / "log").glob("*.log")) + (
            [p.instance.log_dir / "console.out"] if p.instance else []):
        if path.exists():
            print(f"--- {path} ---\n{path.read_text()[-80000:]}")


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="ccpros-sipp-"))
    yield path
    if not os.environ.get("CCPROS_KEEP_SIPP"):   # keep SIPp's logs to look into a failure
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def caller(platform, workdir) -> Caller:
    return Caller(platform.ports.sip, workdir)


@pytest.fixture
def phones(platform, workdir):
    """Start advisors' phones: ``phones("pau-01", "pau-02")``; logged out and stopped after the test."""
    started: list[AdvisorPhone] = []

    def start(*advisor_ids: str, login: bool = True, answer_ms: int = 300, scenario: str = "advisor_uas.xml",
              keys: dict[str, str] | None = None) -> list[AdvisorPhone]:
        out = []
        for advisor_id in advisor_ids:
            phone = AdvisorPhone(advisor_id, platform.secrets.advisor_passwords[advisor_id], platform.ports.sip,
                                 workdir, answer_ms=answer_ms, scenario=scenario, keys=keys or {}).start()
            started.append(phone)
            if login:
                phone.login()
            out.append(phone)
        return out

    yield start
    for phone in started:
        phone.stop()


@pytest.fixture(autouse=True)
def _dump_on_failure(request, platform):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        _dump_logs(platform)
    # a test that failed may leave calls behind (a SIPp caller that gave up sends no BYE): they would
    # wait in the queues and be answered by the next tests' advisors
    if platform.instance is not None and not re.search(r"^0 active channels", platform.instance.rx(
            "core show channels count"), re.MULTILINE):
        platform.instance.rx("channel request hangup all")
        time.sleep(1)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Gateway:
    """The administration's gateway as seen from the platform: a SIPp that answers every call and
    keeps the messages it received, to tell which office line was dialled."""

    def __init__(self, sipp: Sipp, trace) -> None:
        self.sipp, self.trace = sipp, trace

    def dialled(self) -> list[str]:
        text = self.trace.read_text() if self.trace.exists() else ""
        return [line.split()[1].split("@")[0].removeprefix("sip:")
                for line in text.splitlines() if line.startswith("INVITE sip:")]


@pytest.fixture
def gateway(platform, gateway_port, workdir):
    scenario = workdir / "gateway.xml"
    scenario.write_text((SCENARIOS / "advisor_uas.xml").read_text().replace("[answer_ms]", "100"))
    sipp = Sipp(platform.ports.sip, scenario, ip=GATEWAY_IP, service="gateway", workdir=workdir,
                server=True, calls=None, timeout_s=600, port=gateway_port,
                extra=["-trace_msg", "-message_file", str(workdir / "gateway-messages.log")]).start()
    yield Gateway(sipp, workdir / "gateway-messages.log")
    sipp.stop()


class Records:
    """The call records as the tests read them: straight from PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")

    def query(self, sql: str, *params) -> list[dict]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    def by_caller(self, caller_number: str) -> dict | None:
        rows = self.query("SELECT * FROM calls WHERE caller_number = %s ORDER BY id DESC", caller_number)
        return rows[0] if rows else None

    def final(self, caller_number: str, timeout: float = 20) -> dict:
        """The call of that caller once its outcome is decided."""
        return wait_for(lambda: (r := self.by_caller(caller_number)) and r["outcome"] != "in_progress" and r,
                        timeout, what=f"final record of {caller_number}")

    def events(self, linkedid: str) -> list[str]:
        return [r["kind"] for r in self.query(
            "SELECT kind FROM call_events WHERE linkedid = %s ORDER BY at, id", linkedid)]

    def cel_count(self, linkedid: str) -> int:
        return self.query("SELECT count(*) AS n FROM cel WHERE linkedid = %s", linkedid)[0]["n"]


@pytest.fixture(scope="session")
def records(db_info) -> Records:
    return Records(db_info.url)


@pytest.fixture(scope="session")
def new_caller_number():
    """Distinct French mobile numbers in the range reserved for fiction (05 36 49 xx xx)."""
    counter = itertools.count(uuid.uuid4().int % 5000)

    def make() -> str:
        return f"+3353649{next(counter) % 10000:04d}"
    return make
