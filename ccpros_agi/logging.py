"""Structured logging for ccpros: one JSON line per event on stdout.

Call ``configure_logging()`` once at process start.  Every event carries
``timestamp`` (ISO 8601, UTC), ``level`` and ``event`` plus the bound keys.
Keys bound with ``structlog.contextvars.bind_contextvars`` (the FastAGI server
binds ``uniqueid`` and ``path`` per connection, handlers add ``linkedid``)
appear on every line logged from the same task, including lines from stdlib
``logging`` users (SQLAlchemy, aiohttp...), which are rendered the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog
from structlog.typing import Processor

__all__ = ["configure_logging", "get_logger"]


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level: {level!r}")
    return number


def configure_logging(level: str | int = "INFO", json: bool = True, *, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging through one handler writing to ``stream`` (default stdout).

    ``json=False`` gives human-readable console output for development.
    """
    number = _level_number(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[Processor]
    if json:
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer()]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Not cached: loggers made before configure_logging() (module level) follow a later call.
        cache_logger_on_first_use=False,
    )

    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(number)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger backed by the stdlib logger ``name`` (rendered as the ``logger`` key)."""
    return cast(structlog.stdlib.BoundLogger, structlog.get_logger(name))
