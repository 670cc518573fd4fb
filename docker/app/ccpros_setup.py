#!/usr/bin/env python3
"""One-shot setup of the production platform (compose service ``setup``, image ``ccpros-app``).

What ``ccpros run`` (ccpros_agi/platform.py) does before it starts Asterisk and the services,
minus starting anything, with the secrets taken from the environment (docker/.env):

  1. load and check the operator's configuration (/etc/ccpros/config); nothing is written if invalid;
  2. create the owner role and the database, run the Alembic migrations, create the CEL writer role;
  3. render the Asterisk configuration with the same code as the local install
     (asterisk/etc templates + dialplan/ + confgen) into the instance's etc/ directory,
     and the French voice prompts and hold music into its sounds/ directory;
  4. write the runtime file the ``agi`` and ``events`` services read (mode 0600).

Advisors' SIP passwords are generated once and kept in the state volume (secrets.yaml, mode 0600),
exactly like ``var/secrets.yaml`` of the local install; AMI, ARI and database passwords come from the
environment. Re-run it after changing the configuration, then restart asterisk, agi and events.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

INSTANCE_NAME = "prod"
INSTANCE_DIR = f"/var/lib/ccpros/instances/{INSTANCE_NAME}"   # same path in the asterisk container
PLACEHOLDER = "change-me"                                     # docker/env.example's placeholder value

# Variables that carry secrets: required, and refused while they still hold the placeholder.
SECRET_VARS = ("POSTGRES_PASSWORD", "CCPROS_DB_PASSWORD", "CCPROS_CEL_PASSWORD",
               "CCPROS_AMI_SECRET", "CCPROS_ARI_PASSWORD")


class SetupError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the setup reads from the environment (see docker/env.example)."""

    config_dir: Path
    state_dir: Path
    runtime_file: Path
    instance_dir: str            # as Asterisk sees it
    write_root: Path             # where instance_dir is on this machine ("/" in the containers)
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str = dataclasses.field(repr=False)
    db_admin_user: str = "postgres"
    db_admin_password: str = dataclasses.field(default="", repr=False)
    cel_password: str = dataclasses.field(default="", repr=False)
    ami_user: str = "ccpros"
    ami_secret: str = dataclasses.field(default="", repr=False)
    ari_user: str = "ccpros"
    ari_password: str = dataclasses.field(default="", repr=False)
    sip_bind: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    http_port: int = 8088
    agi_port: int = 4573
    web_port: int = 8080
    rtp_start: int = 10000
    rtp_end: int = 10999
    log_level: str = "INFO"

    @property
    def instance_host_dir(self) -> Path:
        return self.write_root / self.instance_dir.lstrip("/")

    def db_url(self, user: str, password: str, dbname: str) -> str:
        return (f"postgresql+psycopg://{quote(user, safe='')}:{quote(password, safe='')}"
                f"@{self.db_host}:{self.db_port}/{quote(dbname, safe='')}")


def settings_from_env(env: Mapping[str, str]) -> Settings:
    problems = []
    for name in SECRET_VARS:
        value = env.get(name, "")
        if not value:
            problems.append(f"{name} is not set (docker/.env)")
        elif PLACEHOLDER in value:
            problems.append(f"{name} still holds the placeholder of docker/env.example: set a real secret")
    if problems:
        raise SetupError("; ".join(problems))

    def port(name: str, default: int) -> int:
        raw = env.get(name, "") or str(default)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise SetupError(f"{name}={raw!r}: expected a port number")
        return int(raw)

    rtp_start, rtp_end = port("CCPROS_RTP_START", 10000), port("CCPROS_RTP_END", 10999)
    if rtp_end <= rtp_start:
        raise SetupError(f"CCPROS_RTP_END ({rtp_end}) must be above CCPROS_RTP_START ({rtp_start})")
    return Settings(
        config_dir=Path(env.get("CCPROS_CONFIG", "/etc/ccpros/config")),
        state_dir=Path(env.get("CCPROS_STATE_DIR", "/var/lib/ccpros/state")),
        runtime_file=Path(env.get("CCPROS_RUNTIME", "/run/ccpros/runtime.json")),
        instance_dir=env.get("CCPROS_INSTANCE_DIR", INSTANCE_DIR),
        write_root=Path(env.get("CCPROS_WRITE_ROOT", "/")),
        db_host=env.get("CCPROS_DB_HOST", "127.0.0.1"),
        db_port=port("CCPROS_DB_PORT", 5432),
        db_name=env.get("CCPROS_DB_NAME", "ccpros"),
        db_user=env.get("CCPROS_DB_USER", "ccpros"),
        db_password=env["CCPROS_DB_PASSWORD"],
        db_admin_user=env.get("POSTGRES_USER", "postgres") or "postgres",
        db_admin_password=env["POSTGRES_PASSWORD"],
        cel_password=env["CCPROS_CEL_PASSWORD"],
        ami_user=env.get("CCPROS_AMI_USER", "ccpros") or "ccpros",
        ami_secret=env["CCPROS_AMI_SECRET"],
        ari_user=env.get("CCPROS_ARI_USER", "ccpros") or "ccpros",
        ari_password=env["CCPROS_ARI_PASSWORD"],
        sip_bind=env.get("CCPROS_SIP_BIND", "127.0.0.1") or "127.0.0.1",
        sip_port=port("CCPROS_SIP_PORT", 5060),
        ami_port=port("CCPROS_AMI_PORT", 5038),
        http_port=port("CCPROS_HTTP_PORT", 8088),
        agi_port=port("CCPROS_AGI_PORT", 4573),
        web_port=port("CCPROS_WEB_PORT", 8080),
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        log_level=env.get("CCPROS_LOG_LEVEL", "INFO") or "INFO",
    )


def render_asterisk(config, settings: Settings, advisor_passwords: Mapping[str, str]) -> dict[str, str]:
    """The instance's etc/ files, rendered by the same code as the local install."""
    from ccpros_agi import routing
    from ccpros_agi.pbx.instance import InstanceSettings
    from ccpros_agi.platform import CEL_USER, asterisk_files

    instance = InstanceSettings(
        sip_port=settings.sip_port, ami_port=settings.ami_port, http_port=settings.http_port,
        agi_port=settings.agi_port, rtp_start=settings.rtp_start, rtp_end=settings.rtp_end,
        ami_user=settings.ami_user, ami_secret=settings.ami_secret, ari_user=settings.ari_user,
        ari_password=settings.ari_password, db_host=settings.db_host, db_port=settings.db_port,
        db_name=settings.db_name, db_user=CEL_USER, db_password=settings.cel_password,
        general_queue=routing.queue_name(config.general_topic), sip_bind=settings.sip_bind)
    files = asterisk_files(config, instance, settings.instance_dir, advisor_passwords)
    if "asterisk.conf" not in files or "dialplan_inbound.conf" not in files:
        # instance.py finds asterisk/etc and dialplan/ next to the ccpros_agi package (PROJECT_DIR):
        # in the image they are in /opt/ccpros, imported first through PYTHONPATH.
        raise SetupError("the static Asterisk config (asterisk/etc, dialplan/) was not found next to the "
                         "ccpros_agi package: is PYTHONPATH=/opt/ccpros set?")
    return files


def write_etc(etc: Path, files: Mapping[str, str]) -> None:
    """Write etc/ anew. etc/ is a volume mount point: its content is replaced, not the directory."""
    etc.mkdir(parents=True, exist_ok=True)
    for old in etc.iterdir():
        if old.is_file() or old.is_symlink():
            old.unlink()
    for name, text in files.items():
        path = etc / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(path, 0o640)   # group asterisk (set by the asterisk container's entrypoint) reads it


def prepare_database(settings: Settings) -> str:
    """Owner role, database, migrations, CEL writer; returns the owner's URL."""
    from ccpros_agi.platform import CEL_USER
    from ccpros_agi.store import migrate
    from ccpros_agi.store.pgcluster import ensure_database

    admin = settings.db_url(settings.db_admin_user, settings.db_admin_password, "postgres")
    ensure_database(admin, settings.db_name, settings.db_user, settings.db_password)
    url = settings.db_url(settings.db_user, settings.db_password, settings.db_name)
    migrate.upgrade(url)
    migrate.ensure_cel_writer(settings.db_url(settings.db_admin_user, settings.db_admin_password,
                                              settings.db_name),
                              CEL_USER, settings.cel_password, settings.db_name)
    return url


def setup(settings: Settings, *, database: bool = True, prompts: bool = True) -> None:
    from ccpros_agi.config import load_config
    from ccpros_agi.platform import make_sounds
    from ccpros_agi.runtime import Runtime
    from ccpros_agi.secrets import load_or_create_secrets

    config = load_config(settings.config_dir)                  # raises ConfigError: nothing written
    secrets = load_or_create_secrets(settings.state_dir / "secrets.yaml", config)
    files = render_asterisk(config, settings, secrets.advisor_passwords)
    url = prepare_database(settings) if database else settings.db_url(
        settings.db_user, settings.db_password, settings.db_name)
    host_dir = settings.instance_host_dir
    write_etc(host_dir / "etc", files)
    if prompts:
        make_sounds(config, host_dir / "sounds")
    Runtime(config_dir=str(settings.config_dir), database_url=url, agi_port=settings.agi_port,
            ami_port=settings.ami_port, ami_user=settings.ami_user, ami_secret=settings.ami_secret,
            http_port=settings.http_port, web_port=settings.web_port,
            sounds_dir=f"{settings.instance_dir}/sounds", log_level=settings.log_level,
            ).save(settings.runtime_file)


def main() -> int:
    from ccpros_agi.config import ConfigError
    from ccpros_agi.logging import configure_logging
    from ccpros_agi.secrets import SecretsError

    try:
        settings = settings_from_env(os.environ)
        configure_logging(settings.log_level)
        setup(settings)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("ccpros-setup: configuration INVALID, nothing written", file=sys.stderr)
        return 1
    except (SetupError, SecretsError) as exc:
        print(f"ccpros-setup: {exc}", file=sys.stderr)
        return 1
    print(f"ccpros-setup: done (Asterisk config in {settings.instance_dir}/etc, "
          f"runtime file {settings.runtime_file})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
