"""Cross-site overflow policy as pure functions (issue 4), shared by the simulator and the live system.

A waiting call has a *scope*: the sites whose advisors may answer it.

- ``"home"``: its home site only (advisors of the office's covering site, penalty 0 in
  ``q-<site>-<topic>``);
- ``"group"``: the sites of its home site's group (a group is a set of sites; without groups, a site is
  alone in its group and ``"group"`` is the same as ``"home"``);
- ``"all"``: every site (home-site advisors are still preferred when several are free: penalty 0
  against penalty 1).

Scopes only widen: a call is never narrowed again, and it keeps its place (its original arrival time).
Calls to the national number have no home site: their scope is ``"all"`` from the start.

The policies:

- :class:`SeparateSites`: never widen (each site on its own; the lower bound);
- :class:`TimerOverflow`: widen after fixed waits (``Tier(15, "all")``: every site after 15 s), what
  every existing product does;
- :class:`StateBased`: widen as soon as the home site cannot answer the caller soon *and* an advisor
  with the skill is idle at a site the call would widen to;
- :class:`Pooled`: every site from the start (one big queue: the upper bound, no locality).

The one decision function is :func:`decide`; :func:`initial_scope` gives the scope at entry and
:func:`next_check` when a timer policy must be asked again. No I/O, no clock: callers pass ``now``
(seconds, any origin shared with ``WaitingCall.arrival``) and the state they observed (live: AMI queue
and device state; simulator: its own state).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

Scope = Literal["home", "group", "all"]
SCOPES: tuple[Scope, ...] = ("home", "group", "all")
_RANK = {s: i for i, s in enumerate(SCOPES)}
_EPSILON = 1e-6


def scope_rank(scope: Scope) -> int:
    """0 for "home", 1 for "group", 2 for "all" (a wider scope has a higher rank)."""
    return _RANK[scope]


# --- policies -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tier:
    """Widen the call to ``sites`` once it has waited ``after_seconds``."""

    after_seconds: float
    sites: Scope


@dataclass(frozen=True)
class SeparateSites:
    """Never overflow: a call is answered by its home site or not at all."""

    name: str = "separate"


@dataclass(frozen=True)
class Pooled:
    """Every site from the start: the fully pooled limit (home-site advisors still preferred when free)."""

    name: str = "pooled"


@dataclass(frozen=True)
class TimerOverflow:
    """Fixed tiers: e.g. ``(Tier(10, "group"), Tier(30, "all"))``."""

    tiers: tuple[Tier, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError("TimerOverflow needs at least one tier")
        if any(t.after_seconds < 0 for t in self.tiers):
            raise ValueError("a tier's after_seconds must be >= 0")
        if not self.name:
            label = "+".join(f"{t.sites}@{t.after_seconds:g}s" for t in self.tiers)
            object.__setattr__(self, "name", f"timer {label}")


@dataclass(frozen=True)
class StateBased:
    """Widen to ``sites`` when the home site cannot answer the caller soon and someone is idle there.

    - ``wait_threshold_s``: the call widens when the wait it will have had when its home site answers it
      (time already waited + :func:`estimated_wait` from its position) is above this threshold;
    - ``sites``: the scope it widens to ("group" or "all");
    - ``min_wait_s``: never widen before the caller has waited this long (0: from entry);
    - ``fallback_after_s``: widen regardless of state after this wait (None: never), a safety net for
      when the state is unknown or stale.

    Widening also needs another site of the new scope that can answer sooner than the home site:

    - ``require_idle=True`` (the default, issue 4's rule): an advisor with the skill idle there;
      overflowing when nobody is free elsewhere would only make remote calls compete with local ones;
    - ``require_idle=False``: an advisor idle there *or* its estimated wait for a new call shorter than the
      caller's remaining estimated wait at home. The widened call then keeps its place (its arrival time)
      in the other sites' queues, so their advisors take it before their own later callers: the
      late-at-home calls are pooled, the others stay home.
    """

    wait_threshold_s: float
    sites: Scope = "all"
    min_wait_s: float = 0.0
    fallback_after_s: float | None = None
    require_idle: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if self.sites == "home":
            raise ValueError('StateBased.sites must be "group" or "all"')
        if not self.name:
            mode = "" if self.require_idle else " (idle or sooner)"
            object.__setattr__(self, "name", f"state {self.wait_threshold_s:g}s{mode}")


Policy = SeparateSites | Pooled | TimerOverflow | StateBased


def parse_policy(text: str) -> Policy:
    """Policy from a short name: ``separate``, ``pooled``, ``timer:15`` (all sites after 15 s),
    ``timer:10/group,30/all``, ``state:60`` (threshold 60 s, all sites, needs an idle advisor elsewhere), ``state:60/group``,
    ``state+:20`` (threshold 20 s, an idle advisor or a shorter estimated wait elsewhere), ``state:60,180``
    (and every site after 180 s whatever the state: the safety net when the state is not known)."""
    text = text.strip().lower()
    if text in ("separate", "none"):
        return SeparateSites()
    if text in ("pooled", "pool"):
        return Pooled()
    kind, _, arg = text.partition(":")
    try:
        if kind == "timer" and arg:
            tiers = []
            for part in arg.split(","):
                after, _, sites = part.partition("/")
                tiers.append(Tier(float(after), _scope(sites or "all")))
            return TimerOverflow(tuple(tiers), name=f"timer {arg}s" if "," not in arg else f"timer {arg}")
        if kind in ("state", "state+") and arg:
            arg, _, fallback = arg.partition(",")
            threshold, _, sites = arg.partition("/")
            return StateBased(float(threshold), _scope(sites or "all"), require_idle=kind == "state",
                              fallback_after_s=float(fallback) if fallback else None)
    except ValueError as exc:
        raise ValueError(f"policy {text!r}: {exc}") from None
    raise ValueError(f"unknown policy {text!r}: use separate, pooled, timer:SECONDS or state:SECONDS")


def _scope(text: str) -> Scope:
    if text not in SCOPES:
        raise ValueError(f"unknown scope {text!r} (home, group or all)")
    return text  # type: ignore[return-value]


# --- what the policy looks at -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WaitingCall:
    """A call waiting for an advisor.

    - ``arrival``: when it entered the queue (seconds); kept when it widens: it keeps its place;
    - ``topic``: the topic chosen in the menu;
    - ``home_site``: the office's covering site, or None for the national number;
    - ``scope``: the sites that may answer it now;
    - ``position``: 1-based position among the calls waiting for its home site and topic (Asterisk's
      queue position in ``q-<site>-<topic>``).
    """

    arrival: float
    topic: str
    home_site: str | None
    scope: Scope = "home"
    position: int = 1


@dataclass(frozen=True)
class Widening:
    """The decision: widen the call to ``scope`` (always wider than its current scope)."""

    scope: Scope
    reason: str   # "pooled" | "timer" | "state" | "fallback"


class SiteState(Protocol):
    """What the policy needs to know of the platform at decision time."""

    def sites_in(self, home_site: str, scope: Scope) -> Iterable[str]:
        """The sites of ``scope`` seen from ``home_site`` (home site included)."""

    def idle(self, site: str, topic: str) -> int:
        """Advisors of ``site`` logged in, with the skill ``topic``, free now (not on a call, not paused)."""

    def staffed(self, site: str, topic: str) -> int:
        """Advisors of ``site`` logged in with the skill ``topic`` (free, on a call or about to be)."""

    def waiting(self, site: str, topic: str) -> int:
        """Calls of home site ``site`` and topic ``topic`` waiting now."""

    def mean_handling_s(self, topic: str) -> float:
        """Mean handling time of the topic's calls (seconds), e.g. from the day's finished calls."""


@dataclass(frozen=True)
class Snapshot:
    """A :class:`SiteState` from plain data (the live system's AMI view, tests).

    ``idle`` and ``staffed`` map ``(site, topic)`` to counts (missing: 0); ``groups`` maps a site to its
    group's name (missing: the site is alone); ``handling`` maps a topic to its mean handling time
    (missing: ``default_handling_s``).
    """

    sites: tuple[str, ...]
    idle_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    staffed_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    waiting_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    handling: Mapping[str, float] = field(default_factory=dict)
    default_handling_s: float = 300.0

    def sites_in(self, home_site: str, scope: Scope) -> Iterable[str]:
        return sites_in_scope(self.sites, self.groups, home_site, scope)

    def idle(self, site: str, topic: str) -> int:
        return self.idle_counts.get((site, topic), 0)

    def staffed(self, site: str, topic: str) -> int:
        return self.staffed_counts.get((site, topic), 0)

    def waiting(self, site: str, topic: str) -> int:
        return self.waiting_counts.get((site, topic), 0)

    def mean_handling_s(self, topic: str) -> float:
        return self.handling.get(topic, self.default_handling_s)


def sites_in_scope(sites: Iterable[str], groups: Mapping[str, str], home_site: str,
                   scope: Scope) -> tuple[str, ...]:
    """The sites of ``scope`` seen from ``home_site``: itself, its group (``groups``: site -> group name;
    a site without a group is alone in it), or every site."""
    if scope == "home":
        return (home_site,)
    if scope == "all":
        return tuple(sites)
    group = groups.get(home_site)
    if group is None:
        return (home_site,)
    return tuple(s for s in sites if s == home_site or groups.get(s) == group)


def estimated_wait(position: int, mean_handling_s: float, staffed: int) -> float:
    """Estimated remaining wait of the caller at ``position`` (1 = next) when ``staffed`` advisors answer
    the queue and a call lasts ``mean_handling_s`` on average: ``position × mean_handling_s / staffed``.

    With every advisor busy, an advisor frees up every ``mean_handling_s / staffed`` seconds on average
    (exponential handling times), and the caller is answered at the ``position``-th. It overestimates
    when advisors are free (then the wait is 0: the caller would not be waiting) and ignores abandons
    ahead (which shorten the wait). ``math.inf`` when nobody is staffed.
    """
    if staffed <= 0:
        return math.inf
    return max(position, 0) * mean_handling_s / staffed


# --- decisions ---------------------------------------------------------------------------------------------
def initial_scope(policy: Policy, home_site: str | None) -> Scope:
    """The scope of a call entering the queue: "all" for the national number and the pooled policy,
    else "home" (a zero-second tier or a state-based decision widens it at once through :func:`decide`)."""
    if home_site is None or isinstance(policy, Pooled):
        return "all"
    return "home"


def next_check(policy: Policy, call: WaitingCall) -> float | None:
    """When a timer must ask :func:`decide` again for this call (absolute time), or None.

    For :class:`TimerOverflow`, the next tier that would widen the call; for :class:`StateBased`, its
    fallback (state-based decisions are also asked again whenever the state changes).
    """
    if isinstance(policy, TimerOverflow):
        times = [call.arrival + t.after_seconds for t in policy.tiers if scope_rank(t.sites) > scope_rank(call.scope)]
        return min(times) if times else None
    if isinstance(policy, StateBased) and policy.fallback_after_s is not None:
        if scope_rank(policy.sites) > scope_rank(call.scope):
            return call.arrival + policy.fallback_after_s
    return None


def decide(policy: Policy, call: WaitingCall, state: SiteState, now: float) -> Widening | None:
    """Should ``call`` widen now? A :class:`Widening` to a wider scope, or None (stay as it is).

    Never narrows: the answer is always None or a scope wider than ``call.scope``. National calls
    (no home site) are already "all".
    """
    current = scope_rank(call.scope)
    if call.home_site is None or current == scope_rank("all"):
        return None
    waited = now - call.arrival + _EPSILON  # a check scheduled at arrival + T must see T reached
    if isinstance(policy, SeparateSites):
        return None
    if isinstance(policy, Pooled):
        return Widening("all", "pooled")
    if isinstance(policy, TimerOverflow):
        reached = [t.sites for t in policy.tiers if t.after_seconds <= waited]
        widest = max(reached, key=scope_rank, default=None)
        if widest is not None and scope_rank(widest) > current:
            return Widening(widest, "timer")
        return None
    if isinstance(policy, StateBased):
        if scope_rank(policy.sites) <= current:
            return None
        if policy.fallback_after_s is not None and waited >= policy.fallback_after_s:
            return Widening(policy.sites, "fallback")
        if waited < policy.min_wait_s:
            return None
        home, topic = call.home_site, call.topic
        remaining = estimated_wait(call.position, state.mean_handling_s(topic), state.staffed(home, topic))
        if state.idle(home, topic) > 0 or waited + remaining <= policy.wait_threshold_s:
            return None  # the home site will answer soon enough
        handling = state.mean_handling_s(topic)
        for site in state.sites_in(home, policy.sites):
            if site == home:
                continue
            if state.idle(site, topic) > 0:
                return Widening(policy.sites, "state")
            if not policy.require_idle and estimated_wait(
                    state.waiting(site, topic) + 1, handling, state.staffed(site, topic)) < remaining:
                return Widening(policy.sites, "state")
        return None
    raise TypeError(f"unknown policy {policy!r}")


def widenings(policy: Policy, line: Sequence[WaitingCall], state: Snapshot, now: float) -> list[Widening | None]:
    """Which calls of one home queue widen now: ``line`` is the queue in order (position 1 first), the
    answer has one entry per call (None: stays as it is).

    Calls are asked in order, and each widening is counted against the state the next call sees: with
    ``require_idle``, a widened call takes an idle advisor elsewhere (the next call no longer counts it).
    When a call widens, every call ahead of it widens too: app_queue serves a queue's callers in order,
    and a call ahead that could not take the remote advisor would block the widened call behind it
    (and it has waited longer: widening it is never worse for it).
    """
    idle = dict(state.idle_counts)
    out: list[Widening | None] = [None] * len(line)
    done = 0                                     # calls before this index are decided
    for i, call in enumerate(line):
        w = decide(policy, replace(call, position=i + 1), replace(state, idle_counts=idle), now)
        if w is None:
            continue
        for j in range(done, i + 1):
            if scope_rank(line[j].scope) >= scope_rank(w.scope):
                continue
            out[j] = w if j == i else Widening(w.scope, "ahead")
            _take_idle(idle, state, line[j], w.scope)
        done = i + 1
    return out


def _take_idle(idle: dict[tuple[str, str], int], state: Snapshot, call: WaitingCall, scope: Scope) -> None:
    """A widened call will take an idle advisor of another site, if there is one (the one with most)."""
    if call.home_site is None:
        return
    others = [s for s in state.sites_in(call.home_site, scope)
              if s != call.home_site and idle.get((s, call.topic), 0) > 0]
    if others:
        site = max(others, key=lambda s: idle[(s, call.topic)])
        idle[(site, call.topic)] -= 1
