"""Discrete-event simulation of a day of calls, with the same overflow policy as the live system.

The queue discipline mirrors app_queue as configured (ADR 0003 and 0004):

- a call waits in ``q-<home>-<topic>`` (national calls: ``q-<topic>``); its *scope* (``ccpros_agi.overflow``)
  says which sites' advisors may take it; it only widens, and keeps its original arrival time;
- an advisor who becomes free takes, among the calls it may take (topic in its skills, its site in the
  call's scope), the one that arrived first;
- a call that arrives (or widens) while advisors are free goes to the longest-idle advisor of its home
  site (penalty 0), else to the longest-idle advisor of the other sites of its scope (penalty 1);
  national calls go to the longest-idle advisor anywhere;
- a caller hangs up when its patience runs out (then may call again: redial).

Decisions are taken by :func:`ccpros_agi.overflow.decide`: at arrival, at each timer of a timer policy
(:func:`ccpros_agi.overflow.next_check`), and for the state-based policy also whenever an advisor becomes
idle and every ``reevaluate_s`` seconds (the live system re-evaluates on AMI events and a short timer).
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate

from ccpros_agi import overflow
from ccpros_agi.overflow import Policy, Scope, WaitingCall
from ccpros_agi.sim.workload import Workload

_ARRIVAL, _END, _ABANDON, _CHECK, _TICK = range(5)
_HOME, _GROUP, _ALL = 0, 1, 2
_SCOPE_NAMES: tuple[Scope, ...] = ("home", "group", "all")


class Call:
    __slots__ = ("id", "arrival", "topic", "home", "scope", "handling", "patience", "live", "answered_at",
                 "answered_site", "abandoned_at", "widened_at", "redials")

    def __init__(self, id: int, arrival: float, topic: str, home: str | None, handling: float,
                 patience: float, redials: int = 0) -> None:
        self.id = id
        self.arrival = arrival
        self.topic = topic
        self.home = home
        self.scope = _ALL if home is None else _HOME
        self.handling = handling
        self.patience = patience
        self.live = True            # waiting
        self.answered_at: float | None = None
        self.answered_site: str | None = None
        self.abandoned_at: float | None = None
        self.widened_at: float | None = None
        self.redials = redials

    @property
    def wait(self) -> float | None:
        end = self.answered_at if self.answered_at is not None else self.abandoned_at
        return None if end is None else end - self.arrival


class _Advisor:
    __slots__ = ("index", "id", "site", "skills", "idle", "idle_since", "epoch")

    def __init__(self, index: int, id: str, site: str, skills: tuple[str, ...], idle_since: float) -> None:
        self.index = index
        self.id = id
        self.site = site
        self.skills = skills
        self.idle = True
        self.idle_since = idle_since
        self.epoch = 0


class _State:
    """The simulator's :class:`ccpros_agi.overflow.SiteState`."""

    def __init__(self, sim: Simulation) -> None:
        self._sim = sim

    def sites_in(self, home_site: str, scope: Scope) -> Iterable[str]:
        return overflow.sites_in_scope(self._sim.sites, self._sim.groups, home_site, scope)

    def idle(self, site: str, topic: str) -> int:
        return self._sim.idle_count.get((site, topic), 0)

    def staffed(self, site: str, topic: str) -> int:
        return self._sim.staffed.get((site, topic), 0)

    def waiting(self, site: str, topic: str) -> int:
        return self._sim.n_wait.get((site, topic), 0)

    def mean_handling_s(self, topic: str) -> float:
        return self._sim.mean_handling_s


@dataclass
class Stats:
    """Counters of one row of the report (a home site, the national number, or everything)."""

    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    wait_answered: float = 0.0
    cross_site: int = 0
    redials: int = 0

    def add(self, call: Call, target_s: float) -> None:
        self.offered += 1
        self.redials += call.redials > 0
        if call.answered_at is not None:
            wait = call.answered_at - call.arrival
            self.answered += 1
            self.wait_answered += wait
            self.answered_within += wait <= target_s
            self.cross_site += call.home is not None and call.answered_site != call.home
        elif call.abandoned_at is not None:
            self.abandoned += 1

    @property
    def answered_rate(self) -> float:
        return self.answered / self.offered if self.offered else 0.0

    @property
    def service_level(self) -> float:
        """Share of offered calls answered within the target (abandoned calls count as not answered)."""
        return self.answered_within / self.offered if self.offered else 0.0

    @property
    def mean_wait(self) -> float:
        """Mean wait of answered calls (seconds)."""
        return self.wait_answered / self.answered if self.answered else 0.0

    @property
    def cross_site_share(self) -> float:
        """Share of answered calls answered by an advisor of another site than the home site."""
        return self.cross_site / self.answered if self.answered else 0.0


@dataclass
class Report:
    workload: str
    policy: str
    seed: int
    target_s: float
    sites: dict[str, Stats]
    national_number: Stats
    total: Stats
    calls: list[Call] = field(repr=False, default_factory=list)

    def table(self) -> str:
        head = (f"{'site':<22} {'offered':>8} {'answered':>9} {f'<= {self.target_s:g} s':>8} "
                f"{'mean wait':>10} {'abandons':>9} {'other site':>11}")
        lines = [f"workload {self.workload} · policy {self.policy} · seed {self.seed}", head, "-" * len(head)]

        def row(name: str, s: Stats) -> str:
            return (f"{name:<22} {s.offered:>8} {s.answered_rate:>8.1%} {s.service_level:>8.1%} "
                    f"{s.mean_wait:>9.1f}s {s.abandoned:>9} {s.cross_site_share:>10.1%}")

        lines += [row(site, stats) for site, stats in self.sites.items()]
        if self.national_number.offered:
            lines.append(row("(national number)", self.national_number))
        lines.append("-" * len(head))
        lines.append(row("national", self.total))
        return "\n".join(lines)


class Simulation:
    """One run: ``Simulation(workload, policy, seed).run()`` -> :class:`Report`."""

    def __init__(self, workload: Workload, policy: Policy, seed: int = 0, reevaluate_s: float = 1.0,
                 keep_calls: bool = False) -> None:
        self.workload = workload
        self.policy = policy
        self.seed = seed
        self.reevaluate_s = reevaluate_s
        self.keep_calls = keep_calls
        self.sites = tuple(workload.sites)
        self.groups = dict(workload.groups)
        self.mean_handling_s = workload.handling.mean_s
        self.state = _State(self)
        self.state_based = isinstance(policy, overflow.StateBased)
        self.topics = tuple(workload.topics)

    # -- setup --------------------------------------------------------------------------------------------
    def _arrivals(self) -> list[tuple[float, str | None, str]]:
        rng = random.Random(f"{self.seed}:arrivals")
        topics = list(self.workload.topics)
        cumulative = list(accumulate(self.workload.topics[t] for t in topics))
        total = cumulative[-1]
        slot = self.workload.slot_s
        out = []
        for source in sorted(self.workload.rates, key=lambda s: (s is None, s or "")):
            for i, per_hour in enumerate(self.workload.rates[source]):
                if per_hour <= 0:
                    continue
                rate = per_hour / 3600.0
                t, end = i * slot, (i + 1) * slot
                while True:
                    t += rng.expovariate(rate)
                    if t >= end:
                        break
                    topic = topics[min(bisect(cumulative, rng.random() * total), len(topics) - 1)]
                    out.append((t, source, topic))
        out.sort(key=lambda a: a[0])
        return out

    def run(self) -> Report:
        wl = self.workload
        rng_handling = random.Random(f"{self.seed}:handling")
        rng_patience = random.Random(f"{self.seed}:patience")
        rng_redial = random.Random(f"{self.seed}:redial")
        rng_idle = random.Random(f"{self.seed}:idle")
        handling = wl.handling.sampler(rng_handling)
        patience = wl.patience.sampler(rng_patience) if wl.patience is not None else (lambda: float("inf"))
        policy, decide, state = self.policy, overflow.decide, self.state

        sites = self.sites
        topics = set(self.topics)
        for a in wl.advisors:
            topics |= a.skills
        keys = [(s, k) for s in sites for k in topics]
        self.home_q: dict[tuple[str, str], deque[Call]] = {key: deque() for key in keys}
        self.n_wait = {key: 0 for key in keys}
        self.wide_group: dict[tuple[str, str], list] = {key: [] for key in keys}
        self.wide_all: dict[tuple[str, str], list] = {key: [] for key in keys}
        self.nat_q: dict[str, deque[Call]] = {k: deque() for k in topics}
        self.idle_heap: dict[tuple[str, str], list] = {key: [] for key in keys}
        self.idle_count = {key: 0 for key in keys}
        self.staffed = {key: 0 for key in keys}
        group_of = self.groups
        mates = {s: tuple(o for o in sites if o != s and s in group_of and group_of.get(o) == group_of[s])
                 for s in sites}
        others = {s: tuple(o for o in sites if o != s) for s in sites}
        advisors = []
        for i, spec in enumerate(wl.advisors):
            if spec.site not in sites:
                continue
            adv = _Advisor(i, spec.id, spec.site, tuple(sorted(spec.skills)), -rng_idle.random())
            advisors.append(adv)
            for k in adv.skills:
                self.staffed[(adv.site, k)] += 1
                self.idle_count[(adv.site, k)] += 1
                heapq.heappush(self.idle_heap[(adv.site, k)], (adv.idle_since, adv.index, 0, adv))
        self.idle_total = len(advisors)

        events: list = []
        seq = 0
        calls: list[Call] = []
        for t, source, topic in self._arrivals():
            call = Call(len(calls), t, topic, source, handling(), patience())
            calls.append(call)
            events.append((t, seq, _ARRIVAL, call))
            seq += 1
        heapq.heapify(events)
        if self.state_based:
            heapq.heappush(events, (0.0, seq, _TICK, None))
            seq += 1
        end_of_day = wl.duration_s
        idle_heap, idle_count, home_q, n_wait = self.idle_heap, self.idle_count, self.home_q, self.n_wait
        wide_all, wide_group, nat_q = self.wide_all, self.wide_group, self.nat_q
        push, pop = heapq.heappush, heapq.heappop

        def peek_idle(site: str, k: str):
            heap = idle_heap[(site, k)]
            while heap:
                since, _, epoch, adv = heap[0]
                if adv.idle and adv.epoch == epoch:
                    return adv
                pop(heap)
            return None

        def start(call: Call, adv: _Advisor, now: float) -> None:
            nonlocal seq
            call.live = False
            call.answered_at = now
            call.answered_site = adv.site
            if call.home is not None:
                n_wait[(call.home, call.topic)] -= 1
            adv.idle = False
            adv.epoch += 1
            self.idle_total -= 1
            for k in adv.skills:
                idle_count[(adv.site, k)] -= 1
            push(events, (now + call.handling, seq, _END, adv))
            seq += 1

        def find_advisor(call: Call):
            """A free advisor for the call (home site first, then longest idle in its scope), or None."""
            k, home = call.topic, call.home
            if home is not None:
                adv = peek_idle(home, k)
                if adv is not None:
                    return adv
                if call.scope == _HOME:
                    return None
                candidates = mates[home] if call.scope == _GROUP else others[home]
            else:
                candidates = sites
            best = None
            for s in candidates:
                adv = peek_idle(s, k)
                if adv is not None and (best is None or adv.idle_since < best.idle_since):
                    best = adv
            return best

        def widen(call: Call, scope: Scope, now: float) -> None:
            rank = _SCOPE_NAMES.index(scope)
            if rank <= call.scope:
                return
            call.scope = rank
            if call.widened_at is None:
                call.widened_at = now
            key = (call.home, call.topic)
            push(wide_all[key] if rank == _ALL else wide_group[key], (call.arrival, call.id, call))

        def next_call(adv: _Advisor):
            """The earliest-arrived waiting call this advisor may take, or None (lazy cleanup of heads)."""
            best = None
            s = adv.site
            for k in adv.skills:
                q = home_q[(s, k)]
                while q and not q[0].live:
                    q.popleft()
                if q and (best is None or q[0].arrival < best.arrival):
                    best = q[0]
                q = nat_q[k]
                while q and not q[0].live:
                    q.popleft()
                if q and (best is None or q[0].arrival < best.arrival):
                    best = q[0]
                for h in others[s]:
                    heap = wide_all[(h, k)]
                    while heap and not heap[0][2].live:
                        pop(heap)
                    if heap and (best is None or heap[0][0] < best.arrival):
                        best = heap[0][2]
                for h in mates[s]:
                    heap = wide_group[(h, k)]
                    while heap and not heap[0][2].live:
                        pop(heap)
                    if heap and (best is None or heap[0][0] < best.arrival):
                        best = heap[0][2]
            return best

        def make_idle(adv: _Advisor, now: float) -> None:
            adv.idle = True
            adv.idle_since = now
            adv.epoch += 1
            self.idle_total += 1
            for k in adv.skills:
                idle_count[(adv.site, k)] += 1
                push(idle_heap[(adv.site, k)], (now, adv.index, adv.epoch, adv))

        def scan(now: float, topics_to_check: Iterable[str]) -> None:
            """State-based: widen waiting calls, earliest first, while the policy says so; a widened call
            goes to a free advisor of its new scope if there is one."""
            target_rank = _SCOPE_NAMES.index(policy.sites)
            need_idle = policy.require_idle
            for k in topics_to_check:
                skip: set[int] = set()
                while True:
                    best = None
                    for h in sites:
                        if n_wait[(h, k)] == 0 or idle_count[(h, k)] > 0:
                            continue
                        position = 0
                        for call in home_q[(h, k)]:
                            if not call.live:
                                continue
                            position += 1
                            if call.scope >= target_rank or call.id in skip:
                                continue
                            if best is not None and call.arrival >= best[0].arrival:
                                break
                            w = decide(policy, WaitingCall(call.arrival, k, h, _SCOPE_NAMES[call.scope],
                                                           position), state, now)
                            if w is not None:
                                best = (call, w)
                                break
                    if best is None:
                        break
                    call, w = best
                    widen(call, w.scope, now)
                    skip.add(call.id)
                    adv = find_advisor(call)
                    if adv is not None:
                        start(call, adv, now)
                    elif need_idle:
                        break

        def arrive(call: Call, now: float) -> None:
            nonlocal seq
            k, home = call.topic, call.home
            if home is None:
                nat_q[k].append(call)
            else:
                key = (home, k)
                home_q[key].append(call)
                n_wait[key] += 1
                first = overflow.initial_scope(policy, home)
                if first != "home":
                    widen(call, first, now)
                w = decide(policy, WaitingCall(call.arrival, k, home, _SCOPE_NAMES[call.scope], n_wait[key]),
                           state, now)
                if w is not None:
                    widen(call, w.scope, now)
            adv = find_advisor(call)
            if adv is not None:
                start(call, adv, now)
                return
            if call.patience != float("inf"):
                push(events, (now + call.patience, seq, _ABANDON, call))
                seq += 1
            schedule_check(call)

        def schedule_check(call: Call) -> None:
            nonlocal seq
            if call.home is None:
                return
            when = overflow.next_check(policy, WaitingCall(call.arrival, call.topic, call.home,
                                                           _SCOPE_NAMES[call.scope]))
            if when is not None:
                push(events, (when, seq, _CHECK, call))
                seq += 1

        redial = wl.redial
        while events:
            now, _, kind, obj = pop(events)
            if kind == _ARRIVAL:
                arrive(obj, now)
            elif kind == _END:
                adv = obj
                call = next_call(adv)
                if call is not None:
                    adv.idle_since = now
                    # still busy: hand over directly (idle counters unchanged)
                    call.live = False
                    call.answered_at = now
                    call.answered_site = adv.site
                    if call.home is not None:
                        n_wait[(call.home, call.topic)] -= 1
                    push(events, (now + call.handling, seq, _END, adv))
                    seq += 1
                else:
                    make_idle(adv, now)
                    if self.state_based:
                        scan(now, adv.skills)
            elif kind == _ABANDON:
                call = obj
                if call.live:
                    call.live = False
                    call.abandoned_at = now
                    if call.home is not None:
                        n_wait[(call.home, call.topic)] -= 1
                    if call.redials < redial.max and redial.probability > 0 and rng_redial.random() < redial.probability:
                        again = Call(len(calls), now + rng_redial.expovariate(1.0 / redial.mean_delay_s),
                                     call.topic, call.home, handling(), patience(), call.redials + 1)
                        calls.append(again)
                        push(events, (again.arrival, seq, _ARRIVAL, again))
                        seq += 1
            elif kind == _CHECK:
                call = obj
                if call.live:
                    position = sum(1 for c in home_q[(call.home, call.topic)] if c.live and c.arrival <= call.arrival)
                    w = decide(policy, WaitingCall(call.arrival, call.topic, call.home, _SCOPE_NAMES[call.scope],
                                                   position), state, now)
                    if w is not None:
                        widen(call, w.scope, now)
                        adv = find_advisor(call)
                        if adv is not None:
                            start(call, adv, now)
                    if call.live:
                        schedule_check(call)
            elif kind == _TICK:
                if self.idle_total or not policy.require_idle:
                    scan(now, self.topics)
                if now < end_of_day or any(n_wait.values()):
                    push(events, (now + self.reevaluate_s, seq, _TICK, None))
                    seq += 1
        return self._report(calls)

    def _report(self, calls: list[Call]) -> Report:
        target = self.workload.service_target_s
        per_site = {s: Stats() for s in self.sites}
        national, total = Stats(), Stats()
        for call in calls:
            (per_site[call.home] if call.home is not None else national).add(call, target)
            total.add(call, target)
        return Report(self.workload.name, self.policy.name, self.seed, target, per_site, national, total,
                      calls if self.keep_calls else [])


def simulate(workload: Workload, policy: Policy, seed: int = 0, **options) -> Report:
    """Run one simulated day; see :class:`Simulation`."""
    return Simulation(workload, policy, seed, **options).run()
