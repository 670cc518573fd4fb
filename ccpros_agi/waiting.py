"""Honest waiting information (issue 4): what a caller is told about their wait, from live state.

Pure: the caller (``ccpros_agi.agi.inbound``) observes the state, :func:`decide` says what to play.
Decision record: ``docs/decisions/0005-waiting-information.md``.

Who says what
-------------

- **Position**: app_queue says it, in French, at the moment the call joins its queue (its first
  position announcement is immediate), then when it has moved up (at most once a minute) or every two
  minutes (``announce-position=yes``, prompts :data:`QUEUE_PROMPTS`, see ``confgen.render_queues``).
  It is app_queue's own count, exact when said. The entry handler only *records* the position it
  observed (waiting callers + 1), the basis of its estimate.
- **Estimate**: said once, by the entry handler, just before the call joins the queue, and only when
  it can be defended (below). app_queue's own hold-time announcement is never used: it is a moving
  average of past waits, blind to the queue's length and to who is staffed now (ADR 0005).

The estimate: an upper bound, or nothing
----------------------------------------

The advisors who may answer the call form *pools*: the home site's advisors at once, and every advisor
of the queue once the call widens (after its topic's timer, or the safety-net rule of a state-based
topic). For one pool of ``staffed`` advisors (logged in, not paused, reachable), with every one busy,
an advisor frees up every ``h / staffed`` seconds on average (``h`` the mean handling time): the caller
is answered at the ``k``-th release, ``k`` = the callers to be served first plus this one:

- this call's position in its queue, plus **every caller waiting in the other queues these advisors
  serve** (app_queue does not serve queues that share advisors in arrival order: any of those callers
  may be answered first, so all are counted; this overestimates, the safe side), less the pool's
  advisors free now (each takes one of them at once).

With exponential handling times the wait is then Erlang(``k``, ``staffed / h``): its mean is
:func:`ccpros_agi.overflow.estimated_wait`, and we say its 90th percentile, rounded *up* to a minute
the caller can hear (1 to 10, then 15, 20, 25, 30), as "moins de N minutes". Talk times usually vary
less than exponential ones (the simulator's workloads: lognormal, coefficient of variation 0.66), so
the tail is overestimated too. The best (smallest) pool bound is said;
a widened pool's bound starts at its widening delay.

Nothing about time is said (``reason``):

- ``answered_at_once``: enough advisors are free for every caller who would be served first;
- ``nobody_staffed``: no advisor may answer the call (no basis for any estimate);
- ``too_long``: the bound is above :data:`MAX_MINUTES` (staffing and traffic change too much over such
  a wait for any model to hold);
- ``direct_offer``: a repeat caller first rings their last advisor, who is free (entry handler);
- ``no_state``: the live state could not be read (entry handler).

"Environ N minutes" (a mean) is never said: it is wrong half of the time by construction.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ccpros_agi.overflow import estimated_wait

# -- the model's parameters ---------------------------------------------------------------------------------
DEFAULT_HANDLING_S = 300.0     # mean handling time before any call of the day (the simulator's workloads' too)
PRIOR_CALLS = 5                # DEFAULT_HANDLING_S weighs like this many calls in the day's mean
CONFIDENCE = 0.9               # the bound said holds this often under the model
MAX_MINUTES = 30               # above: nothing about time
SAYABLE_MINUTES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30)

# -- prompts (synthesised by ccpros_agi.pbx.prompts; played from the instance's sounds directory) ---------
POSITION_FIRST = "wait-first"          # app_queue queue-youarenext
POSITION_BEFORE = "wait-position"      # app_queue queue-thereare, then the number (Asterisk's French digits)
POSITION_AFTER = "wait-in-line"        # app_queue queue-callswaiting


def estimate_prompt(minutes: int) -> str:
    """The prompt saying "less than ``minutes`` minutes" (one of :data:`SAYABLE_MINUTES`)."""
    if minutes not in SAYABLE_MINUTES:
        raise ValueError(f"{minutes} minutes cannot be said; use one of {SAYABLE_MINUTES}")
    return f"wait-under-{minutes}"


def _estimate_text(minutes: int) -> str:
    if minutes == 1:
        return "Votre attente est estimée à moins d'une minute."
    return f"Votre attente est estimée à moins de {minutes} minutes."


PROMPTS: dict[str, str] = {
    POSITION_FIRST: "Vous êtes le premier appelant dans la file d'attente.",
    POSITION_BEFORE: "Vous êtes en position",
    POSITION_AFTER: "dans la file d'attente.",
    **{estimate_prompt(m): _estimate_text(m) for m in SAYABLE_MINUTES},
}
"""Every waiting-information prompt, by name: the French text, exactly as synthesised."""

QUEUE_PROMPTS: dict[str, str] = {
    "queue-youarenext": POSITION_FIRST,
    "queue-thereare": POSITION_BEFORE,
    "queue-callswaiting": POSITION_AFTER,
}
"""app_queue's position announcement, sound by sound: "Vous êtes en position" <number> "dans la file
d'attente." (``ast_say_number`` in the channel's language between the two), or "Vous êtes le premier
appelant dans la file d'attente." for position 1."""


# -- what was observed --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    """Advisors who may answer the call from ``after_s`` seconds after it joins its queue on.

    - ``staffed``: logged in, not paused, reachable (their phone registered);
    - ``free``: of those, free now (not on a call, not ringing);
    - ``waiting_elsewhere``: callers waiting in the other queues these advisors serve;
    - ``after_s``: 0 for the advisors who may answer at once, the widening delay for the others.
    """

    staffed: int
    free: int = 0
    waiting_elsewhere: int = 0
    after_s: float = 0.0


@dataclass(frozen=True)
class Observed:
    """The live state at entry: the call's position in its queue (1 = next: the callers waiting there
    + 1), the pools of advisors that may answer it, and the mean handling time of their calls."""

    position: int
    pools: tuple[Pool, ...]
    handling_s: float


@dataclass(frozen=True)
class Announcement:
    """What the entry handler says (``prompts``, in order; empty: nothing) and why."""

    position: int
    reason: str                        # "estimate" or why nothing about time is said
    estimate_s: float | None = None    # the upper bound said, in seconds (minutes × 60)
    minutes: int | None = None
    bound_s: float | None = None       # the model's bound before rounding
    mean_s: float | None = None        # the model's mean wait, for the record
    prompts: tuple[str, ...] = ()

    def record(self) -> dict:
        """The call event's data (JSON)."""
        return {"position": self.position, "estimate_s": self.estimate_s, "minutes": self.minutes,
                "said": list(self.prompts), "reason": self.reason,
                "bound_s": None if self.bound_s is None else round(self.bound_s, 1),
                "mean_s": None if self.mean_s is None else round(self.mean_s, 1)}


# -- the decision -------------------------------------------------------------------------------------------
def decide(observed: Observed) -> Announcement:
    """What to tell the caller about their wait (see the module's docstring for the rules)."""
    position = max(observed.position, 1)
    staffed = [p for p in observed.pools if p.staffed > 0]
    if not staffed:
        return Announcement(position, "nobody_staffed")
    for pool in staffed:
        if pool.after_s <= 0 and _to_serve(position, pool) <= 0:
            return Announcement(position, "answered_at_once")
    bounds = [(_bound(position, pool, observed.handling_s), pool) for pool in staffed]
    bound, pool = min(bounds, key=lambda b: b[0])
    mean = pool.after_s + estimated_wait(max(_to_serve(position, pool), 0), observed.handling_s, pool.staffed)
    minutes = sayable_minutes(bound)
    if minutes is None:
        return Announcement(position, "too_long", bound_s=bound, mean_s=mean)
    return Announcement(position, "estimate", estimate_s=60.0 * minutes, minutes=minutes, bound_s=bound,
                        mean_s=mean, prompts=(estimate_prompt(minutes),))


def _to_serve(position: int, pool: Pool) -> int:
    """Callers this pool must serve up to and including this call. Advisors free now count only for
    the pool that may answer at once: a widened pool's are likely busy by the time it may answer."""
    free = pool.free if pool.after_s <= 0 else 0
    return position + max(pool.waiting_elsewhere, 0) - max(free, 0)


def _bound(position: int, pool: Pool, handling_s: float) -> float:
    k = _to_serve(position, pool)
    if k <= 0:
        return pool.after_s
    return pool.after_s + estimated_wait(k, handling_s, pool.staffed) * erlang_quantile(k, CONFIDENCE) / k


def sayable_minutes(seconds: float) -> int | None:
    """The smallest minute count the caller can hear that is >= ``seconds``; None above MAX_MINUTES."""
    if not math.isfinite(seconds):
        return None
    needed = max(1, math.ceil(seconds / 60.0 - 1e-9))
    return next((m for m in SAYABLE_MINUTES if m >= needed and m <= MAX_MINUTES), None)


def erlang_quantile(k: int, p: float) -> float:
    """The ``p``-quantile of the sum of ``k`` exponential variables of mean 1 (Erlang(k, 1)).

    Its CDF is ``1 - sum(e^-x x^n / n!, n < k)``; solved by bisection (monotone), to 1e-9."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if k == 1:
        return -math.log1p(-p)

    def cdf(x: float) -> float:
        log_x = math.log(x) if x > 0 else -math.inf
        below = sum(math.exp(n * log_x - math.lgamma(n + 1) - x) if x > 0 else float(n == 0) for n in range(k))
        return 1.0 - below

    low, high = 0.0, float(k)
    while cdf(high) < p:
        high *= 2.0
    while high - low > 1e-9 * max(1.0, high):
        mid = (low + high) / 2.0
        if cdf(mid) < p:
            low = mid
        else:
            high = mid
    return high


def mean_handling_s(talk_seconds: Iterable[float] | None = None, *, count: int = 0, total_s: float = 0.0,
                    default_s: float = DEFAULT_HANDLING_S, prior_calls: int = PRIOR_CALLS) -> float:
    """The day's mean handling time, pulled towards ``default_s`` while few calls are known: ``default_s``
    weighs like ``prior_calls`` calls (the first calls of the day do not swing the estimate).

    Either the talk times themselves, or their ``count`` and ``total_s``."""
    if talk_seconds is not None:
        values = [max(float(t), 0.0) for t in talk_seconds]
        count, total_s = len(values), sum(values)
    count = max(count, 0)
    if count + prior_calls <= 0:
        return default_s
    return (max(total_s, 0.0) + prior_calls * default_s) / (count + prior_calls)
