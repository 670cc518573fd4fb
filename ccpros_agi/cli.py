"""The ``ccpros`` command line.

To add a command: write ``def cmd_xxx(args: argparse.Namespace) -> int``, declare its parser in
:func:`build_parser` with ``set_defaults(command="group name")``, and add it to :func:`handlers`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ccpros_agi.config import ConfigError, load_config

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
    try:
        config = load_config(args.config)
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


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one long-running service (``agi`` or ``events``) until SIGTERM/SIGINT."""
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


def handlers() -> Mapping[str, Handler]:
    """Dispatcher: the ``command`` default set by each leaf parser -> its function."""
    return {
        "config check": cmd_config_check,
        "serve": cmd_serve,
        "run": cmd_run,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccpros", description="CC Pros telephony platform tools")
    commands = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = config_commands.add_parser("check", help="check the configuration directory")
    add_config_option(check)
    check.set_defaults(command="config check")

    serve = commands.add_parser("serve", help="run one service (started by 'ccpros run')")
    serve.add_argument("service", choices=("agi", "events"))
    serve.add_argument("--runtime", metavar="FILE", type=Path, required=True,
                       help="runtime file written by the platform runner (ports, credentials, database)")
    serve.set_defaults(command="serve")

    run = commands.add_parser("run", help="start the whole platform on the demo configuration")
    add_config_option(run)
    run.add_argument("--state", metavar="DIR", default="var",
                     help="where secrets, the private database, logs and runtime files live (default: var)")
    run.set_defaults(command="run")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return handlers()[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
