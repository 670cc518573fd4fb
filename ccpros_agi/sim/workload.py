"""Workload of a simulated day: arrivals, topic mix, handling, patience, redials, staffing.

A workload file (YAML or JSON)::

    name: imbalanced-peak
    slot_minutes: 15                 # length of a rate slot
    profile: [400, 480, 552, 552]     # calls per hour *per site* in each slot (or per-site 'rates')
    site_scale: [1.3, 1.23, ...]      # optional: factor per site (list in site order, or {site: factor})
    rates: {pau: [..], morlaix: [..]} # optional instead of profile: calls per hour per slot per site
    national_share: 0.0               # share of extra calls to the national number (no home site)
    topics: {tva: 0.4, conseiller: 0.6}       # topic mix (weights); default: the general topic only
    handling: {distribution: lognormal, mean_s: 300, sigma: 0.6}   # or exponential, or constant
    patience: {distribution: exponential, mean_s: 240}             # or null: nobody hangs up
    redial: {probability: 0.3, mean_delay_s: 300, max: 2}          # optional: abandoned callers call back
    groups: {sud: [pau, cahors], ...}  # optional site groups (scope "group")
    staffing: config                   # the configuration's advisors, or:
    staffing: {per_site: 43, skills: all}         # generated: 43 advisors per site with every topic
    staffing: {per_site: {pau: 40, ...}, skills: {tva: 0.5}}  # share of advisors having each topic
    sites: [pau, morlaix]              # optional: restrict to these sites (default: the config's)

Rates are piecewise constant per slot: arrivals are a non-homogeneous Poisson process.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Distribution:
    """``exponential`` (mean_s), ``lognormal`` (mean_s and sigma of the underlying normal), ``constant``."""

    kind: str
    mean_s: float
    sigma: float = 0.0

    def sampler(self, rng: random.Random):
        if self.kind == "exponential":
            rate = 1.0 / self.mean_s
            return lambda: rng.expovariate(rate)
        if self.kind == "lognormal":
            mu = math.log(self.mean_s) - self.sigma ** 2 / 2.0   # so that the mean is mean_s
            sigma = self.sigma
            return lambda: rng.lognormvariate(mu, sigma)
        if self.kind == "constant":
            value = self.mean_s
            return lambda: value
        raise ValueError(f"unknown distribution {self.kind!r}")


@dataclass(frozen=True)
class Redial:
    probability: float = 0.0
    mean_delay_s: float = 300.0
    max: int = 2


@dataclass(frozen=True)
class AdvisorSpec:
    id: str
    site: str
    skills: frozenset[str]


@dataclass
class Workload:
    """Everything the simulator needs; build it directly (tests) or with :func:`load_workload`."""

    sites: tuple[str, ...]
    rates: Mapping[str | None, Sequence[float]]   # calls per hour per slot; key None: national number
    advisors: tuple[AdvisorSpec, ...]
    topics: Mapping[str, float]                   # topic mix (weights)
    handling: Distribution
    patience: Distribution | None = None          # None: nobody abandons
    redial: Redial = field(default_factory=Redial)
    slot_s: float = 900.0
    groups: Mapping[str, str] = field(default_factory=dict)   # site -> group name
    name: str = "workload"
    service_target_s: float = 60.0

    @property
    def duration_s(self) -> float:
        return self.slot_s * max((len(r) for r in self.rates.values()), default=0)

    def expected_calls(self) -> float:
        return sum(sum(r) * self.slot_s / 3600.0 for r in self.rates.values())


def _distribution(data: Any, where: str) -> Distribution | None:
    if data is None:
        return None
    if isinstance(data, (int, float)):
        return Distribution("exponential", float(data))
    kind = data.get("distribution", "exponential")
    if "mean_s" not in data:
        raise ValueError(f"{where}: mean_s is required")
    return Distribution(kind, float(data["mean_s"]), float(data.get("sigma", 0.0)))


def generated_staffing(sites: Sequence[str], per_site: int | Mapping[str, int], topics: Sequence[str],
                       skills: str | Mapping[str, float] = "all", seed: int = 0) -> tuple[AdvisorSpec, ...]:
    """``per_site`` advisors per site; each has every topic (``skills="all"``) or each topic with the given
    probability (at least one)."""
    rng = random.Random(seed)
    advisors = []
    for site in sites:
        count = per_site if isinstance(per_site, int) else int(per_site.get(site, 0))
        for i in range(count):
            if skills == "all":
                own = frozenset(topics)
            else:
                own = frozenset(t for t in topics if rng.random() < float(skills.get(t, 1.0))) or frozenset(topics[:1])
            advisors.append(AdvisorSpec(f"{site}-{i + 1:02d}", site, own))
    return tuple(advisors)


def load_workload(path: str | Path, config: Any | None = None) -> Workload:
    """Read a workload file; ``config`` (a :class:`ccpros_agi.config.Config`) gives the sites, topics and,
    with ``staffing: config``, the advisors and their skills (``config.advisor_topics``)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    where = str(path)
    config_sites = tuple(s.id for s in config.sites) if config is not None else ()
    sites = tuple(data.get("sites") or config_sites)
    if not sites:
        raise ValueError(f"{where}: no sites (give 'sites' or a configuration)")
    if "rates" in data:
        rates: dict[str | None, list[float]] = {s: [float(x) for x in data["rates"][s]] for s in data["rates"]}
        unknown = set(rates) - set(sites)
        if unknown:
            raise ValueError(f"{where}: rates for unknown sites {sorted(unknown)}")
    else:
        profile = [float(x) for x in data["profile"]]
        scale = data.get("site_scale", 1.0)
        if isinstance(scale, (int, float)):
            factors = {s: float(scale) for s in sites}
        elif isinstance(scale, list):
            if len(scale) != len(sites):
                raise ValueError(f"{where}: site_scale has {len(scale)} factors for {len(sites)} sites")
            factors = dict(zip(sites, map(float, scale)))
        else:
            factors = {s: float(scale.get(s, 1.0)) for s in sites}
        rates = {s: [r * factors[s] for r in profile] for s in sites}
    national = float(data.get("national_share", 0.0))
    if national > 0:
        slots = max(len(r) for r in rates.values())
        rates[None] = [national * sum(r[i] for r in rates.values() if i < len(r)) for i in range(slots)]
    general = config.general_topic if config is not None else "conseiller"
    topics = {str(k): float(v) for k, v in (data.get("topics") or {general: 1.0}).items()}
    if config is not None:
        unknown = set(topics) - {t.id for t in config.topics}
        if unknown:
            raise ValueError(f"{where}: unknown topics {sorted(unknown)}")
    staffing = data.get("staffing", "config")
    if staffing == "config":
        if config is None:
            raise ValueError(f"{where}: 'staffing: config' needs a configuration")
        advisors = tuple(AdvisorSpec(a.id, a.site, frozenset(config.advisor_topics(a)))
                         for a in config.advisors if a.site in sites)
    else:
        all_topics = [t.id for t in config.topics] if config is not None else list(topics)
        advisors = generated_staffing(sites, staffing["per_site"], all_topics, staffing.get("skills", "all"),
                                      int(staffing.get("seed", 0)))
    groups = {site: str(name) for name, members in (data.get("groups") or {}).items() for site in members}
    redial = data.get("redial") or {}
    return Workload(
        sites=sites, rates=rates, advisors=advisors, topics=topics,
        handling=_distribution(data.get("handling", {"mean_s": 300}), f"{where}: handling"),
        patience=_distribution(data.get("patience"), f"{where}: patience"),
        redial=Redial(float(redial.get("probability", 0.0)), float(redial.get("mean_delay_s", 300.0)),
                      int(redial.get("max", 2))),
        slot_s=float(data.get("slot_minutes", 15)) * 60.0,
        groups=groups, name=str(data.get("name", path.stem)),
        service_target_s=float(data.get("service_target_s", 60.0)),
    )
