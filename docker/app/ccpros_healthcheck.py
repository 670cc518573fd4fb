#!/usr/bin/env python3
"""Container health check of the two services, with the readiness test of ``ccpros run``.

  ccpros-healthcheck agi      a process of this container listens on the FastAGI port (read from
                              /proc: connecting would make the server log agi_bad_environment
                              at every check)
  ccpros-healthcheck events   GET /status answers {"ok": true} (database and AMI connected)

Ports come from the runtime file written by ccpros-setup (default /run/ccpros/runtime.json).
Exit 0 healthy, 1 not (Docker's HEALTHCHECK convention).
"""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path


_LISTEN = "0A"


def listening_inodes(port: int, proc: Path = Path("/proc")) -> set[str]:
    """Inodes of the TCP sockets in LISTEN state on ``port`` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def owner_pid(inodes: set[str], proc: Path = Path("/proc")) -> int | None:
    """A process (visible here: in a container, one of its own) holding one of these sockets."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(pid_dir.name)
        except OSError:      # process gone, or not ours
            continue
    return None


def check(service: str, runtime_file: Path, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        rt = json.loads(runtime_file.read_text())
    except (OSError, ValueError) as exc:
        return False, f"runtime file {runtime_file}: {exc}"
    host = rt.get("host", "127.0.0.1")
    if service == "agi":
        port = int(rt["agi_port"])
        inodes = listening_inodes(port)
        if not inodes:
            return False, f"nothing listens on TCP port {port}"
        pid = owner_pid(inodes)
        if pid is None:
            return False, f"TCP port {port} is held by no process of this container"
        return True, f"agi listening on port {port} (pid {pid})"
    if service == "events":
        url = f"http://{host}:{int(rt['web_port'])}/status"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                body = json.load(r)
        except Exception as exc:  # noqa: BLE001 - any failure (HTTP 503 included) is "unhealthy"
            return False, f"{url}: {exc}"
        return bool(body.get("ok")), json.dumps(body)
    return False, f"unknown service {service!r} (agi or events)"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: ccpros-healthcheck agi|events", file=sys.stderr)
        return 1   # not 2: Docker reserves it
    ok, detail = check(argv[1], Path(os.environ.get("CCPROS_RUNTIME", "/run/ccpros/runtime.json")))
    print(detail)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
