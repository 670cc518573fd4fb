"""Alembic environment of the ccpros call-record schema.

The database URL comes from, in order: ``config.attributes["url"]`` (set by
``ccpros_agi.store.migrate``), ``-x url=...`` on the command line, the
``CCPROS_DATABASE_URL`` environment variable. Never from alembic.ini.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from ccpros_agi.store.models import Base
from ccpros_agi.store.pgcluster import psycopg_url

config = context.config

# Programmatic callers keep their own logging configuration.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("CCPROS_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: use `alembic -x url=...` or set CCPROS_DATABASE_URL")
    return psycopg_url(url)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
