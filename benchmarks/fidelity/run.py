"""Fidelity benchmark (issue 4): the real platform against the simulator, on the same scaled-down scenario.

    .venv/bin/python benchmarks/fidelity/run.py --policy timer:10 --minutes 10

starts the whole platform (Asterisk 22, the Python services, a private PostgreSQL cluster) on free ports
with a configuration written for the scenario (a few sites, a few advisors each with one topic, open
24/7, the topic's ``overflow`` set to ``--policy``), logs in one SIPp softphone per advisor (it answers
after ``--answer-ms`` and hangs up after a log-normal handling time), and places Poisson arrivals on one
office number per site (one SIPp caller process per site: N ~ Poisson(lambda T) drawn here, each call
waiting a uniform time in [0, T] before its INVITE, which is a Poisson process on [0, T]; callers never
hang up: they wait for the BYE). Waits, sites and handling times are read from the ``calls`` table.

The same scenario is then simulated (``ccpros_agi.sim.engine``) over ``--seeds`` seeds, and replayed once
with the live run's own queue-entry times and handling times (so that only the queueing mechanics
differ). The run is saved in ``benchmarks/fidelity/runs/<policy>.json`` and ``RESULTS.md`` is rebuilt
from every saved run (``--report-only`` rebuilds it without running anything).

A benchmark, not a test: nothing here is collected by pytest.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform as host_platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from ccpros_agi.overflow import parse_policy  # noqa: E402
from ccpros_agi.sim.engine import Simulation  # noqa: E402
from ccpros_agi.sim.workload import AdvisorSpec, Distribution, Workload  # noqa: E402

RUNS = HERE / "runs"
RESULTS = HERE / "RESULTS.md"
ADVISOR_SCENARIO = HERE / "scenarios" / "advisor_handling.xml"
TOPIC = "tva"
HAND_WRITTEN = "## Reading"       # RESULTS.md keeps this section (and what follows) when rebuilt


# --- the scenario ------------------------------------------------------------------------------------------
def scenario_from_args(args: argparse.Namespace) -> dict:
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    loads = [float(x) for x in args.load.split(",")]
    staff = [int(x) for x in str(args.advisors).split(",")]
    if len(staff) == 1:
        staff = staff * len(sites)
    if len(loads) != len(sites) or len(staff) != len(sites):
        raise SystemExit("--load and --advisors need one value per site (or one --advisors value for all)")
    per_advisor_per_hour = 3600.0 / args.handling_mean
    return {
        "policy": args.policy,
        "minutes": args.minutes,
        "sites": sites,
        "advisors": dict(zip(sites, staff)),
        "load": dict(zip(sites, loads)),
        # offered load rho = lambda * mean handling / advisors
        "rate_per_hour": {s: rho * n * per_advisor_per_hour for s, rho, n in zip(sites, loads, staff)},
        "handling_mean_s": args.handling_mean,
        "handling_sigma": args.handling_sigma,
        "sl_s": args.sl,
        "answer_ms": args.answer_ms,
        "seed": args.seed,
        "seeds": args.seeds,
    }


def advisor_ids(sc: dict) -> list[tuple[str, str]]:
    return [(f"{site}-{i + 1:02d}", site) for site in sc["sites"] for i in range(sc["advisors"][site])]


def lognormal_mu_ms(mean_s: float, sigma: float) -> float:
    """The underlying normal's mean for SIPp (milliseconds), so that the mean handling is ``mean_s``
    (the simulator's ``Distribution("lognormal", mean_s, sigma)`` does the same)."""
    return math.log(mean_s * 1000.0) - sigma ** 2 / 2.0


# --- the configuration of the live platform ------------------------------------------------------------------
def write_config(sc: dict, target: Path) -> dict[str, str]:
    """A copy of config/ reduced to the scenario; returns the office number called for each site."""
    import yaml

    from ccpros_agi.config import load_config

    source = PROJECT / "config"
    target.mkdir(parents=True, exist_ok=True)
    sites_doc = yaml.safe_load((source / "sites.yaml").read_text(encoding="utf-8"))
    kept = [s for s in sites_doc["sites"] if s["id"] in sc["sites"]]
    missing = set(sc["sites"]) - {s["id"] for s in kept}
    if missing:
        raise SystemExit(f"unknown sites {sorted(missing)} (see config/sites.yaml)")
    (target / "sites.yaml").write_text(yaml.safe_dump({"sites": kept}, allow_unicode=True), encoding="utf-8")
    departements = {d for s in kept for d in s["departements"]}

    with open(source / "offices.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())

    def coverage_sites(row: dict) -> set[str]:
        return {part.split("@")[0] for part in row["coverage"].split(";") if part} - {"-"}

    rows = [r for r in rows if r["departement"] in departements and coverage_sites(r) <= set(sc["sites"])]
    with open(target / "offices.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    advisors = [{"id": a, "name": f"Advisor {a}", "site": site, "topics": []} for a, site in advisor_ids(sc)]
    (target / "advisors.yaml").write_text(yaml.safe_dump({"advisors": advisors}, allow_unicode=True),
                                          encoding="utf-8")
    # one topic, the general one: no key needed, every advisor has it, its overflow is the policy
    topics = {"topics": [{"id": TOPIC, "label": "TVA", "key": "1", "prompt": "Pour une question de TVA, tapez 1.",
                          "overflow": sc["policy"]}]}
    (target / "topics.yaml").write_text(yaml.safe_dump(topics, allow_unicode=True), encoding="utf-8")
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    hours = "timezone: Europe/Paris\nweekly:\n" + "".join(f'  {d}: [["00:00", "24:00"]]\n' for d in days)
    (target / "hours.yaml").write_text(hours + "closed_dates: []\n", encoding="utf-8")
    plat = yaml.safe_load((source / "platform.yaml").read_text(encoding="utf-8"))
    plat.pop("admin_gateway", None)              # no office's own line is dialled
    plat["advisor_dial_allowed"] = []
    plat["general_topic"] = TOPIC
    plat["menu"] = {"timeout_seconds": 1}        # callers press nothing: the menu, 1 s, then the queue
    plat["repeat_caller_seconds"] = 0            # callers share a number per site: no "last advisor"
    (target / "platform.yaml").write_text(yaml.safe_dump(plat, allow_unicode=True), encoding="utf-8")

    try:
        config = load_config(target)
    except Exception as exc:  # noqa: BLE001 - the config error names the file, the entry and the fix
        raise SystemExit(f"the live platform refuses this scenario's configuration ({target}):\n{exc}") from None
    today = datetime.now(timezone.utc).date()
    called = {}
    for site in sc["sites"]:
        office = next((o for o in config.directory.offices if o.covering_site(today) == site), None)
        if office is None:
            raise SystemExit(f"no office of config/offices.csv is covered by {site} today")
        called[site] = office.numbers[0]
    return called


# --- SIPp callers -------------------------------------------------------------------------------------------
def caller_scenario(window_ms: int) -> str:
    """One call: wait its arrival time (field 0 of the injection file, milliseconds after the start), INVITE
    the called number (field 1) from the caller's number (field 2), then stay up until Asterisk hangs up
    (after the advisor's BYE). SIPp's own uniform pause is not used: its generator is seeded from the clock,
    so processes started in the same second draw the same times."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- arrivals within [0, {window_ms}] ms, drawn by run.py -->
<scenario name="poisson caller">
  <nop><action>
    <assignstr assign_to="at" value="[field0]"/>
    <todouble assign_to="delay" variable="at"/>
  </action></nop>
  <pause variable="delay"/>
  <send retrans="500"><![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field2]@[local_ip]>;tag=[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field2]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field2]@[local_ip]>;tag=[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv request="BYE" timeout="7200000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
</scenario>
"""


def arrivals(sc: dict) -> list[tuple[float, str]]:
    """(seconds after the start, home site) of every call: per site N ~ Poisson(lambda T), then N uniform
    times in [0, T] (given N, the times of a Poisson process are i.i.d. uniform)."""
    rng = random.Random(f"{sc['seed']}:arrivals")
    window_s = sc["minutes"] * 60.0
    out = []
    for site in sc["sites"]:
        n = poisson(rng, sc["rate_per_hour"][site] * window_s / 3600.0)
        out += [(rng.uniform(0.0, window_s), site) for _ in range(n)]
    return sorted(out)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson variate (sum of exponential gaps in [0, 1])."""
    n, t = 0, rng.expovariate(1.0)
    while t < mean:
        n += 1
        t += rng.expovariate(1.0)
    return n


# --- the live run -------------------------------------------------------------------------------------------
def live_run(sc: dict, keep: bool, max_drain_s: float) -> dict:
    from ccpros_agi.platform import Platform
    from tests.integration.sip import TRUNK_IP, AdvisorPhone, Sipp

    state = Path(tempfile.mkdtemp(prefix="ccpros-fidelity-"))
    os.chmod(state, 0o711)           # the private cluster runs as the postgres user when we are root
    workdir = state / "sipp"
    workdir.mkdir()
    called = write_config(sc, state / "config")
    window_s = sc["minutes"] * 60.0
    calls = arrivals(sc)
    counts = {s: sum(site == s for _, site in calls) for s in sc["sites"]}
    print(f"state {state}; calls drawn per site {counts}; numbers {called}", flush=True)

    p = Platform(config_dir=state / "config", state_dir=state,
                 instance_name=f"fidelity-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    phones: list[AdvisorPhone] = []
    callers: list[Sipp] = []
    ok = False
    try:
        t_start = time.monotonic()
        p.start()
        print(f"platform up in {time.monotonic() - t_start:.0f} s (SIP port {p.ports.sip})", flush=True)
        queue_options = generated_queue(p.instance.host_dir / "etc" / "queues_generated.conf",
                                        f"q-{sc['sites'][0]}-{TOPIC}")
        keys = {"mu": f"{lognormal_mu_ms(sc['handling_mean_s'], sc['handling_sigma']):.6f}",
                "sigma": f"{sc['handling_sigma']:g}"}
        for i, (advisor, _site) in enumerate(advisor_ids(sc)):
            # SIPp's log-normal pause draws from GSL, seeded from GSL_RNG_SEED (else every phone draws the
            # same handling times in the same order)
            os.environ["GSL_RNG_SEED"] = str(1000 * sc["seed"] + i + 1)
            phone = AdvisorPhone(advisor, p.secrets.advisor_passwords[advisor], p.ports.sip, workdir,
                                 answer_ms=sc["answer_ms"], scenario=str(ADVISOR_SCENARIO), keys=keys).start()
            phones.append(phone)
            phone.login()
        os.environ.pop("GSL_RNG_SEED", None)
        print(f"{len(phones)} advisors logged in", flush=True)
        time.sleep(2)
        timeout_s = int(window_s + max_drain_s)
        xml = workdir / "callers.xml"
        xml.write_text(caller_scenario(int(window_s * 1000)))
        inject = workdir / "callers.csv"
        index = {site: i for i, site in enumerate(sc["sites"])}
        inject.write_text("SEQUENTIAL\n" + "".join(
            f"{round(at * 1000)};{called[site]};+3353649{index[site]:02d}{k % 100:02d};\n"
            for k, (at, site) in enumerate(calls)))
        if calls:
            callers.append(Sipp(p.ports.sip, xml, ip=TRUNK_IP, service="callers", workdir=workdir,
                                calls=len(calls), timeout_s=timeout_s,
                                extra=["-inf", str(inject), "-r", "1000", "-rp", "1000", "-l", str(len(calls) + 1)]))
        started_at = datetime.now(timezone.utc)
        for c in callers:
            c.start()
        print(f"callers started at {started_at:%H:%M:%S} UTC; arrivals for {sc['minutes']} min, then drain",
              flush=True)
        failures = []
        for c in callers:
            result = c.wait(timeout_s + 60)
            if not result.ok:
                failures.append(f"caller SIPp exited with {result.returncode}: {result.output[-1500:]}")
        print(f"callers done after {(datetime.now(timezone.utc) - started_at).total_seconds():.0f} s", flush=True)
        rows = read_calls(p.database.url)
        ok = True
        return {"started_at": started_at.isoformat(), "counts": counts, "called": called, "rows": rows,
                "failures": failures, "drawn": [[round(at, 3), site] for at, site in calls],
                "queue_options": queue_options, "code": code_digest()}
    finally:
        for c in callers:
            c.stop()
        for phone in phones:
            if phone.uas:
                phone.uas.stop()
        p.stop()
        if keep or not ok:
            where = f", Asterisk's in {p.instance.log_dir}" if p.instance else ""
            print(f"kept {state} (logs in log/ and sipp/{where})", file=sys.stderr)
        else:
            if p.instance:
                p.instance.remove()
            shutil.rmtree(state, ignore_errors=True)


def generated_queue(path: Path, name: str) -> list[str]:
    """The options Asterisk was given for one queue (app_queue's behaviour depends on them)."""
    lines, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            inside = line == f"[{name}]"
        elif inside and line and not line.startswith(";"):
            lines.append(line.split("=/", 1)[0] + ("=..." if "=/" in line else ""))
    return lines


def code_digest() -> str:
    """A digest of the platform's code and static configuration as run (the code changes while benchmarks run)."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted([*(PROJECT / "ccpros_agi").rglob("*.py"), *(PROJECT / "dialplan").glob("*.conf"),
                    *(PROJECT / "asterisk" / "etc").glob("*.conf")])
    for path in files:
        digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def read_calls(url: str, settle_s: float = 60.0) -> list[dict]:
    """Every call of the run, once none is in progress any more (the journey writes the outcome at hang-up)."""
    import psycopg
    from psycopg.rows import dict_row

    url = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + settle_s
    while True:
        with psycopg.connect(url, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT linkedid, called_number, home_site, site_id, advisor_id, topic, queue, menu_reason, "
                "arrived_at, queued_at, answered_at, ended_at, outcome, overflowed, fallback "
                "FROM calls ORDER BY queued_at NULLS LAST, id").fetchall()
        if all(r["outcome"] != "in_progress" for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(1)
    out = []
    for r in rows:
        out.append({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
    return out


# --- measures -------------------------------------------------------------------------------------------------
def _ts(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def live_calls(run: dict) -> list[dict]:
    """The live calls as (home, arrival, wait, site, handling), arrival in seconds since the callers started."""
    t0 = _ts(run["started_at"])
    out = []
    for r in run["rows"]:
        queued, answered, ended = _ts(r["queued_at"]), _ts(r["answered_at"]), _ts(r["ended_at"])
        out.append({
            "home": r["home_site"], "arrival": None if queued is None else queued - t0,
            "wait": None if (answered is None or queued is None) else answered - queued,
            "site": r["site_id"], "advisor": r["advisor_id"], "outcome": r["outcome"],
            "handling": None if (answered is None or ended is None) else ended - answered,
            "answered_at": answered, "ended_at": ended, "queued_at": queued,
        })
    return out


def stats(calls: list[dict], sl_s: float) -> dict:
    answered = [c for c in calls if c["wait"] is not None]
    n = len(calls)
    return {
        "offered": n,
        "answered": len(answered) / n if n else 0.0,
        "sl": sum(c["wait"] <= sl_s for c in answered) / n if n else 0.0,
        "mean_wait": statistics.fmean(c["wait"] for c in answered) if answered else 0.0,
        "cross": (sum(c["site"] != c["home"] for c in answered if c["home"]) / len(answered)) if answered else 0.0,
    }


def by_site(calls: list[dict], sites: list[str], sl_s: float) -> dict:
    out = {s: stats([c for c in calls if c["home"] == s], sl_s) for s in sites}
    out["all"] = stats(calls, sl_s)
    return out


def sim_calls(report) -> list[dict]:
    return [{"home": c.home, "wait": None if c.answered_at is None else c.answered_at - c.arrival,
             "site": c.answered_site} for c in report.calls]


def workload(sc: dict, handling=None) -> Workload:
    advisors = tuple(AdvisorSpec(a, site, frozenset({TOPIC})) for a, site in advisor_ids(sc))
    return Workload(
        sites=tuple(sc["sites"]), rates={s: [sc["rate_per_hour"][s]] for s in sc["sites"]}, advisors=advisors,
        topics={TOPIC: 1.0}, handling=handling or Distribution("lognormal", sc["handling_mean_s"],
                                                               sc["handling_sigma"]),
        patience=None, slot_s=sc["minutes"] * 60.0, name="fidelity", service_target_s=sc["sl_s"])


class _Replayed:
    """Handling 'distribution' giving the live calls' handling times in arrival order."""

    def __init__(self, values: list[float], mean_s: float) -> None:
        self.values, self.mean_s = values, mean_s

    def sampler(self, rng):
        it = iter(self.values)
        return lambda: next(it)


class _Replay(Simulation):
    """The simulator fed with the live run's queue entries (instead of its own Poisson arrivals)."""

    def __init__(self, arrivals: list[tuple[float, str, str]], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._live_arrivals = arrivals

    def _arrivals(self):
        return list(self._live_arrivals)


def replayed(sc: dict, live: list[dict], extra_s: float = 0.0) -> dict | None:
    """The simulator on the live run's queue entries and handling times (each lengthened by ``extra_s``)."""
    entered = sorted((c for c in live if c["arrival"] is not None and c["handling"] is not None),
                     key=lambda c: c["arrival"])
    if not entered:
        return None
    arrivals = [(c["arrival"], c["home"], TOPIC) for c in entered]
    handling = _Replayed([c["handling"] + extra_s for c in entered], sc["handling_mean_s"])
    report = _Replay(arrivals, workload(sc, handling), parse_policy(sc["policy"]), 0, keep_calls=True).run()
    out = by_site(sim_calls(report), sc["sites"], sc["sl_s"])
    out["waits"] = sorted(c.answered_at - c.arrival for c in report.calls if c.answered_at is not None)
    return out


def simulated(sc: dict, live: list[dict]) -> dict:
    policy = parse_policy(sc["policy"])
    sites, sl = sc["sites"], sc["sl_s"]
    per_seed = []
    for seed in range(sc["seeds"]):
        report = Simulation(workload(sc), policy, seed, keep_calls=True).run()
        per_seed.append(by_site(sim_calls(report), sites, sl))
    summary = {}
    for key in [*sites, "all"]:
        summary[key] = {m: (statistics.fmean(r[key][m] for r in per_seed),
                            statistics.stdev(r[key][m] for r in per_seed) if len(per_seed) > 1 else 0.0)
                        for m in ("offered", "answered", "sl", "mean_wait", "cross")}
    replay = replayed(sc, live)
    return {"sim": summary, "replay": replay}


def diagnostics(run: dict, live: list[dict], sc: dict) -> dict:
    """What differs from the model: handling times, and the advisor's gap between a call's end and the next
    answer while calls were waiting (zero in the simulator)."""
    handled = [c["handling"] for c in live if c["handling"] is not None]
    # hand-over: a call that entered the queue while the advisor of its home site who answered it was still
    # busy, answered some time after that advisor's previous call ended (at once in the simulator); advisors
    # of other sites are left out (a timer may have kept the call from them after they were free)
    gaps = []
    by_advisor: dict[str, list[dict]] = {}
    for c in live:
        if c["advisor"] and c["answered_at"] is not None and c["ended_at"] is not None:
            by_advisor.setdefault(c["advisor"], []).append(c)
    for calls in by_advisor.values():
        calls.sort(key=lambda c: c["answered_at"])
        for prev, nxt in zip(calls, calls[1:]):
            if prev["ended_at"] > nxt["queued_at"] and nxt["site"] == nxt["home"]:
                gaps.append(nxt["answered_at"] - prev["ended_at"])
    gaps.sort()
    waits = sorted(c["wait"] for c in live if c["wait"] is not None)
    # queue entry against the drawn INVITE time (the menu: its prompt, then the 1 s timeout), paired in order
    t0 = _ts(run["started_at"])
    delays = []
    for site in sc["sites"]:
        drawn = sorted(at for at, s in run.get("drawn", []) if s == site)
        entered = sorted(c["queued_at"] - t0 for c in live if c["home"] == site and c["queued_at"] is not None)
        if len(drawn) == len(entered):
            delays += [e - d for d, e in zip(drawn, entered)]
    # first come, first served within a home site: calls answered by their home site after a later call of
    # the same home site was answered by the home site (the simulator never does that)
    home_answered = sorted((c for c in live if c["answered_at"] is not None and c["site"] == c["home"]),
                           key=lambda c: c["queued_at"])
    overtaken = sum(any(o["home"] == c["home"] and c["queued_at"] < o["queued_at"]
                        and o["answered_at"] < c["answered_at"] for o in home_answered) for c in home_answered)
    pairs = inverted = 0
    for i, c in enumerate(home_answered):
        for o in home_answered[i + 1:]:
            if o["home"] == c["home"] and o["queued_at"] < c["answered_at"]:   # o came while c was waiting
                pairs += 1
                inverted += o["answered_at"] < c["answered_at"]
    return {
        "pairs": pairs,
        "inverted": inverted,
        "overtaken": overtaken,
        "home_answered": len(home_answered),
        "menu_n": len(delays),
        "menu_mean_s": statistics.fmean(delays) if delays else 0.0,
        "menu_sd_s": statistics.stdev(delays) if len(delays) > 1 else 0.0,
        "handling_n": len(handled),
        "handling_mean_s": statistics.fmean(handled) if handled else 0.0,
        "handling_median_s": statistics.median(handled) if handled else 0.0,
        "handling_log_sd": statistics.stdev(math.log(h) for h in handled if h > 0) if len(handled) > 1 else 0.0,
        "gap_n": len(gaps),
        "gap_mean_s": statistics.fmean(gaps) if gaps else 0.0,
        "gap_p90_s": gaps[int(len(gaps) * 0.9)] if gaps else 0.0,
        "gap_max_s": gaps[-1] if gaps else 0.0,
        "wait_p50_s": waits[len(waits) // 2] if waits else 0.0,
        "wait_p90_s": waits[int(len(waits) * 0.9)] if waits else 0.0,
        "wait_max_s": waits[-1] if waits else 0.0,
        "not_answered": sum(c["outcome"] != "answered" for c in live),
    }


# --- RESULTS.md -------------------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_run(run: dict) -> str:
    sc = run["scenario"]
    sites, sl = sc["sites"], sc["sl_s"]
    live = live_calls(run["live"])
    measured = by_site(live, sites, sl)
    sim, replay, diag = run["sim"], replayed(sc, live), diagnostics(run["live"], live, sc)
    total_rate = sum(sc["rate_per_hour"].values())
    total_staff = sum(sc["advisors"].values())
    lines = [
        f"## `{sc['policy']}`" + (f" ({run['label']})" if run.get("label") else ""),
        "",
        f"Command: `{run['command']}`  ",
        f"Date: {run['date']}, host {run['host']}.  ",
        f"Scenario: {len(sites)} sites, {total_staff} advisors, arrivals for {sc['minutes']} min "
        f"(Poisson, {total_rate:.0f} calls/h in all, seed {sc['seed']}: {sum(run['live']['counts'].values())} "
        f"calls drawn), handling log-normal mean {sc['handling_mean_s']:g} s σ {sc['handling_sigma']:g}, "
        f"no abandonment, advisors answer after {sc['answer_ms']} ms of ringing, SL threshold {sl:g} s, "
        f"overflow `{sc['policy']}`; simulator: {sc['seeds']} seeds.",
        "",
        "| home site | advisors | ρ | calls/h |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {s} | {sc['advisors'][s]} | {sc['load'][s]:.2f} | {sc['rate_per_hour'][s]:.0f} |" for s in sites]
    lines += [
        "",
        f"| home site | source | offered | answered | SL ≤ {sl:g} s | mean wait | cross-site |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key in [*sites, "all"]:
        name = "**all**" if key == "all" else key
        m = measured[key]
        lines.append(f"| {name} | **live** | {m['offered']} | {_pct(m['answered'])} | **{_pct(m['sl'])}** | "
                     f"**{m['mean_wait']:.1f} s** | **{_pct(m['cross'])}** |")
        s = sim[key]
        lines.append(f"| | sim (mean ± sd) | {s['offered'][0]:.1f} ± {s['offered'][1]:.1f} | "
                     f"{_pct(s['answered'][0])} | {_pct(s['sl'][0])} ± {_pct(s['sl'][1])} | "
                     f"{s['mean_wait'][0]:.1f} ± {s['mean_wait'][1]:.1f} s | "
                     f"{_pct(s['cross'][0])} ± {_pct(s['cross'][1])} |")
        if replay:
            r = replay[key]
            lines.append(f"| | sim replay | {r['offered']} | {_pct(r['answered'])} | {_pct(r['sl'])} | "
                         f"{r['mean_wait']:.1f} s | {_pct(r['cross'])} |")
    lines += [
        "",
        f"Live details: {diag['handling_n']} calls handled, measured handling mean {diag['handling_mean_s']:.1f} s "
        f"(median {diag['handling_median_s']:.1f} s, sd of log {diag['handling_log_sd']:.2f}; nominal mean "
        f"{sc['handling_mean_s']:g} s, median {sc['handling_mean_s'] * math.exp(-sc['handling_sigma'] ** 2 / 2):.1f} s, "
        f"σ {sc['handling_sigma']:g}); waits p50 {diag['wait_p50_s']:.1f} s, p90 {diag['wait_p90_s']:.1f} s, "
        f"max {diag['wait_max_s']:.1f} s; "
        f"calls not answered: {diag['not_answered']}; hand-over: a call that entered the queue while the home-site advisor "
        f"who answered it was busy was answered {diag['gap_mean_s']:.2f} s after that advisor's previous call ended "
        f"(mean over {diag['gap_n']} calls, p90 {diag['gap_p90_s']:.1f} s, max {diag['gap_max_s']:.1f} s; 0 in the "
        "simulator); "
        f"queue entry came {diag.get('menu_mean_s', 0):.2f} s ± {diag.get('menu_sd_s', 0):.2f} s after the drawn "
        "arrival time (INVITE, answer, menu prompt, 1 s timeout; the simulator's arrival is the queue entry); "
        f"{diag['overtaken']} of the {diag['home_answered']} calls answered at their home site were answered after a "
        f"later call of the same home site, and {diag['inverted']} of the {diag['pairs']} pairs of such calls where the "
        "later one entered while the earlier one waited were answered in the wrong order (never in the simulator: "
        "first come, first served).",
    ]
    if replay and replay.get("waits"):
        w = replay["waits"]
        lines += ["", f"Waits of the replay (first come, first served): p50 {w[len(w) // 2]:.1f} s, "
                  f"p90 {w[int(len(w) * 0.9)]:.1f} s, max {w[-1]:.1f} s (live: p50 {diag['wait_p50_s']:.1f} s, "
                  f"p90 {diag['wait_p90_s']:.1f} s, max {diag['wait_max_s']:.1f} s)."]
    extra = diag["gap_mean_s"] + sc["answer_ms"] / 1000.0
    slower = replayed(sc, live, extra)
    if slower:
        a = slower["all"]
        lines += ["", f"Replay with every handling time lengthened by the mean hand-over plus the ringing "
                  f"({extra:.2f} s, the advisor's time lost between two calls live): SL {_pct(a['sl'])}, mean wait "
                  f"{a['mean_wait']:.1f} s, cross-site {_pct(a['cross'])} overall ("
                  + ", ".join(f"{site} {_pct(slower[site]['sl'])} / {slower[site]['mean_wait']:.1f} s"
                              for site in sites) + ")."]
    options = run["live"].get("queue_options")
    lines += ["", "Platform as run: " + (f"code digest `{run['live']['code']}`; " if run["live"].get("code") else "")
              + (f"`q-{sites[0]}-{TOPIC}` options: `{'`, `'.join(options)}`." if options else
                 "(queue options not recorded by this run)")]
    if run["live"]["failures"]:
        lines += ["", "SIPp reported problems:", "", "```", *[f[:600] for f in run["live"]["failures"]], "```"]
    return "\n".join(lines) + "\n"


HEADER = """# Fidelity benchmark (issue 4): the real platform against the simulator

Generated by `benchmarks/fidelity/run.py` from the runs saved in `benchmarks/fidelity/runs/` (one file per
policy and seed, the last run of each; `--report-only` rebuilds this file; a run takes its arrival window
plus about 3 minutes). Each run starts the whole platform on free ports (Asterisk 22,
the FastAGI and events services, a private PostgreSQL cluster) with a configuration written for the
scenario, logs in one SIPp softphone per advisor and places the calls with SIPp; then it simulates the same
scenario with `ccpros_agi.sim.engine`.

- **live**: the real run, measured from the `calls` table: the wait is `answered_at − queued_at` (the
  caller's `QueueCallerJoin` to the advisor's `AgentConnect`, so it includes the advisor's ringing), the
  cross-site share is the share of answered calls with `site_id ≠ home_site`. Callers dial one office
  number per site (its covering site is the call's home site), press nothing (1 s menu timeout, the only
  topic is the general one) and never hang up; advisors hang up after a log-normal handling time (SIPp's
  `lognormal` pause: mean and sd of the log of milliseconds).
- **sim (mean ± sd)**: the simulator on the same scenario (same sites, advisors, Poisson rates over the
  same window, handling distribution, no abandonment, same policy, from an empty system, drained), over
  the given number of seeds: the live single run should fall within about two sd of the mean.
- **sim replay**: the simulator fed with the live run's own queue entries (home site and time) and
  handling times: arrivals and handling are then identical and only the queueing mechanics differ
  (app_queue against the simulator's model).
- *SL ≤ X s* = share of offered calls answered within X s; *mean wait* = over answered calls;
  *cross-site* = share of answered calls answered by an advisor of another site than the home site.

"""


def rebuild_results() -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    kept = ""
    if RESULTS.exists():
        text = RESULTS.read_text(encoding="utf-8")
        if HAND_WRITTEN in text:
            kept = text[text.index(HAND_WRITTEN):]
    body = HEADER + "\n".join(render_run(r) for r in runs)
    RESULTS.write_text(body + ("\n" + kept if kept else ""), encoding="utf-8")
    print(f"wrote {RESULTS}")


# --- main --------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--policy", default="timer:10", help="overflow policy written in topics.yaml and simulated "
                    "(separate, pooled, timer:T, and state:T / state+:T once the live platform runs them)")
    ap.add_argument("--minutes", type=float, default=10, help="length of the arrival window")
    ap.add_argument("--sites", default="pau,morlaix,cahors", help="sites of config/sites.yaml")
    ap.add_argument("--load", default="1.1,0.8,0.5", help="offered load rho per site (lambda x handling / advisors)")
    ap.add_argument("--advisors", default="4", help="advisors per site (one value, or one per site)")
    ap.add_argument("--handling-mean", type=float, default=25.0, help="mean handling time (s)")
    ap.add_argument("--handling-sigma", type=float, default=0.5, help="sigma of the log of the handling time")
    ap.add_argument("--sl", type=float, default=20.0, help="service-level threshold (s)")
    ap.add_argument("--answer-ms", type=int, default=100, help="advisors' ringing before answering (ms)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the live run's call counts")
    ap.add_argument("--seeds", type=int, default=50, help="simulator seeds")
    ap.add_argument("--max-drain-minutes", type=float, default=15, help="give up this long after the window")
    ap.add_argument("--keep", action="store_true", help="keep the state directory (logs, SIPp files)")
    ap.add_argument("--report-only", action="store_true", help="only rebuild RESULTS.md from runs/*.json")
    args = ap.parse_args(argv)
    if args.report_only:
        rebuild_results()
        return 0
    parse_policy(args.policy)     # fail early on a typo
    sc = scenario_from_args(args)
    live = live_run(sc, args.keep, args.max_drain_minutes * 60)
    run = {"scenario": sc, "live": live,
           "command": " ".join([".venv/bin/python", "benchmarks/fidelity/run.py", *(argv or sys.argv[1:])]),
           "date": date.today().isoformat(),
           "host": f"{host_platform.machine()} ({os.cpu_count()} CPUs), Python {host_platform.python_version()}, "
                   f"{host_platform.system()} {host_platform.release()}, {sipp_version()}"}
    calls = live_calls(live)
    run.update(simulated(sc, calls))
    RUNS.mkdir(exist_ok=True)
    name = args.policy.replace(":", "-").replace("/", "_") + (f"-seed{args.seed}" if args.seed != 1 else "")
    (RUNS / f"{name}.json").write_text(json.dumps(run, indent=1))
    print(render_run(run))
    rebuild_results()
    return 0


def sipp_version() -> str:
    try:
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, timeout=10).stdout
        return next(("SIPp " + line.strip().split()[1].lstrip("v").rstrip(".")
                     for line in out.splitlines() if "SIPp" in line), "SIPp ?")
    except Exception:  # noqa: BLE001
        return "SIPp ?"


if __name__ == "__main__":
    raise SystemExit(main())
