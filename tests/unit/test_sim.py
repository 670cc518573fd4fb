"""Simulator (ccpros_agi.sim): Erlang formulas, agreement with them, pooling, determinism, workload files."""

import math
from pathlib import Path

import pytest

from ccpros_agi.config import load_config
from ccpros_agi.overflow import Pooled, SeparateSites, StateBased, Tier, TimerOverflow
from ccpros_agi.sim.engine import simulate
from ccpros_agi.sim.erlang import erlang_a, erlang_b, erlang_c, erlang_c_mean_wait, erlang_c_service_level
from ccpros_agi.sim.workload import Distribution, Workload, generated_staffing, load_workload

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 0.015
HOURS = 120


# --- formulas ---------------------------------------------------------------------------------------------
def test_erlang_b_and_c_known_values():
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)           # M/M/1: rho
    assert erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-5)
    assert erlang_c(2, 2.0) == 1.0
    assert erlang_c_mean_wait(1, 0.5, 60) == pytest.approx(60.0)   # M/M/1: rho/(1-rho)·h
    # M/M/1: P(W <= t) = 1 - rho·exp(-(1-rho)·t/h)
    assert erlang_c_service_level(1, 0.5, 60, 60) == pytest.approx(1 - 0.5 * math.exp(-0.5))
    # large systems stay finite and sensible
    assert 0 < erlang_c(2000, 1950.0) < 1


def test_erlang_a_with_patience_equal_to_handling_is_mm_infinity():
    # theta = mu: the number in system is Poisson(a); P(wait) = P(N >= servers)
    a, n = 9.0, 10
    result = erlang_a(n, a / 60, 60, 60, target_s=60)
    tail = 1 - sum(math.exp(-a) * a ** k / math.factorial(k) for k in range(n))
    assert result["p_wait"] == pytest.approx(tail, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_without_abandonment():
    result = erlang_a(10, 8 / 60, 60, 1e9, target_s=20)
    assert result["p_wait"] == pytest.approx(erlang_c(10, 8.0), abs=1e-6)
    assert result["answered_within"] == pytest.approx(erlang_c_service_level(10, 8.0, 60, 20), abs=1e-6)
    assert result["p_abandon"] < 1e-6


def test_erlang_a_overloaded_is_stable():
    result = erlang_a(430, 5521 / 3600, 300, 240, target_s=60)
    assert 0.9 < result["answered_within"] < 0.96
    assert 0 < result["p_abandon"] < 0.1


# --- the simulator against them ------------------------------------------------------------------------------
def one_site(per_hour, servers, patience=None, hours=HOURS):
    return Workload(sites=("a",), rates={"a": [per_hour] * 4 * hours},
                    advisors=generated_staffing(["a"], servers, ["x"]), topics={"x": 1.0},
                    handling=Distribution("exponential", 60.0),
                    patience=Distribution("exponential", patience) if patience else None)


def waited_share(report):
    return sum(1 for c in report.calls if c.answered_at is not None and c.answered_at > c.arrival
               or c.abandoned_at is not None) / len(report.calls)


def test_one_site_agrees_with_erlang_c():
    report = simulate(one_site(480, 10), SeparateSites(), seed=1, keep_calls=True)   # a = 8 erlangs
    assert report.total.answered_rate == 1.0
    assert waited_share(report) == pytest.approx(erlang_c(10, 8.0), abs=TOLERANCE)
    assert report.total.service_level == pytest.approx(erlang_c_service_level(10, 8.0, 60, 60), abs=TOLERANCE)


def test_one_site_agrees_with_erlang_a():
    report = simulate(one_site(540, 10, patience=60), SeparateSites(), seed=2, keep_calls=True)  # a = 9
    expected = erlang_a(10, 9 / 60, 60, 60, target_s=60)
    assert waited_share(report) == pytest.approx(expected["p_wait"], abs=TOLERANCE)
    assert report.total.abandoned / report.total.offered == pytest.approx(expected["p_abandon"], abs=TOLERANCE)
    assert report.total.service_level == pytest.approx(expected["answered_within"], abs=TOLERANCE)


def three_sites(hours=HOURS):
    sites = ("a", "b", "c")
    per_hour = {"a": 250.0, "b": 190.0, "c": 136.0}          # 576 calls/h, h = 60 s: 9.6 erlangs
    return Workload(sites=sites, rates={s: [per_hour[s]] * 4 * hours for s in sites},
                    advisors=generated_staffing(sites, 4, ["x"]), topics={"x": 1.0},
                    handling=Distribution("exponential", 60.0))


def test_pooled_sites_behave_like_one_big_site():
    report = simulate(three_sites(), Pooled(), seed=3)
    assert report.total.service_level == pytest.approx(erlang_c_service_level(12, 9.6, 60, 60), abs=TOLERANCE)
    # separate sites: site a alone is overloaded (250/h on 4 advisors of 60/h... 4.17 erlangs > 4)
    separate = simulate(three_sites(hours=20), SeparateSites(), seed=3)
    assert separate.total.cross_site == 0
    assert separate.sites["a"].service_level < report.total.service_level - 0.2


def test_overflow_policies_order_on_an_imbalanced_load():
    wl = three_sites(hours=20)
    wl.patience = Distribution("exponential", 120.0)
    separate = simulate(wl, SeparateSites(), seed=4).total
    timer = simulate(wl, TimerOverflow((Tier(15, "all"),)), seed=4).total
    state = simulate(wl, StateBased(30), seed=4).total
    pooled = simulate(wl, Pooled(), seed=4).total
    assert separate.service_level < state.service_level <= pooled.service_level + 0.01
    assert separate.service_level < timer.service_level
    assert 0 < state.cross_site_share < pooled.cross_site_share
    assert 0 < timer.cross_site_share < pooled.cross_site_share


def test_same_seed_same_day_other_seed_other_day():
    wl = three_sites(hours=4)
    first = simulate(wl, StateBased(20), seed=7, keep_calls=True)
    again = simulate(wl, StateBased(20), seed=7, keep_calls=True)
    other = simulate(wl, StateBased(20), seed=8, keep_calls=True)
    assert [(c.arrival, c.answered_at, c.answered_site) for c in first.calls] == \
        [(c.arrival, c.answered_at, c.answered_site) for c in again.calls]
    assert first.table() == again.table()
    assert first.total.offered != other.total.offered or first.table() != other.table()


def test_widened_calls_keep_their_place_and_home_advisors_are_preferred():
    wl = three_sites(hours=10)
    report = simulate(wl, TimerOverflow((Tier(0, "all"),)), seed=5, keep_calls=True)
    answered = [c for c in report.calls if c.answered_at is not None]
    # with one skill and every call widened at once, calls are answered in order of arrival
    waiting = [c for c in answered if c.answered_at > c.arrival]
    order = sorted(waiting, key=lambda c: c.answered_at)
    inversions = sum(1 for x, y in zip(order, order[1:]) if y.arrival < x.arrival)
    assert inversions == 0
    # calls answered at once go home when a home advisor is free
    at_once = [c for c in answered if c.answered_at == c.arrival]
    assert sum(c.answered_site == c.home for c in at_once) / len(at_once) > 0.6


def test_redials_and_workload_file(tmp_path):
    config = load_config(ROOT / "config")
    path = tmp_path / "day.yaml"
    path.write_text(
        "name: demo\nslot_minutes: 15\nprofile: [40, 60, 60, 40]\n"
        "site_scale: {pau: 2.0}\ntopics: {tva: 0.5, conseiller: 0.5}\n"
        "handling: {distribution: lognormal, mean_s: 300, sigma: 0.6}\n"
        "patience: {distribution: exponential, mean_s: 60}\n"
        "redial: {probability: 0.5, mean_delay_s: 120}\nstaffing: config\n", encoding="utf-8")
    wl = load_workload(path, config)
    assert len(wl.advisors) == len(config.advisors)
    assert wl.rates["pau"][1] == 120.0
    report = simulate(wl, StateBased(30), seed=1)
    assert report.total.redials > 0
    assert report.total.offered == sum(s.offered for s in report.sites.values())
    assert "national" in report.table()


def test_benchmark_workloads_load():
    config = load_config(ROOT / "config")
    for path in sorted((ROOT / "benchmarks" / "overflow" / "workloads").glob("*.yaml")):
        wl = load_workload(path, config)
        assert len(wl.advisors) == 430
        assert wl.expected_calls() > 1000
