"""State-based overflow on the live platform (issue 4): Python decides, app_queue distributes.

A call whose topic has a ``state:T`` policy enters ``q-<home>-<topic>`` with QUEUE_MAX_PENALTY=0: only
its home site's advisors (penalty 0) may answer it. This part of the events service:

- follows the site queues of those topics from AMI events (QueueCallerJoin/Leave: who waits, in which
  order, since when) and the mean talk time of each topic (AgentComplete);
- while such calls wait, once a second, reads the advisors' state from the topic's national queue
  ``q-<topic>``, which every advisor of the topic joins at penalty 0 (QueueStatus: free, on a call,
  paused, unreachable), and asks :func:`ccpros_agi.overflow.widenings` (the simulator's policy code)
  which calls widen;
- widens a call by withdrawing it (QueueWithdrawCaller with WithdrawInfo ``widen:<position>``): the
  dialplan puts it back at once into the same queue, at the same position, without the penalty limit.
  Withdrawals in one queue are made one at a time, each waiting for the call to be back, so that the
  positions stay right. A widened call is never narrowed again.

If this service is down, calls stay with their home site (and the topic's safety net, "state:60,180",
widens them after 180 s through a queue rule): the call is never lost, only less well spread.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import structlog

from ccpros_agi.ami.client import AMIError, every
from ccpros_agi.ami.journey import event_time
from ccpros_agi.config import Config
from ccpros_agi.overflow import Snapshot, StateBased, WaitingCall, parse_policy, widenings
from ccpros_agi.routing import queue_name, site_queue_name

log = structlog.get_logger("ccpros.widening")

WITHDRAW_PREFIX = "widen:"
DEFAULT_HANDLING_S = 300.0
HANDLING_WEIGHT = 0.1          # weight of one finished call in a topic's mean talk time
REJOIN_TIMEOUT_S = 2.0
# AMI device states (QueueMember Status) of an advisor who is not reachable at all
_UNREACHABLE = {"4", "5"}      # AST_DEVICE_INVALID, AST_DEVICE_UNAVAILABLE


@dataclass
class Waiter:
    """A call waiting in a watched site queue."""

    uniqueid: str
    linkedid: str
    channel: str
    queue: str
    site: str
    topic: str
    joined: float                 # first entry into the queue (epoch seconds): kept when it widens
    widened: bool = False
    rejoined: asyncio.Event = field(default_factory=asyncio.Event)


def advisors_state(members: list[Mapping[str, str]], site_of: Callable[[str], str | None],
                   topic: str) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(idle, staffed) counts by (site, topic) from the QueueMember events of ``q-<topic>``.

    Staffed: logged in, not paused, reachable. Idle: staffed and free (device not in use, not in a
    queue call)."""
    idle: dict[tuple[str, str], int] = {}
    staffed: dict[tuple[str, str], int] = {}
    for member in members:
        if member.get("Event") != "QueueMember" or member.get("Paused") == "1":
            continue
        # QueueStatus names a member "Name"/"Location" (events say "MemberName"/"Interface")
        site = site_of(member.get("Name") or (member.get("Location") or "").removeprefix("PJSIP/"))
        if site is None or member.get("Status") in _UNREACHABLE:
            continue
        key = (site, topic)
        staffed[key] = staffed.get(key, 0) + 1
        if member.get("Status") == "1" and member.get("InCall", "0") == "0":
            idle[key] = idle.get(key, 0) + 1
    return idle, staffed


class Widener:
    def __init__(self, ami, store, config: Config, *, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.ami, self.store = ami, store
        self.interval_s, self.clock = interval_s, clock
        self.sites = tuple(s.id for s in config.sites)
        self.site_of = {a.id: a.site for a in config.advisors}.get
        self.policies: dict[str, StateBased] = {}
        for topic in config.topics:
            policy = parse_policy(topic.overflow)
            if isinstance(policy, StateBased):
                self.policies[topic.id] = policy
        # the site queues to follow, and every queue's topic (for talk times)
        self.watched = {site_queue_name(s, t): (s, t) for t in self.policies for s in self.sites}
        self.topic_of = {queue_name(t.id): t.id for t in config.topics}
        self.topic_of.update({site_queue_name(s, t.id): t.id for t in config.topics for s in self.sites})
        self.lines: dict[str, list[Waiter]] = {q: [] for q in self.watched}
        self.waiters: dict[str, Waiter] = {}
        self.handling: dict[str, float] = {}
        self._session = 0

    # --- what happens in the queues (AMI events, in order) ------------------------------------------
    async def on_event(self, event: Mapping[str, str]) -> None:
        kind = event.get("Event")
        if kind == "AgentComplete":
            self._learn_handling(event)
            return
        if kind not in ("QueueCallerJoin", "QueueCallerLeave") or event.get("Queue") not in self.watched:
            return
        queue, uniqueid = event["Queue"], event.get("Uniqueid", "")
        line = self.lines[queue]
        if kind == "QueueCallerLeave":
            line[:] = [w for w in line if w.uniqueid != uniqueid]
            return
        waiter = self.waiters.get(uniqueid)
        if waiter is None:
            site, topic = self.watched[queue]
            waiter = Waiter(uniqueid, event.get("Linkedid") or uniqueid, event.get("Channel", ""), queue, site,
                            topic, event_time(event).timestamp())
            self.waiters[uniqueid] = waiter
        line[:] = [w for w in line if w.uniqueid != uniqueid]
        line.insert(max(_int(event.get("Position"), len(line) + 1) - 1, 0), waiter)
        waiter.rejoined.set()

    def _learn_handling(self, event: Mapping[str, str]) -> None:
        topic = self.topic_of.get(event.get("Queue", ""))
        talk = _int(event.get("TalkTime"), -1)
        if topic is None or talk < 0:
            return
        previous = self.handling.get(topic, DEFAULT_HANDLING_S)
        self.handling[topic] = (1 - HANDLING_WEIGHT) * previous + HANDLING_WEIGHT * talk

    # --- the decisions ------------------------------------------------------------------------------------
    async def run(self) -> None:
        await every(self.interval_s, self.tick, "widening")

    async def tick(self) -> None:
        if not self.policies or not self.ami.connected.is_set():
            return
        if self._session != self.ami.sessions:     # (re)connected: what we followed may be stale
            await self.resync()
        self._forget_gone()
        for topic, policy in self.policies.items():
            lines = {q: line for q, line in self.lines.items()
                     if self.watched[q][1] == topic and any(not w.widened for w in line)}
            if not lines:
                continue
            members = await self.ami.collect("QueueStatus", Queue=queue_name(topic))
            idle, staffed = advisors_state(members, self.site_of, topic)
            state = Snapshot(self.sites, idle, staffed,
                             {self.watched[q]: len(line) for q, line in self.lines.items()},
                             handling={topic: self.handling.get(topic, DEFAULT_HANDLING_S)})
            await asyncio.gather(*(self._widen_line(policy, line, state) for line in lines.values()))

    async def _widen_line(self, policy: StateBased, line: list[Waiter], state: Snapshot) -> None:
        now = self.clock()
        waiting = list(line)
        calls = [WaitingCall(w.joined, w.topic, w.site, "all" if w.widened else "home") for w in waiting]
        for waiter, decision in zip(waiting, widenings(policy, calls, state, now)):
            if decision is not None:
                await self.widen(waiter, decision.reason, now, state)

    async def widen(self, waiter: Waiter, reason: str, now: float, state: Snapshot) -> bool:
        """Withdraw the call and let the dialplan put it back at its position, every site allowed."""
        if waiter not in self.lines[waiter.queue]:
            return False                                     # answered or gone in the meantime
        position = self.lines[waiter.queue].index(waiter) + 1
        waiter.widened = True
        waiter.rejoined.clear()
        with structlog.contextvars.bound_contextvars(linkedid=waiter.linkedid):
            try:
                reply = await self.ami.action("QueueWithdrawCaller", Queue=waiter.queue, Caller=waiter.channel,
                                              WithdrawInfo=f"{WITHDRAW_PREFIX}{position}")
            except AMIError as exc:
                log.warning("widen_failed", error=str(exc))
                waiter.widened = False
                return False
            if reply.get("Response") != "Success":
                # being connected to an advisor or hung up: nothing to widen
                log.info("widen_refused", message=reply.get("Message"))
                return False
            try:
                await asyncio.wait_for(waiter.rejoined.wait(), REJOIN_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("widen_not_rejoined", queue=waiter.queue)   # hung up meanwhile: forgotten
                waiter.rejoined.set()
            waited = round(now - waiter.joined, 1)
            idle_elsewhere = sum(n for (s, _), n in state.idle_counts.items() if s != waiter.site)
            log.info("call_widened", queue=waiter.queue, position=position, waited_s=waited, reason=reason,
                     idle_elsewhere=idle_elsewhere)
            try:
                await self.store.update_call(waiter.linkedid, widen_after_s=waited)
                await self.store.add_event(waiter.linkedid, _utc(now), "ami", "widened", {
                    "queue": waiter.queue, "position": position, "waited_s": waited, "reason": reason,
                    "idle_elsewhere": idle_elsewhere,
                    "estimated_handling_s": round(state.mean_handling_s(waiter.topic), 1)})
            except Exception:
                log.exception("record_failed", write="widened")
        return True

    async def resync(self) -> None:
        """Rebuild the waiting lines from Asterisk (after a reconnection or at start)."""
        session = self.ami.sessions
        for queue in self.lines:
            entries = await self.ami.collect("QueueStatus", Queue=queue)
            line: list[Waiter] = []
            site, topic = self.watched[queue]
            for entry in sorted((e for e in entries if e.get("Event") == "QueueEntry"),
                                key=lambda e: _int(e.get("Position"), 0)):
                uniqueid = entry.get("Uniqueid", "")
                waiter = self.waiters.get(uniqueid) or Waiter(
                    uniqueid, entry.get("Linkedid") or uniqueid, entry.get("Channel", ""), queue, site, topic,
                    self.clock() - _int(entry.get("Wait"), 0))
                self.waiters[uniqueid] = waiter
                line.append(waiter)
            self.lines[queue] = line
        self._session = session
        log.info("widening_resynced", waiting=sum(len(line) for line in self.lines.values()))

    def _forget_gone(self) -> None:
        """Calls no longer in any line and not being widened are finished."""
        present = {w.uniqueid for line in self.lines.values() for w in line}
        for uniqueid, waiter in list(self.waiters.items()):
            if uniqueid not in present and waiter.rejoined.is_set():
                del self.waiters[uniqueid]


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or "")
    except ValueError:
        return default


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)
