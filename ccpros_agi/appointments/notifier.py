"""The ``notifier`` service's loop: queue tomorrow's reminders, send what is due, sleep, again.

Several notifiers may run at once (``FOR UPDATE SKIP LOCKED`` gives each message to one of them);
see :mod:`ccpros_agi.store.appointments` for what "at least once, never twice" means exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import structlog

from ccpros_agi.store.appointments import AppointmentStore, Sender

log = structlog.get_logger("ccpros.appointments")

BATCH = 100  # messages sent per round at most (then reminders are looked at again)


@dataclass
class Round:
    reminders: int = 0
    sent: int = 0
    failed: int = 0


class Notifier:
    def __init__(self, store: AppointmentStore, send: Sender) -> None:
        self.store, self.send = store, send

    async def run_once(self, now: datetime | None = None) -> Round:
        """One round: reminders, then every due message (at most BATCH)."""
        result = Round(reminders=await self.store.queue_reminders(now))
        for _ in range(BATCH):
            outcome = await self.store.send_one(self.send, now)
            if outcome is None:
                break
            if outcome.sent:
                result.sent += 1
            else:
                result.failed += 1
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``poll_seconds`` until ``stop``; a database outage is logged and waited out."""
        poll = self.store.config.notifications.poll_seconds
        while not stop.is_set():
            try:
                result = await self.run_once()
                if result.sent or result.failed or result.reminders:
                    log.info("notifier_round", sent=result.sent, failed=result.failed,
                             reminders=result.reminders)
            except Exception:  # noqa: BLE001 - keep the service up (database restarting, ...)
                log.exception("notifier_round_failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll)
            except asyncio.TimeoutError:
                pass
