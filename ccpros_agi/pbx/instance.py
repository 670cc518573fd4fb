"""One Asterisk instance running in the project's Debian sid root filesystem.

Every instance lives in ``<rootfs>/var/lib/ccpros/instances/<name>`` with its own etc, run,
db, spool, log and sounds directories, so that several instances (two test runs, say) can
run from one root filesystem at once. Asterisk runs as the chroot's ``asterisk`` user.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
STATIC_DIR = PROJECT_DIR / "asterisk" / "etc"
DIALPLAN_DIR = PROJECT_DIR / "dialplan"
INSTALL_SCRIPT = PROJECT_DIR / "asterisk" / "install.sh"
DEFAULT_ROOTFS = PROJECT_DIR / ".local" / "asterisk-root"

_TOKEN = re.compile(r"\{\{([a-z_]+)\}\}")


class AsteriskError(RuntimeError):
    pass


@dataclass(frozen=True)
class InstanceSettings:
    """What differs from one instance to another: ports, credentials, database."""

    sip_port: int
    ami_port: int
    http_port: int
    agi_port: int
    rtp_start: int
    rtp_end: int
    ami_user: str
    ami_secret: str
    ari_user: str
    ari_password: str
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    general_queue: str
    sip_bind: str = "127.0.0.1"     # the address carriers and softphones reach (production: not loopback)


def fill(template: str, values: Mapping[str, object], *, source: str) -> str:
    """Replace every ``{{name}}``; an unknown name is an error, not an empty string."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise AsteriskError(f"{source}: no value for {{{{{key}}}}}")
        value = str(values[key])
        if "\n" in value or "\r" in value:
            raise AsteriskError(f"{source}: value of {key} contains a line break")
        return value

    return _TOKEN.sub(sub, template)


def static_files(settings: InstanceSettings, instance_dir: str) -> dict[str, str]:
    """The static config of asterisk/etc and the hand-written dialplan, filled in."""
    values = {**settings.__dict__, "instance_dir": instance_dir, "sounds_dir": f"{instance_dir}/sounds"}
    files = {p.name: fill(p.read_text(), values, source=str(p)) for p in sorted(STATIC_DIR.glob("*.conf"))}
    for p in sorted(DIALPLAN_DIR.glob("*.conf")):
        files[f"dialplan_{p.name}"] = p.read_text()
    return files


def ensure_rootfs(rootfs: Path = DEFAULT_ROOTFS) -> Path:
    """Build the root filesystem if missing (quick no-op when it is there)."""
    subprocess.run([str(INSTALL_SCRIPT), str(rootfs)], check=True)
    return rootfs


class AsteriskInstance:
    def __init__(self, rootfs: Path, name: str) -> None:
        if not re.fullmatch(r"[a-zA-Z0-9_.-]+", name):
            raise ValueError(f"bad instance name {name!r}")
        self.rootfs = Path(rootfs).resolve()
        self.name = name
        self.dir = f"/var/lib/ccpros/instances/{name}"  # as Asterisk sees it, inside the chroot
        self.host_dir = self.rootfs / self.dir.lstrip("/")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> str:
        return f"{self.dir}/etc/asterisk.conf"

    @property
    def sounds_dir(self) -> Path:
        return self.host_dir / "sounds"

    @property
    def log_dir(self) -> Path:
        return self.host_dir / "log"

    def write_config(self, files: Mapping[str, str]) -> None:
        """Write etc/ anew (run, db, spool, log and sounds are kept)."""
        etc = self.host_dir / "etc"
        if etc.exists():
            shutil.rmtree(etc)
        for sub in ("etc", "run", "db", "spool", "log", "sounds"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = etc / name
            path.write_text(text)
            os.chmod(path, 0o640)
        self._chown()

    def _chown(self) -> None:
        subprocess.run(["chroot", str(self.rootfs), "chown", "-R", "asterisk:asterisk", self.dir], check=True)

    def start(self, timeout: float = 30.0) -> None:
        if self.process and self.process.poll() is None:
            return
        self._chown()
        out = open(self.log_dir / "console.out", "ab")
        self.process = subprocess.Popen(
            ["chroot", str(self.rootfs), "asterisk", "-f", "-n", "-U", "asterisk", "-G", "asterisk",
             "-C", self.conf],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise AsteriskError(f"asterisk exited with {self.process.returncode}; see {self.log_dir}")
            try:
                self.rx("core waitfullybooted", timeout=5)
                return
            except (AsteriskError, subprocess.TimeoutExpired):
                time.sleep(0.1)
        raise AsteriskError(f"asterisk not ready after {timeout}s; see {self.log_dir}")

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command through the instance's control socket."""
        result = subprocess.run(
            ["chroot", str(self.rootfs), "asterisk", "-C", self.conf, "-rx", command],
            capture_output=True, timeout=timeout, text=True,
        )
        if result.returncode != 0 or "Unable to connect" in result.stdout:
            raise AsteriskError(f"asterisk -rx {command!r}: {result.stdout.strip()} {result.stderr.strip()}")
        return result.stdout

    def running(self) -> bool:
        return bool(self.process and self.process.poll() is None)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.process:
            return
        if self.process.poll() is None:
            try:
                self.rx("core stop now", timeout=5)
            except (AsteriskError, subprocess.TimeoutExpired):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.host_dir, ignore_errors=True)
