"""Async access to the call record (``calls``, ``call_events``, ``cel``).

Every write is a single SQL statement, so the FastAGI app and the AMI listener
can work on the same call concurrently without locks of their own.
All datetimes must be timezone-aware.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .models import CALLER_RAW_MAX, Call, CallEvent, Cel
from .pgcluster import psycopg_url

log = structlog.get_logger(__name__)

calls = Call.__table__
call_events = CallEvent.__table__
cel = Cel.__table__

#: Columns that update_call / set_if_null may set.
UPDATABLE_COLUMNS = frozenset(c.name for c in calls.columns) - {"id", "linkedid", "updated_at"}


def decide_outcome(row: Mapping[str, Any]) -> str:
    """Final outcome of a call from its row (the rule finish_call applies in SQL).

    - an outcome already decided (anything but ``in_progress``, typically
      ``closed`` set while the office is closed) is kept;
    - else ``answered`` if ``answered_at`` is set;
    - else ``abandoned_queue`` if ``queued_at`` is set (hung up while waiting);
    - else ``abandoned_menu`` if ``menu_at`` is set (hung up in the menu);
    - else ``failed`` (never reached the menu).
    """
    if row["outcome"] != "in_progress":
        return str(row["outcome"])
    if row.get("answered_at") is not None:
        return "answered"
    if row.get("queued_at") is not None:
        return "abandoned_queue"
    if row.get("menu_at") is not None:
        return "abandoned_menu"
    return "failed"


#: SQL twin of decide_outcome, evaluated on the row being updated.
OUTCOME_SQL = case(
    (calls.c.outcome != "in_progress", calls.c.outcome),
    (calls.c.answered_at.is_not(None), literal("answered")),
    (calls.c.queued_at.is_not(None), literal("abandoned_queue")),
    (calls.c.menu_at.is_not(None), literal("abandoned_menu")),
    else_=literal("failed"),
)


def _json_dumps(obj: Any) -> str:
    """JSON for ``call_events.data``; datetimes and other objects become strings."""
    return json.dumps(obj, default=lambda o: o.isoformat() if isinstance(o, datetime) else str(o))


def _check_aware(name: str, value: Any) -> None:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"unknown or read-only call column(s): {', '.join(sorted(unknown))}")
    out = dict(fields)
    for name, value in out.items():
        _check_aware(name, value)
    if isinstance(out.get("caller_raw"), str):
        out["caller_raw"] = out["caller_raw"][:CALLER_RAW_MAX]
    return out


class CallStore:
    """Repository of call records on an AsyncEngine (``postgresql+psycopg``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def connect(cls, url: str, **engine_kwargs: Any) -> CallStore:
        """Store on a new engine (``await CallStore.connect(url)``).

        Connections are opened lazily (the database may be down at start-up);
        sessions use TimeZone=UTC so datetimes come back in UTC.
        """
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine_kwargs.setdefault("connect_args", {"options": "-c TimeZone=UTC"})
        engine_kwargs.setdefault("json_serializer", _json_dumps)
        return cls(create_async_engine(psycopg_url(url), **engine_kwargs))

    async def close(self) -> None:
        await self.engine.dispose()

    # -- writes --------------------------------------------------------------
    async def ensure_call(
        self,
        linkedid: str,
        *,
        arrived_at: datetime,
        called_number: str | None = None,
        caller_raw: str | None = None,
        caller_number: str | None = None,
        entry_kind: str | None = None,
    ) -> None:
        """Create the call row, or complete it: only NULL/default columns are filled,
        arrived_at keeps the earliest value. Idempotent and race-safe."""
        _check_aware("arrived_at", arrived_at)
        if caller_raw is not None:
            caller_raw = caller_raw[:CALLER_RAW_MAX]
        stmt = insert(calls).values(
            linkedid=linkedid,
            arrived_at=arrived_at,
            called_number=called_number,
            caller_raw=caller_raw,
            caller_number=caller_number,
            entry_kind=entry_kind or "unknown",
        )
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=[calls.c.linkedid],
            set_={
                "arrived_at": func.least(calls.c.arrived_at, new.arrived_at),
                "called_number": func.coalesce(calls.c.called_number, new.called_number),
                "caller_raw": func.coalesce(calls.c.caller_raw, new.caller_raw),
                "caller_number": func.coalesce(calls.c.caller_number, new.caller_number),
                "entry_kind": case(
                    (calls.c.entry_kind == "unknown", new.entry_kind), else_=calls.c.entry_kind
                ),
                "updated_at": func.now(),
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def update_call(self, linkedid: str, /, **fields: Any) -> None:
        """Set the given columns (and updated_at). ValueError on an unknown column."""
        values = _clean_fields(fields)
        if not values:
            return
        stmt = update(calls).where(calls.c.linkedid == linkedid).values(**values, updated_at=func.now())
        async with self.engine.begin() as conn:
            res = await conn.execute(stmt)
        if res.rowcount == 0:
            log.warning("call_not_found", linkedid=linkedid, op="update_call")

    async def set_if_null(self, linkedid: str, /, **fields: Any) -> None:
        """Set each given column only where it is still NULL (first-time timestamps)."""
        values = _clean_fields(fields)
        if not values:
            return
        cols = [calls.c[name] for name in values]
        stmt = (
            update(calls)
            .where(calls.c.linkedid == linkedid)
            .where(func.num_nulls(*cols) > 0)
            .values(
                {name: func.coalesce(calls.c[name], value) for name, value in values.items()}
                | {"updated_at": func.now()}
            )
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def add_event(
        self, linkedid: str, at: datetime, source: str, kind: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Append to the call's timeline (the call row must exist)."""
        _check_aware("at", at)
        stmt = call_events.insert().values(
            linkedid=linkedid, at=at, source=source, kind=kind, data=dict(data or {})
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def finish_call(
        self, linkedid: str, *, ended_at: datetime, hangup_cause: str | None = None
    ) -> str:
        """Set ended_at/hangup_cause (if NULL) and decide the final outcome once, in SQL.

        Returns the outcome; a second call changes nothing and returns the same.
        LookupError if the call does not exist.
        """
        _check_aware("ended_at", ended_at)
        changes = [calls.c.outcome == "in_progress", calls.c.ended_at.is_(None)]
        if hangup_cause is not None:
            changes.append(calls.c.hangup_cause.is_(None))
        stmt = (
            update(calls)
            .where(calls.c.linkedid == linkedid)
            .values(
                ended_at=func.coalesce(calls.c.ended_at, ended_at),
                hangup_cause=func.coalesce(calls.c.hangup_cause, hangup_cause),
                outcome=OUTCOME_SQL,
                updated_at=case((or_(*changes), func.now()), else_=calls.c.updated_at),
            )
            .returning(calls.c.outcome)
        )
        async with self.engine.begin() as conn:
            outcome = (await conn.execute(stmt)).scalar_one_or_none()
        if outcome is None:
            raise LookupError(f"no call with linkedid {linkedid!r}")
        log.info("call_finished", linkedid=linkedid, outcome=outcome)
        return str(outcome)

    # -- reads ---------------------------------------------------------------
    async def get_call(self, linkedid: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.linkedid == linkedid))).mappings().first()
        return dict(row) if row is not None else None

    async def call_events(self, linkedid: str) -> list[dict[str, Any]]:
        stmt = (
            select(call_events)
            .where(call_events.c.linkedid == linkedid)
            .order_by(call_events.c.at, call_events.c.id)
        )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def recent_calls(self, limit: int = 50) -> list[dict[str, Any]]:
        stmt = select(calls).order_by(calls.c.arrived_at.desc(), calls.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def count_cel(self, linkedid: str) -> int:
        stmt = select(func.count()).select_from(cel).where(cel.c.linkedid == linkedid)
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())
