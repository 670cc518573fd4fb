"""Async access to the call record (``calls``, ``call_events``, ``cel``).

Every write is a single SQL statement, so the FastAGI app and the AMI listener
can work on the same call concurrently without locks of their own.
All datetimes must be timezone-aware.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, case, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .models import CALLER_RAW_MAX, Call, CallEvent, Cel
from .pgcluster import psycopg_url

log = structlog.get_logger(__name__)

calls = Call.__table__
call_events = CallEvent.__table__
cel = Cel.__table__

#: Columns that update_call / set_if_null may set (every column of the model but these three).
UPDATABLE_COLUMNS = frozenset(c.name for c in calls.columns) - {"id", "linkedid", "updated_at"}

#: Columns of each previous contact returned by previous_contacts / call_context.
CONTACT_COLUMNS = ("linkedid", "arrived_at", "outcome", "topic", "office_id", "home_site", "advisor_id", "site_id")

#: Columns of the live call returned by call_context (plus ``previous_contacts``).
CONTEXT_COLUMNS = (
    "linkedid", "caller_number", "caller_name", "called_number", "entry_kind", "office_id", "topic",
    "home_site", "covering_site", "queue", "advisor_id", "site_id", "outcome", "arrived_at",
    "answered_at", "misdirected",
)

#: How many previous contacts call_context returns at most.
CONTEXT_HISTORY_LIMIT = 20

#: Columns holding text from the trunk, cut to CALLER_RAW_MAX characters.
_BOUNDED_COLUMNS = ("caller_raw", "caller_name")


def decide_outcome(row: Mapping[str, Any]) -> str:
    """Final outcome of a call from its row (the rule finish_call applies in SQL).

    - an outcome already decided by the app before the hangup (anything but
      ``in_progress``: ``closed`` while the platform is closed, ``misdirected``
      for a private individual, ``office_line`` for an uncovered office) is kept;
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
    for name in _BOUNDED_COLUMNS:
        if isinstance(out.get(name), str):
            out[name] = out[name][:CALLER_RAW_MAX]
    return out


def contacts_query(
    caller_number: str,
    *,
    since: datetime,
    exclude: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 20,
) -> Select[Any]:
    """SELECT of a caller number's calls since ``since``, newest first, without the call
    ``exclude`` and, with ``before=(arrived_at, id)``, only calls older than that one
    (same instant: inserted before it, ids follow insertion)."""
    stmt = (
        select(*(calls.c[name] for name in CONTACT_COLUMNS))
        .where(calls.c.caller_number == caller_number, calls.c.arrived_at >= since)
        .order_by(calls.c.arrived_at.desc(), calls.c.id.desc())
        .limit(max(0, limit))
    )
    if exclude is not None:
        stmt = stmt.where(calls.c.linkedid != exclude)
    if before is not None:
        stmt = stmt.where(tuple_(calls.c.arrived_at, calls.c.id) < tuple_(*before))
    return stmt


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

    async def previous_contacts(
        self,
        caller_number: str,
        *,
        since: datetime,
        before_linkedid: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """The caller's earlier calls, newest first (index ``(caller_number, arrived_at)``).

        Calls that arrived at or after ``since``; with ``before_linkedid``, that call and every
        call that arrived after it are left out (an unknown ``before_linkedid`` is only left out).
        Each contact has the columns of :data:`CONTACT_COLUMNS`.
        """
        _check_aware("since", since)
        async with self.engine.connect() as conn:
            before = None
            if before_linkedid is not None:
                found = (
                    await conn.execute(
                        select(calls.c.arrived_at, calls.c.id).where(calls.c.linkedid == before_linkedid)
                    )
                ).first()
                before = tuple(found) if found is not None else None
            return await self._previous_contacts(
                conn, caller_number, since=since, exclude=before_linkedid, before=before, limit=limit
            )

    @staticmethod
    async def _previous_contacts(
        conn: AsyncConnection,
        caller_number: str,
        *,
        since: datetime,
        exclude: str | None,
        before: tuple[datetime, int] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        stmt = contacts_query(caller_number, since=since, exclude=exclude, before=before, limit=limit)
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]

    async def call_context(self, linkedid: str, *, history_days: int, now: datetime) -> dict[str, Any] | None:
        """What an advisor needs about a live call: the call (:data:`CONTEXT_COLUMNS`) and the
        caller number's ``previous_contacts`` over the ``history_days`` days before ``now``
        (``[]`` when the caller number is unknown). None for an unknown call."""
        _check_aware("now", now)
        if history_days < 0:
            raise ValueError("history_days must be >= 0")
        stmt = select(*(calls.c[c] for c in (*CONTEXT_COLUMNS, "id"))).where(calls.c.linkedid == linkedid)
        async with self.engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
            if row is None:
                return None
            contacts: list[dict[str, Any]] = []
            if row["caller_number"] is not None:
                contacts = await self._previous_contacts(
                    conn,
                    row["caller_number"],
                    since=now - timedelta(days=history_days),
                    exclude=linkedid,
                    before=(row["arrived_at"], row["id"]),
                    limit=CONTEXT_HISTORY_LIMIT,
                )
        return {name: row[name] for name in CONTEXT_COLUMNS} | {"previous_contacts": contacts}
