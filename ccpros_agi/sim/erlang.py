"""Erlang B, C and A formulas (standard library only, numerically stable).

Notation: ``servers`` advisors, ``arrival_rate`` calls per second, ``mean_handling_s`` mean
(exponential) handling time, ``mean_patience_s`` mean (exponential) patience. The offered load is
``a = arrival_rate × mean_handling_s`` erlangs.
"""

from __future__ import annotations

import math


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/N/N, by the stable recursion B(n) = a·B(n-1) / (n + a·B(n-1))."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be >= 0")
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability of waiting in M/M/N (1.0 when the load is at or above ``servers``)."""
    if load >= servers:
        return 1.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1.0 - b))


def erlang_c_service_level(servers: int, load: float, mean_handling_s: float, target_s: float) -> float:
    """Share of calls answered within ``target_s`` in M/M/N (FIFO): 1 - C·exp(-(N - a)·t / h)."""
    if load >= servers:
        return 0.0
    c = erlang_c(servers, load)
    return 1.0 - c * math.exp(-(servers - load) * target_s / mean_handling_s)


def erlang_c_mean_wait(servers: int, load: float, mean_handling_s: float) -> float:
    """Mean wait of all calls in M/M/N: C·h / (N - a)."""
    if load >= servers:
        return math.inf
    return erlang_c(servers, load) * mean_handling_s / (servers - load)


def _erlang_a_states(servers: int, arrival_rate: float, mean_handling_s: float,
                     mean_patience_s: float) -> list[float]:
    """Stationary distribution of the number of calls in M/M/N+M, truncated where it is negligible."""
    mu, theta = 1.0 / mean_handling_s, 1.0 / mean_patience_s
    # Unnormalised, scaled as we go (ratios only) to avoid overflow: p(n) = p(n-1)·λ / death(n).
    probs = [1.0]
    n = 0
    while True:
        n += 1
        death = min(n, servers) * mu + max(n - servers, 0) * theta
        probs.append(probs[-1] * arrival_rate / death)
        if probs[-1] > 1e250:
            probs = [p / 1e250 for p in probs]
        if n > servers and probs[-1] < 1e-16 * max(probs):
            break
    total = math.fsum(probs)
    return [p / total for p in probs]


def erlang_a(servers: int, arrival_rate: float, mean_handling_s: float, mean_patience_s: float,
             target_s: float = 60.0) -> dict[str, float]:
    """M/M/N+M (Erlang A): exponential patience, FIFO, the birth-death chain solved exactly.

    Returns ``p_wait`` (share of calls that wait, PASTA), ``p_abandon`` (share that hang up before
    being answered), ``answered_within`` (share of *offered* calls answered within ``target_s``),
    ``mean_queue`` (mean number waiting).
    The within-target share follows the tagged caller: at position k it moves forward at rate
    N·μ + (k-1)·θ and abandons at rate θ; the distribution of the time to be answered is computed by
    uniformization (Poisson weights in log space), which is stable for any load.
    """
    mu, theta = 1.0 / mean_handling_s, 1.0 / mean_patience_s
    pi = _erlang_a_states(servers, arrival_rate, mean_handling_s, mean_patience_s)
    p_wait = math.fsum(pi[servers:])
    mean_queue = math.fsum((n - servers) * p for n, p in enumerate(pi) if n > servers)
    p_abandon = theta * mean_queue / arrival_rate
    # Arriving caller finding n >= N in the system is at position k = n - N + 1.
    start = [0.0] + [pi[n] for n in range(servers, len(pi))]   # start[k], k >= 1
    kmax = len(start) - 1
    rate = servers * mu + kmax * theta                           # uniformization rate
    lam_t = rate * target_s
    p = start[:]
    served = 0.0
    answered = 0.0
    # Poisson(lam_t) weights; iterate until the remaining tail is negligible.
    log_w = -lam_t
    steps = int(lam_t + 12 * math.sqrt(lam_t + 1) + 30)
    cumulative_weight = 0.0
    for j in range(steps + 1):
        weight = math.exp(log_w)
        cumulative_weight += weight
        answered += weight * served
        # one uniformized jump
        new = [0.0] * (kmax + 1)
        for k in range(1, kmax + 1):
            pk = p[k]
            if pk == 0.0:
                continue
            forward = servers * mu + (k - 1) * theta
            out = forward + theta
            if k == 1:
                served += pk * forward / rate
            else:
                new[k - 1] += pk * forward / rate
            new[k] += pk * (1.0 - out / rate)
        p = new
        log_w += math.log(lam_t) - math.log(j + 1) if lam_t > 0 else -math.inf
    answered += (1.0 - cumulative_weight) * served  # tail (negligible)
    return {
        "p_wait": p_wait,
        "p_abandon": p_abandon,
        "answered_within": (1.0 - p_wait) + answered,
        "mean_queue": mean_queue,
    }
