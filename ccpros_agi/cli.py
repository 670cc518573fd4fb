"""The ``ccpros`` command line.

To add a command: write ``def cmd_xxx(args: argparse.Namespace) -> int``, declare its parser in
:func:`build_parser` with ``set_defaults(command="group name")``, and add it to :func:`handlers`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ccpros_agi.config import Config, ConfigError, load_config

CONFIG_ENV = "CCPROS_CONFIG"
DEFAULT_CONFIG_DIR = "config"

Handler = Callable[[argparse.Namespace], int]


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config DIR, defaulting to $CCPROS_CONFIG or ./config (for any command needing the configuration)."""
    parser.add_argument(
        "--config", metavar="DIR", type=Path, default=Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_DIR)),
        help=f"configuration directory (default: ${CONFIG_ENV} or ./{DEFAULT_CONFIG_DIR})",
    )


def cmd_config_check(args: argparse.Namespace) -> int:
    """Load and check the configuration; print a summary, or every problem on stderr."""
    from ccpros_agi.advisors.supervision import load_supervisors
    from ccpros_agi.appointments.config import load_appointments

    try:
        config = load_config(args.config)
        load_appointments(config)  # appointments.yaml, if there is one
        load_supervisors(config)   # supervisors.yaml, if there is one
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"config INVALID: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    shown = str(args.config).rstrip("/") + "/"
    print(f"config OK: {shown} — {len(config.sites)} sites, {len(config.advisors)} advisors, "
          f"{len(config.topics)} topics, national number {config.national_number}")
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    """Check a CSV of offices against the configuration (sites, numbers) and, if it has no problem,
    make it the configuration's offices.csv (replaced atomically; the services read it at start)."""
    from zoneinfo import ZoneInfo

    from ccpros_agi.config.schema import OFFICES_FILE
    from ccpros_agi.directory import read_csv_text

    target = Path(args.config) / OFFICES_FILE
    try:
        text = read_csv_text(args.file).removeprefix("\ufeff")
        config = load_config(args.config, offices_csv=text, offices_name=str(args.file))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        if len(exc.problems) > 1 or exc.problems[0].entry != "(file)":
            count = len(exc.problems)
            print(f"nothing imported ({count} problem{'s' if count != 1 else ''}): {target} is unchanged",
                  file=sys.stderr)
        return 1
    try:
        _replace_file(target, text)
    except OSError as exc:
        print(f"{target}: cannot write it ({exc.strerror or exc}); check the directory's permissions",
              file=sys.stderr)
        return 1
    today = datetime.now(ZoneInfo(config.timezone)).date()
    total, covered = len(config.directory), len(config.directory.covered_on(today))
    print(f"imported {total} office{'s' if total != 1 else ''} into {target} ({covered} covered today, "
          f"{total - covered} not covered)")
    print("restart the services (ccpros run, or the 'agi' and 'events' services) to use it")
    return 0


def _replace_file(target: Path, text: str) -> None:
    """Replace ``target`` atomically: a temporary file in the same directory, fsync, rename."""
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one long-running service (``agi``, ``events``, ``dialer``) until SIGTERM/SIGINT."""
    import asyncio

    from ccpros_agi.logging import configure_logging
    from ccpros_agi.runtime import Runtime
    from ccpros_agi.services import SERVICES

    runtime = Runtime.load(args.runtime)
    configure_logging(runtime.log_level)
    try:
        load_config(runtime.config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    asyncio.run(SERVICES[args.service](runtime))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Start the whole platform on this machine and keep it up until Ctrl-C."""
    from ccpros_agi.logging import configure_logging
    from ccpros_agi.platform import run_foreground

    configure_logging("INFO")
    try:
        load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("nothing started: fix the configuration first (ccpros config check)", file=sys.stderr)
        return 1
    return run_foreground(args.config, Path(args.state), os.environ.get("CCPROS_DATABASE_URL"))


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate a day of calls (workload file) with an overflow policy; print the report table."""
    from ccpros_agi.overflow import parse_policy
    from ccpros_agi.sim.engine import simulate
    from ccpros_agi.sim.workload import load_workload

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        policy = parse_policy(args.policy)
    except ValueError as exc:
        print(f"--policy: {exc}", file=sys.stderr)
        return 2
    try:
        workload = load_workload(args.workload, config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{args.workload}: {exc}", file=sys.stderr)
        return 1
    print(simulate(workload, policy, args.seed).table())
    return 0


def _database_and_config(args: argparse.Namespace) -> tuple[str, Config] | int:
    """(database URL, configuration) of a command working on the records, or its exit code (problems
    printed)."""
    url = args.database_url or os.environ.get("CCPROS_DATABASE_URL")
    if not url:
        print("--database-url or $CCPROS_DATABASE_URL is needed", file=sys.stderr)
        return 2
    try:
        return url, load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1


def _local_moment(args: argparse.Namespace, name: str, tz) -> datetime | None:
    """The ``--name`` option as an aware datetime (no offset: in ``tz``); None when not given.
    ValueError with the message to print when it is not ISO."""
    text = getattr(args, name)
    try:
        value = datetime.fromisoformat(text) if text else None
    except ValueError:
        raise ValueError(f"--{name}: not an ISO date or datetime: {text!r}") from None
    return value.replace(tzinfo=tz) if value is not None and value.tzinfo is None else value


def cmd_indicators_refresh(args: argparse.Namespace) -> int:
    """Recompute the indicators' summary tables (ccpros_agi.indicators.sql.refresh) up to today's start."""
    from zoneinfo import ZoneInfo

    from sqlalchemy import create_engine

    from ccpros_agi.indicators import sql as indicators_sql
    from ccpros_agi.store.pgcluster import psycopg_url

    found = _database_and_config(args)
    if isinstance(found, int):
        return found
    url, config = found
    tz = ZoneInfo(config.timezone)
    try:
        since = _local_moment(args, "since", tz)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    engine = create_engine(psycopg_url(url), connect_args={"options": "-c TimeZone=UTC"})
    try:
        window = indicators_sql.refresh_sync_engine(engine, tz=tz, since=since)
    finally:
        engine.dispose()
    print("nothing to refresh" if window is None else f"refreshed {window[0].isoformat()} .. {window[1].isoformat()}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Rebuild from Asterisk's CEL the call journeys the services missed (ccpros_agi.reconcile)."""
    import asyncio
    from zoneinfo import ZoneInfo

    from ccpros_agi import reconcile
    from ccpros_agi.store.repo import CallStore

    found = _database_and_config(args)
    if isinstance(found, int):
        return found
    url, config = found
    tz = ZoneInfo(config.timezone)
    try:
        since, until = _local_moment(args, "since", tz), _local_moment(args, "until", tz)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    until = until or datetime.now(tz)
    since = since or until - reconcile.DEFAULT_LOOKBACK
    if since >= until:
        print("--since must be before --until", file=sys.stderr)
        return 2

    async def run() -> reconcile.Report:
        store = await CallStore.connect(url)
        try:
            return await reconcile.reconcile(store, {a.id: a.site for a in config.advisors},
                                             since=since, until=until)
        finally:
            await store.close()

    print(asyncio.run(run()).summary())
    return 0


def handlers() -> Mapping[str, Handler]:
    """Dispatcher: the ``command`` default set by each leaf parser -> its function."""
    return {
        "config check": cmd_config_check,
        "directory import": cmd_directory_import,
        "serve": cmd_serve,
        "run": cmd_run,
        "simulate": cmd_simulate,
        "indicators refresh": cmd_indicators_refresh,
        "reconcile": cmd_reconcile,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccpros", description="CC Pros telephony platform tools")
    commands = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = config_commands.add_parser("check", help="check the configuration directory")
    add_config_option(check)
    check.set_defaults(command="config check")

    directory = commands.add_parser("directory", help="office (SIE) directory tools")
    directory_commands = directory.add_subparsers(dest="action", metavar="ACTION", required=True)
    directory_import = directory_commands.add_parser(
        "import", help="check a CSV of offices and make it the configuration's offices.csv")
    directory_import.add_argument("file", metavar="FILE.csv", type=Path, help="the offices, UTF-8 CSV")
    add_config_option(directory_import)
    directory_import.set_defaults(command="directory import")

    serve = commands.add_parser("serve", help="run one service (started by 'ccpros run')")
    serve.add_argument("service", choices=("agi", "events", "dialer", "notifier"))
    serve.add_argument("--runtime", metavar="FILE", type=Path, required=True,
                       help="runtime file written by the platform runner (ports, credentials, database)")
    serve.set_defaults(command="serve")

    run = commands.add_parser("run", help="start the whole platform on the demo configuration")
    add_config_option(run)
    run.add_argument("--state", metavar="DIR", default="var",
                     help="where secrets, the private database, logs and runtime files live (default: var)")
    run.set_defaults(command="run")

    simulate = commands.add_parser("simulate", help="simulate a day of calls with an overflow policy")
    simulate.add_argument("workload", metavar="WORKLOAD", type=Path, help="workload file (YAML or JSON)")
    add_config_option(simulate)
    simulate.add_argument("--policy", default="state+:10",
                          help="separate, pooled, timer:SECONDS, timer:10/group,30/all, state:SECONDS, "
                               "state+:SECONDS (default: state+:10)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    simulate.set_defaults(command="simulate")

    indicators = commands.add_parser("indicators", help="indicators' summary tables")
    indicators_commands = indicators.add_subparsers(dest="action", metavar="ACTION", required=True)
    refresh = indicators_commands.add_parser("refresh", help="recompute the summary tables up to today")
    refresh.add_argument("--since", help="recompute from this local date or datetime (default: where it stopped)")
    refresh.add_argument("--database-url", help="PostgreSQL URL (default: $CCPROS_DATABASE_URL)")
    add_config_option(refresh)
    refresh.set_defaults(command="indicators refresh")

    reconcile = commands.add_parser("reconcile",
                                    help="rebuild from Asterisk's CEL the call records the services missed")
    reconcile.add_argument("--since",
                           help="calls arrived from this ISO date or datetime (default: 2 days before --until)")
    reconcile.add_argument("--until", help="calls arrived before this ISO date or datetime (default: now)")
    reconcile.add_argument("--database-url", help="PostgreSQL URL (default: $CCPROS_DATABASE_URL)")
    add_config_option(reconcile)
    reconcile.set_defaults(command="reconcile")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return handlers()[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
