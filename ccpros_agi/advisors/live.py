"""The live view of the platform in the events service: advisors' states (recorded in PostgreSQL) and
the calls waiting in each queue, from AMI events; what the supervisors' wallboard shows.

Wired in ccpros_agi.services next to the Journey: :meth:`Live.on_event` gets every AMI event (after the
Journey wrote it); :meth:`Live.run` resyncs from QueueStatus when the AMI (re)connects, ends wrap-ups and
refreshes today's figures. Subscribers (the wallboard's server-sent events) wait on :meth:`Live.changed`.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from ccpros_agi.ami.client import AMIError
from ccpros_agi.ami.journey import event_time
from ccpros_agi.config import Config
from ccpros_agi.routing import direct_queue_name, queue_name, site_queue_name

from .states import STATES, AdvisorStates, Change, day_bounds
from .store import AdvisorStore

log = structlog.get_logger("ccpros.advisors")

SERVICE_LEVEL_S = 60          # service level: share of the queue calls answered within this wait
_QUEUE_EVENTS = {"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberStatus",
                 "AgentConnect", "AgentComplete"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Live:
    def __init__(self, config: Config, store: AdvisorStore | None, ami=None, *,
                 service_level_s: int = SERVICE_LEVEL_S) -> None:
        self.config, self.store, self.ami = config, store, ami
        self.service_level_s = service_level_s
        self.states = AdvisorStates(a.id for a in config.advisors)
        # queue -> (topic id or None, site id or None)
        self.queues: dict[str, tuple[str | None, str | None]] = {}
        for t in config.topics:
            self.queues[queue_name(t.id)] = (t.id, None)
            for s in config.sites:
                self.queues[site_queue_name(s.id, t.id)] = (t.id, s.id)
        for a in config.advisors:
            self.queues[direct_queue_name(a.id)] = (None, a.site)
        self.waiting: dict[str, dict[str, datetime]] = {}      # queue -> uniqueid -> since
        self.first_seen: dict[str, datetime] = {}              # uniqueid -> first queue join (kept on re-queue)
        self.today: dict[str, int] = {"answered": 0, "abandoned": 0, "within_sl": 0}
        self._changed = asyncio.Event()
        self._writes: asyncio.Queue[list[Change]] = asyncio.Queue()
        self._session = 0
        self._refresh_today = asyncio.Event()

    # --- subscribers -------------------------------------------------------------------------------
    async def changed(self, timeout: float) -> bool:
        """Wait for the next change (True) or ``timeout`` seconds (False)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- events ------------------------------------------------------------------------------------
    async def on_event(self, event: Mapping[str, str]) -> None:
        kind = event.get("Event", "")
        at = event_time(event)
        if kind in _QUEUE_EVENTS:
            self._changes(self.states.on_event(event, at))
        if kind == "QueueCallerJoin":
            uid = event.get("Uniqueid", "")
            since = self.first_seen.setdefault(uid, at)
            self.waiting.setdefault(event.get("Queue", ""), {})[uid] = since
            self._notify()
        elif kind == "QueueCallerLeave":
            self.waiting.get(event.get("Queue", ""), {}).pop(event.get("Uniqueid", ""), None)
            self._notify()
        elif kind == "Hangup":
            uid = event.get("Uniqueid", "")
            self.first_seen.pop(uid, None)
            for line in self.waiting.values():
                line.pop(uid, None)
        if kind in ("AgentConnect", "QueueCallerAbandon", "Hangup"):
            self._refresh_today.set()

    def _changes(self, changes: list[Change]) -> None:
        if changes:
            self._writes.put_nowait(changes)
            self._notify()

    # --- background ---------------------------------------------------------------------------------
    async def run(self, interval_s: float = 1.0) -> None:
        writer = asyncio.create_task(self._write_loop(), name="advisor-states-writer")
        today = asyncio.create_task(self._today_loop(), name="advisor-today")
        try:
            while True:
                try:
                    if self.ami is not None and self.ami.connected.is_set() and self._session != self.ami.sessions:
                        await self.resync()
                    self._changes(self.states.tick(datetime.now(timezone.utc)))
                except AMIError as exc:
                    log.warning("live_resync_failed", error=str(exc))
                except Exception:
                    log.exception("live_tick_failed")
                await asyncio.sleep(interval_s)
        finally:
            writer.cancel()
            today.cancel()

    async def resync(self) -> None:
        """Rebuild memberships and waiting calls from QueueStatus (at start, after a reconnection)."""
        session = self.ami.sessions
        items = await self.ami.collect("QueueStatus")
        now = datetime.now(timezone.utc)
        self.states.reset(now)
        waiting: dict[str, dict[str, datetime]] = {}
        for item in items:
            if item.get("Event") == "QueueMember":
                self.states.on_event(item, now)
            elif item.get("Event") == "QueueEntry":
                uid = item.get("Uniqueid", "")
                try:
                    wait = float(item.get("Wait") or 0)
                except ValueError:
                    wait = 0.0
                since = self.first_seen.setdefault(uid, datetime.fromtimestamp(now.timestamp() - wait, timezone.utc))
                waiting.setdefault(item.get("Queue", ""), {})[uid] = since
        self.waiting = waiting
        self._changes(self.states.settle(now))
        self._session = session
        self._refresh_today.set()
        self._notify()
        log.info("live_resynced", members=sum(1 for i in items if i.get("Event") == "QueueMember"),
                 waiting=sum(len(w) for w in waiting.values()))

    async def _write_loop(self) -> None:
        while True:
            changes = await self._writes.get()
            while not self._writes.empty():
                changes = changes + self._writes.get_nowait()
            if self.store is None:
                continue
            for attempt in range(3):
                try:
                    await self.store.record(changes)
                    break
                except Exception as exc:       # the database briefly down: retry, then log and go on
                    log.warning("advisor_states_not_recorded", error=str(exc), attempt=attempt + 1)
                    await asyncio.sleep(1 + attempt)

    async def _today_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._refresh_today.wait(), 30)
            except asyncio.TimeoutError:
                pass
            self._refresh_today.clear()
            await asyncio.sleep(0.3)         # let the journey finish writing the call
            if self.store is None:
                continue
            try:
                start, _, _ = day_bounds(datetime.now(ZoneInfo(self.config.timezone)).date(),
                                         self.config.timezone)
                today = await self.store.today_calls(start, self.service_level_s)
            except Exception as exc:
                log.warning("today_figures_failed", error=str(exc))
                continue
            if today != self.today:
                self.today = today
                self._notify()

    # --- what the wallboard shows --------------------------------------------------------------------
    def snapshot(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(timezone.utc)
        queues = []
        by_site: dict[str, dict[str, Any]] = {}
        by_topic: dict[str, dict[str, Any]] = {}
        national: dict[str, Any] = {"waiting": 0, "oldest_since": None}
        seen: dict[str, datetime] = {}
        for queue, line in sorted(self.waiting.items()):
            if not line:
                continue
            topic, site = self.queues.get(queue, (None, None))
            oldest = min(line.values())
            queues.append({"queue": queue, "topic": topic, "site": site, "waiting": len(line),
                           "oldest_since": _iso(oldest), "longest_wait_s": round((now - oldest).total_seconds())})
            for uid, since in line.items():
                seen[uid] = min(since, seen.get(uid, since))
                for key, table in ((site or "national", by_site), (topic or "direct", by_topic)):
                    entry = table.setdefault(key, {"waiting": 0, "oldest_since": None})
                    entry["waiting"] += 1
                    entry["oldest_since"] = _iso(min(since, datetime.fromisoformat(entry["oldest_since"]))
                                                 if entry["oldest_since"] else since)
        if seen:
            oldest = min(seen.values())
            national = {"waiting": len(seen), "oldest_since": _iso(oldest),
                        "longest_wait_s": round((now - oldest).total_seconds())}
        advisors = []
        counts: dict[str, dict[str, int]] = {"national": {s: 0 for s in STATES}}
        current = self.states.current()
        for a in self.config.advisors:
            state, reason, since = current[a.id]
            advisors.append({"id": a.id, "name": a.name, "site": a.site, "state": state, "reason": reason,
                             "since": _iso(since)})
            counts["national"][state] += 1
            counts.setdefault(a.site, {s: 0 for s in STATES})[state] += 1
        offered = self.today["answered"] + self.today["abandoned"]
        today = {**self.today, "offered": offered, "service_level_s": self.service_level_s,
                 "answered_rate": round(self.today["answered"] / offered, 3) if offered else None,
                 "service_level": round(self.today["within_sl"] / offered, 3) if offered else None}
        return {"now": _iso(now), "waiting": national, "queues": queues, "by_site": by_site, "by_topic": by_topic,
                "advisors": advisors, "counts": counts, "today": today}
