"""Run the Alembic migrations of the call-record schema from Python (any cwd)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config

from .pgcluster import ensure_cel_writer, psycopg_url

__all__ = ["ALEMBIC_INI", "alembic_config", "upgrade", "downgrade", "upgrade_async", "ensure_cel_writer"]

log = structlog.get_logger(__name__)

#: The repository's alembic.ini (ccpros_agi/store/migrate.py -> repo root).
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(url: str) -> Config:
    """Alembic Config for ``url``; the URL travels in attributes, never in the ini."""
    if not ALEMBIC_INI.is_file():
        raise FileNotFoundError(f"alembic.ini not found at {ALEMBIC_INI}")
    cfg = Config(str(ALEMBIC_INI))
    cfg.attributes["url"] = psycopg_url(url)
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` on ``url``."""
    command.upgrade(alembic_config(url), revision)
    log.info("db_migrated", revision=revision)


def downgrade(url: str, revision: str = "base") -> None:
    """``alembic downgrade base`` (or ``revision``) on ``url``."""
    command.downgrade(alembic_config(url), revision)
    log.info("db_downgraded", revision=revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
