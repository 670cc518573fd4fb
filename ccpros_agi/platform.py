"""The whole platform on one machine: PostgreSQL, Asterisk, the Python services.

Used by ``ccpros run`` (the demo, ``make run``) and by the integration tests, so that what
the tests start is what an operator starts.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy.engine import make_url

from ccpros_agi import confgen, routing
from ccpros_agi.config import Config, load_config
from ccpros_agi.pbx.instance import DEFAULT_ROOTFS, AsteriskInstance, InstanceSettings, ensure_rootfs, static_files
from ccpros_agi.callbacks import policy as callback_policy
from ccpros_agi.pbx.prompts import hold_music, synthesize
from ccpros_agi.runtime import Runtime
from ccpros_agi.secrets import Secrets, load_or_create_secrets
from ccpros_agi.store import migrate
from ccpros_agi.store.pgcluster import PrivateCluster, free_port, psycopg_url

log = structlog.get_logger("ccpros.platform")

CEL_USER = "asterisk_cel"


def free_udp_range(size: int, low: int = 20000, high: int = 60000) -> int:
    """The start of ``size`` consecutive UDP ports free now (checked one by one)."""
    import random

    for _ in range(200):
        start = random.randrange(low, high - size) & ~1
        socks = []
        try:
            for port in range(start, start + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return start
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free UDP port range")


@dataclass
class Ports:
    sip: int
    ami: int
    http: int
    agi: int
    web: int
    rtp_start: int
    rtp_end: int
    db: int | None = None           # the private PostgreSQL cluster's port (None: any free port)

    @classmethod
    def free(cls, rtp_size: int = 400) -> "Ports":
        rtp = free_udp_range(rtp_size)
        return cls(sip=free_port(), ami=free_port(), http=free_port(), agi=free_port(), web=free_port(),
                   rtp_start=rtp, rtp_end=rtp + rtp_size - 1)

    @classmethod
    def demo(cls) -> "Ports":
        return cls(sip=5060, ami=5038, http=8088, agi=4573, web=8080, rtp_start=10000, rtp_end=10999, db=5433)

    def busy(self) -> list[str]:
        """The TCP/UDP ports of this set that something else already holds."""
        taken = []
        checks = [("sip", self.sip, socket.SOCK_DGRAM), ("ami", self.ami, socket.SOCK_STREAM),
                  ("http", self.http, socket.SOCK_STREAM), ("agi", self.agi, socket.SOCK_STREAM),
                  ("web", self.web, socket.SOCK_STREAM)]
        if self.db:
            checks.append(("db", self.db, socket.SOCK_STREAM))
        for name, port, kind in checks:
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    taken.append(f"{name} {port}")
        return taken


@dataclass
class Database:
    """Where the call records go: a given server, or a private cluster this platform starts."""

    url: str
    host: str
    port: int
    name: str
    cel_user: str
    cel_password: str
    cluster: PrivateCluster | None = None

    @classmethod
    def from_url(cls, url: str) -> "Database":
        """A server given by URL: Asterisk's CEL is written with the same credentials."""
        u = make_url(psycopg_url(url))
        return cls(url=u.render_as_string(hide_password=False), host=u.host or "127.0.0.1",
                   port=u.port or 5432, name=u.database or "", cel_user=u.username or "",
                   cel_password=u.password or "")


def menu_texts(config: Config) -> dict[str, str]:
    """Every prompt of our own, by name (as the FastAGI handlers play them)."""
    hours = routing.hours_sentence(config.hours)
    texts = {
        "menu": routing.menu_prompt(config),
        "closed": "Bonjour. Le centre de contact des professionnels est actuellement fermé. "
                  + hours + " Merci de votre appel, au revoir.",
        "office-closed": "Bonjour. Le service des impôts des entreprises est actuellement fermé. "
                         + hours + " Merci de votre appel, au revoir.",
        "individuals": routing.individuals_message(config),
    }
    texts.update({f"online-{t.id}": t.online for t in config.topics if t.online})
    texts.update(callback_policy.texts(config))
    return texts


def asterisk_files(config: Config, settings: InstanceSettings, instance_dir: str,
                   advisor_passwords: dict[str, str]) -> dict[str, str]:
    """Every file of an instance's etc/ (as Asterisk sees ``instance_dir``): the static templates
    filled in, the hand-written dialplan, and the parts generated from the configuration."""
    files = static_files(settings, instance_dir)
    files.update(confgen.generate(config, advisor_passwords, f"{instance_dir}/sounds"))
    return files


def make_sounds(config: Config, sounds_dir: Path) -> None:
    """The instance's own prompts and hold music (remade only when their text changed)."""
    synthesize(menu_texts(config), sounds_dir)
    hold_music(sounds_dir / "moh")


@dataclass
class Platform:
    config_dir: Path
    state_dir: Path
    instance_name: str = "demo"
    rootfs: Path = DEFAULT_ROOTFS
    ports: Ports = field(default_factory=Ports.free)
    database: Database | None = None      # None: start a private cluster in state_dir/pg
    log_dir: Path | None = None
    # the Python services to run (ccpros_agi.services.SERVICES)
    service_names: tuple[str, ...] = ("events", "agi", "dialer", "notifier")

    config: Config | None = None
    secrets: Secrets | None = None
    instance: AsteriskInstance | None = None
    runtime: Runtime | None = None
    services: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        self.config = load_config(self.config_dir)           # nothing starts on an invalid config
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.secrets = load_or_create_secrets(self.state_dir / "secrets.yaml", self.config)
        ensure_rootfs(self.rootfs)
        if self.database is None:
            self.database = self._private_database()
        migrate.upgrade(self.database.url)
        self._start_asterisk()
        self._start_services()

    def _private_database(self) -> Database:
        cluster = PrivateCluster(self.state_dir / "pg", self.ports.db or free_port())
        cluster.init(superuser_password=self.secrets.db_password)
        cluster.start()
        name, owner = "ccpros", "ccpros"
        cluster.ensure_role(owner, self.secrets.db_password)
        cluster.ensure_database(name, owner, self.secrets.db_password)
        url = cluster.url(name, owner, self.secrets.db_password)
        migrate.upgrade(url)
        migrate.ensure_cel_writer(cluster, CEL_USER, self.secrets.cel_password, name)
        return Database(url=url, host=cluster.host, port=cluster.port, name=name, cel_user=CEL_USER,
                        cel_password=self.secrets.cel_password, cluster=cluster)

    def _start_asterisk(self) -> None:
        assert self.config and self.secrets and self.database
        p, s, db = self.ports, self.secrets, self.database
        self.instance = AsteriskInstance(self.rootfs, self.instance_name)
        settings = InstanceSettings(
            sip_port=p.sip, ami_port=p.ami, http_port=p.http, agi_port=p.agi, rtp_start=p.rtp_start,
            rtp_end=p.rtp_end, ami_user=s.ami_user, ami_secret=s.ami_secret, ari_user=s.ari_user,
            ari_password=s.ari_password, db_host=db.host, db_port=db.port, db_name=db.name,
            db_user=db.cel_user, db_password=db.cel_password,
            general_queue=routing.queue_name(self.config.general_topic))
        self.instance.write_config(asterisk_files(self.config, settings, self.instance.dir, s.advisor_passwords))
        make_sounds(self.config, self.instance.sounds_dir)
        self.instance.start()
        log.info("asterisk_started", instance=self.instance_name, sip_port=p.sip)

    def _start_services(self) -> None:
        assert self.instance and self.secrets and self.database
        self.runtime = Runtime(
            config_dir=str(self.config_dir), database_url=self.database.url, agi_port=self.ports.agi,
            ami_port=self.ports.ami, ami_user=self.secrets.ami_user, ami_secret=self.secrets.ami_secret,
            http_port=self.ports.http, web_port=self.ports.web, sounds_dir=f"{self.instance.dir}/sounds")
        self.runtime.save(self.state_dir / "runtime.json")
        for name in self.service_names:
            self.start_service(name)
        self.wait_ready()

    def start_service(self, name: str, runtime: Runtime | None = None) -> subprocess.Popen[bytes]:
        """Start one service process; ``runtime`` overrides this platform's (another config, say)."""
        log_dir = self.log_dir or self.state_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        runtime_file = self.state_dir / "runtime.json"
        if runtime is not None:
            runtime_file = self.state_dir / f"runtime-{name}.json"
            runtime.save(runtime_file)
        out = open(log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccpros_agi.cli", "serve", name, "--runtime", str(runtime_file)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        self.services[name] = proc
        return proc

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.services.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"service {name} exited with {proc.returncode}; see its log")
            if self.agi_listening() and self.web_status().get("ok"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"platform not ready after {timeout}s: {self.web_status()}")

    def agi_listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.ports.agi), timeout=0.5).close()
            return True
        except OSError:
            return False

    def web_status(self) -> dict:
        import json

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports.web}/status", timeout=2) as r:
                return json.load(r)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return {"ok": False, "error": str(exc)}

    # -- stop -------------------------------------------------------------------------------
    def stop_service(self, name: str, *, kill: bool = False) -> None:
        proc = self.services.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop(self) -> None:
        for name in list(self.services):
            self.stop_service(name)
        if self.instance:
            self.instance.stop()
        if self.database and self.database.cluster:
            self.database.cluster.stop()

    # -- what people need to know --------------------------------------------------------------
    def accounts(self) -> list[tuple[str, str, str]]:
        assert self.config and self.secrets
        return [(a.id, self.secrets.advisor_passwords[a.id], a.site) for a in self.config.advisors]

    def banner(self) -> str:
        assert self.config
        p = self.ports
        lines = [
            "",
            "ccpros is running (Ctrl-C stops everything)",
            f"  status page      http://127.0.0.1:{p.web}/",
            f"  national number  {self.config.national_number} (calls from the trunk at "
            f"{', '.join(self.config.trunk.match)} to 127.0.0.1:{p.sip})",
            f"  SIP registrar    127.0.0.1:{p.sip} (UDP); advisors dial *21 to log in, *22 to log out",
            f"  logs             {self.log_dir or self.state_dir / 'log'}, "
            f"{self.instance.log_dir if self.instance else ''}",
            "",
            f"  {'advisor (SIP user)':<24} {'site':<22} password",
        ]
        lines += [f"  {user:<24} {site:<22} {password}" for user, password, site in self.accounts()]
        return "\n".join(lines)


def run_foreground(config_dir: Path, state_dir: Path, database_url: str | None) -> int:
    """``make run``: start everything on the demo ports, print how to use it, keep the services up
    (a service that dies is restarted), stop everything cleanly on Ctrl-C or SIGTERM."""
    import signal

    ports = Ports.demo()
    if busy := ports.busy():
        print(f"ports already in use: {', '.join(busy)} (is the platform already running?)", file=sys.stderr)
        return 1
    platform = Platform(config_dir=Path(config_dir), state_dir=state_dir.resolve(), ports=ports,
                        database=Database.from_url(database_url) if database_url else None)
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        platform.start()
        print(platform.banner(), flush=True)
        while not stopping:
            time.sleep(0.5)
            for name, proc in list(platform.services.items()):
                if proc.poll() is not None and not stopping:
                    log.warning("service_died_restarting", service=name, returncode=proc.returncode)
                    platform.start_service(name)
            if platform.instance and not platform.instance.running() and not stopping:
                log.error("asterisk_died", logs=str(platform.instance.log_dir))
                return 1
    finally:
        print("stopping ccpros ...", file=sys.stderr, flush=True)
        platform.stop()
    return 0
