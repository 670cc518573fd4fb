"""A private PostgreSQL cluster driven with the Debian binaries, plus admin helpers.

The cluster listens only on ``host:port`` (TCP) and on a unix socket inside its
data directory. Admin SQL (roles, databases, grants) goes over TCP as the
``postgres`` superuser with a password chosen by the caller (normally taken
from the project's secrets file): nothing here invents or stores secrets.

When we run as root, ``initdb``/``pg_ctl`` are run as the ``postgres`` system
user through ``runuser`` (initdb refuses to run as root). The data directory,
and every directory above it, must then be reachable by that user.

The admin helpers (:func:`ensure_role`, :func:`ensure_database`,
:func:`ensure_cel_writer`, :func:`drop_database`, :func:`drop_role`) accept
either a :class:`PrivateCluster` or an admin URL
(``postgresql[+psycopg]://postgres:secret@host:port/postgres``).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import structlog
from psycopg import sql
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
CONF_INCLUDE = "ccpros.conf"

__all__ = [
    "PrivateCluster",
    "AdminTarget",
    "free_port",
    "find_bindir",
    "psycopg_url",
    "ensure_role",
    "ensure_database",
    "ensure_cel_writer",
    "drop_database",
    "drop_role",
]


def free_port() -> int:
    """Return a TCP port that is free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bindir() -> Path:
    """Directory holding initdb/pg_ctl: highest /usr/lib/postgresql/*/bin, else pg_config --bindir."""

    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/([\d.]+)/bin$", path)
        return tuple(int(p) for p in m.group(1).split(".")) if m else (0,)

    candidates = [p for p in glob.glob("/usr/lib/postgresql/*/bin") if os.path.isfile(f"{p}/initdb")]
    if candidates:
        return Path(max(candidates, key=version))
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").is_file():
            return bindir
    raise FileNotFoundError("PostgreSQL server binaries not found (install the 'postgresql' package)")


def psycopg_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the SQLAlchemy psycopg (v3) driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _utf8_locale() -> str | None:
    """Name of the C.UTF-8 locale if the system has it, else None."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    names = {line.strip().lower().replace("-", "") for line in out.splitlines()}
    return "C.UTF-8" if "c.utf8" in names else None


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in ``datadir`` listening on ``host:port`` only.

    ``superuser_password`` is the password of the ``postgres`` superuser: set at
    ``init()`` time and used for admin SQL over TCP.
    """

    datadir: Path
    port: int
    host: str = "127.0.0.1"
    superuser_password: str | None = field(default=None, repr=False)
    bindir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.datadir = Path(self.datadir).absolute()
        self.bindir = find_bindir()

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    # -- paths ---------------------------------------------------------------
    @property
    def logfile(self) -> Path:
        return self.datadir / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.datadir

    # -- process helpers -----------------------------------------------------
    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        return ["runuser", "-u", SYSTEM_USER, "--", *cmd] if self._as_root else cmd

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd="/": the postgres user may not be allowed into the caller's cwd.
        # stdin closed and output captured so pg_ctl never holds our terminal.
        return subprocess.run(
            self._cmd(tool, *args),
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=check,
        )

    def _chown(self, path: Path) -> None:
        if self._as_root:
            pw = pwd.getpwnam(SYSTEM_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def _write_owned(self, path: Path, text: str, mode: int = 0o600) -> None:
        path.write_text(text)
        os.chmod(path, mode)
        self._chown(path)

    # -- lifecycle -----------------------------------------------------------
    def is_initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").is_file()

    def init(self, superuser_password: str | None = None) -> None:
        """initdb, only if ``datadir/PG_VERSION`` is missing.

        ``superuser_password`` (if given) replaces the one given to the constructor;
        it is remembered for admin SQL even when the cluster already exists.
        """
        if superuser_password is not None:
            self.superuser_password = superuser_password
        if self.is_initialized():
            return
        if not self.superuser_password:
            raise ValueError("superuser_password is required to initialise a cluster")
        parent = self.datadir.parent
        if not parent.exists():
            parent.mkdir(parents=True)
            self._chown(parent)
        self.datadir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.datadir, 0o700)
        self._chown(self.datadir)
        if self._as_root:
            probe = subprocess.run(
                ["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(self.datadir)], cwd="/"
            )
            if probe.returncode != 0:
                raise PermissionError(
                    f"user {SYSTEM_USER!r} cannot reach {self.datadir}: a parent directory is not "
                    "traversable (e.g. pytest's /tmp/pytest-of-root is 0700); pick another location"
                )

        locale = _utf8_locale()
        locale_args = [f"--locale={locale}"] if locale else ["--no-locale"]
        fd, pwfile = tempfile.mkstemp(prefix="ccpros-pgpw-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.superuser_password + "\n")
            self._chown(Path(pwfile))
            res = self._run(
                "initdb",
                f"--pgdata={self.datadir}",
                f"--username={SUPERUSER}",
                f"--pwfile={pwfile}",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                *locale_args,
                check=False,
            )
        finally:
            os.unlink(pwfile)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed ({res.returncode}): {res.stderr.strip()}")
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(f"\n# ccpros: listen address, port and socket dir are set at each start\n"
                    f"include_if_exists = '{CONF_INCLUDE}'\n")
        log.info("pg_cluster_initialized", datadir=str(self.datadir))

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def start(self) -> None:
        """Start (waiting until it accepts connections); no-op if already running."""
        if self.is_running():
            return
        # Settings go in an included file rather than `pg_ctl -o`, so paths need no shell quoting.
        sockdir = str(self.socket_dir).replace("'", "''")
        self._write_owned(
            self.datadir / CONF_INCLUDE,
            f"listen_addresses = '{self.host}'\n"
            f"port = {int(self.port)}\n"
            f"unix_socket_directories = '{sockdir}'\n",
        )
        res = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir), "-l", str(self.logfile),
            check=False,
        )
        if res.returncode != 0:
            tail = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({res.returncode}): {res.stderr.strip()}\n{tail}")
        log.info("pg_cluster_started", datadir=str(self.datadir), host=self.host, port=self.port)

    def stop(self) -> None:
        """Fast shutdown; no-op if not running."""
        if not self.is_running():
            return
        self._run("pg_ctl", "stop", "-m", "fast", "-w", "-t", "60", "-D", str(self.datadir))
        log.info("pg_cluster_stopped", datadir=str(self.datadir))

    # -- URLs and admin ------------------------------------------------------
    def url(self, dbname: str, user: str, password: str) -> str:
        """SQLAlchemy URL ``postgresql+psycopg://user:password@host:port/dbname`` (quoted)."""
        return (
            f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.host}:{int(self.port)}/{quote(dbname, safe='')}"
        )

    def admin_url(self, dbname: str = "postgres") -> str:
        if not self.superuser_password:
            raise ValueError("superuser_password is not set")
        return self.url(dbname, SUPERUSER, self.superuser_password)

    def ensure_role(self, name: str, password: str, login: bool = True) -> None:
        ensure_role(self, name, password, login=login)

    def ensure_database(self, dbname: str, owner: str, owner_password: str) -> None:
        ensure_database(self, dbname, owner, owner_password)


AdminTarget = PrivateCluster | str


def _connect(admin: AdminTarget, dbname: str | None = None) -> psycopg.Connection[Any]:
    """Autocommit psycopg connection as the admin (to ``dbname`` if given)."""
    url = make_url(admin.admin_url() if isinstance(admin, PrivateCluster) else admin)
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=dbname or url.database or "postgres",
        autocommit=True,
        connect_timeout=10,
    )


def ensure_role(admin: AdminTarget, name: str, password: str, login: bool = True) -> None:
    """Create the role, or reset its password and LOGIN flag; never a superuser."""
    attrs = sql.SQL("LOGIN" if login else "NOLOGIN")
    with _connect(admin) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        conn.execute(
            sql.SQL(
                "{} {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
            ).format(verb, sql.Identifier(name), attrs, sql.Literal(password))
        )
    log.info("pg_role_ensured", role=name, created=not exists)


def ensure_database(admin: AdminTarget, dbname: str, owner: str, owner_password: str) -> None:
    """Ensure the owner role, then the database owned by it (UTF8).

    Schema ``public`` is handed to the owner and CREATE on it revoked from PUBLIC,
    so other roles (e.g. the CEL writer) cannot create objects there.
    """
    ensure_role(admin, owner, owner_password, login=True)
    with _connect(admin) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(dbname), sql.Identifier(owner)
                )
            )
    with _connect(admin, dbname) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    log.info("pg_database_ensured", dbname=dbname, owner=owner, created=not exists)


def ensure_cel_writer(
    admin: AdminTarget,
    role: str,
    password: str,
    dbname: str,
    *,
    table: str = "cel",
    timezone: str | None = "UTC",
) -> None:
    """Login role for Asterisk's ``cel_pgsql``: INSERT and SELECT on ``table``, USAGE on its sequence.

    Run after the migrations (the table must exist). cel_pgsql reads the
    table's columns from the catalog at load time, which any role may do.

    cel_pgsql sends ``eventtime`` as a local-time string without offset, which
    PostgreSQL reads in the session time zone: the role's ``TimeZone`` is set to
    ``timezone`` (UTC by default), so pair it with ``usegmtime=yes`` in
    ``cel_pgsql.conf``. Pass ``timezone=None`` to leave the role's setting alone.
    """
    ensure_role(admin, role, password, login=True)
    r = sql.Identifier(role)
    with _connect(admin, dbname) as conn:
        seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), r))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
        conn.execute(sql.SQL("GRANT SELECT, INSERT ON TABLE {} TO {}").format(sql.Identifier(table), r))
        if seq and seq[0]:
            conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(sql.SQL(seq[0]), r))
        if timezone:
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET TimeZone = {}").format(
                    r, sql.Identifier(dbname), sql.Literal(timezone)
                )
            )
    log.info("pg_cel_writer_ensured", role=role, dbname=dbname, table=table)


def drop_database(admin: AdminTarget, dbname: str) -> None:
    """Drop the database if it exists, disconnecting its sessions."""
    with _connect(admin) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def drop_role(admin: AdminTarget, name: str) -> None:
    """Drop the role if it exists (drop the databases it owns or is granted on first)."""
    with _connect(admin) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
