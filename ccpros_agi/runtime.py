"""What the running services need to know about this run: ports, credentials, database.

Written by the platform runner (``ccpros run`` or the test fixtures) into a 0600 file that
the service processes read (``ccpros serve agi|events --runtime FILE``).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Runtime:
    config_dir: str
    database_url: str
    agi_port: int
    ami_port: int
    ami_user: str
    ami_secret: str
    http_port: int
    web_port: int
    sounds_dir: str            # as Asterisk sees it, inside its root filesystem
    host: str = "127.0.0.1"
    log_level: str = "INFO"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Runtime":
        return cls(**json.loads(Path(path).read_text()))
