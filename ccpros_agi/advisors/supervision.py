"""Supervisors (config/supervisors.yaml, optional) and listening to advisors' calls (ChanSpy).

A supervisor uses a phone of the platform: their ``id`` is an advisor id of advisors.yaml (the PJSIP
endpoint that is called), and ``sites`` the sites whose advisors they may listen to::

    supervisors:
      - {id: pau-04, sites: [pau]}

Listening: the supervisor's phone is called (AMI Originate), and when they answer, ChanSpy on the
advisor's channel: ``listen`` (q: quiet), ``whisper`` (w: the advisor hears the supervisor, the caller
does not), ``barge`` (B: everyone hears everyone). Every request is recorded, granted or refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ccpros_agi.config import Config
from ccpros_agi.config.models import ConfigError, Problem

FILE = "supervisors.yaml"
MODES = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}


@dataclass(frozen=True)
class Supervisor:
    id: str
    sites: frozenset[str]


def load_supervisors(config: Config) -> dict[str, Supervisor]:
    """The supervisors of ``config.source_dir``/supervisors.yaml ({} without the file); ConfigError
    listing every problem."""
    path = Path(config.source_dir) / FILE
    if not path.exists():
        return {}
    problems: list[Problem] = []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([Problem(FILE, "(file)", f"cannot read it ({exc}); fix the YAML syntax")]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("supervisors"), list):
        raise ConfigError([Problem(FILE, "(top level)", "expected 'supervisors:' followed by a list of "
                                   "{id: <advisor id>, sites: [<site id>, ...]}")])
    advisors = {a.id for a in config.advisors}
    sites = {s.id for s in config.sites}
    out: dict[str, Supervisor] = {}
    for index, entry in enumerate(data["supervisors"]):
        where = f"supervisors[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"id", "sites"} or "id" not in entry:
            problems.append(Problem(FILE, where, "each supervisor is {id: <advisor id>, sites: [<site id>, ...]}"))
            continue
        ident, their_sites = entry["id"], entry.get("sites") or []
        where = f"{where} (id '{ident}')"
        if ident not in advisors:
            problems.append(Problem(FILE, where, f"'{ident}' is not an advisor of advisors.yaml; a supervisor's id "
                                    "is the advisor id of the phone they use"))
        elif ident in out:
            problems.append(Problem(FILE, where, "given twice; keep one entry and list all its sites"))
        if not isinstance(their_sites, list) or not their_sites:
            problems.append(Problem(FILE, where, "'sites' must be a non-empty list of site ids, e.g. [pau]"))
            continue
        unknown = [s for s in their_sites if s not in sites]
        if unknown:
            problems.append(Problem(FILE, where, f"unknown sites {', '.join(map(str, unknown))}; use ids of "
                                    f"sites.yaml: {', '.join(sorted(sites))}"))
        out[ident] = Supervisor(ident, frozenset(their_sites))
    if problems:
        raise ConfigError(problems)
    return out


def may_supervise(supervisors: dict[str, Supervisor], config: Config, supervisor: str, advisor: str) -> str | None:
    """None if ``supervisor`` may listen to ``advisor``; else why not."""
    who = supervisors.get(supervisor)
    if who is None:
        return f"{supervisor} is not a supervisor"
    try:
        site = config.advisor(advisor).site
    except KeyError:
        return f"{advisor} is not an advisor"
    if advisor == supervisor:
        return "a supervisor cannot listen to themselves"
    if site not in who.sites:
        return f"{supervisor} does not supervise the site {site}"
    return None


async def listen(ami, store, supervisors: dict[str, Supervisor], config: Config, *, supervisor: str, advisor: str,
                 mode: str = "listen", source: str = "web") -> tuple[bool, str]:
    """Call the supervisor's phone and spy on the advisor's channel; record the request. (granted, detail)."""
    if mode not in MODES:
        return False, f"mode must be one of {', '.join(MODES)}"
    refused = may_supervise(supervisors, config, supervisor, advisor)
    detail = refused
    if refused is None:
        reply = await ami.action("Originate", Channel=f"PJSIP/{supervisor}", Application="ChanSpy",
                                 Data=f"PJSIP/{advisor},{MODES[mode]}", CallerID=f'"Ecoute {advisor}" <{advisor}>',
                                 Timeout="30000", Async="true")
        if reply.get("Response") != "Success":
            detail = f"Asterisk refused: {reply.get('Message', '')}"
    await store.record_supervision(supervisor=supervisor, advisor=advisor, mode=mode, source=source,
                                   granted=refused is None, detail=detail, at=datetime.now(timezone.utc))
    return refused is None and detail is None, detail or "calling the supervisor's phone"
