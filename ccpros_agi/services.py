"""Composition root of the long-running services: everything is wired here, nowhere else.

Two processes, so that one can die without the other:
  * ``agi``: the FastAGI server (the IVR and the routing decisions at call time);
  * ``events``: the AMI listener that writes the call journey and widens calls of state-based
    overflow topics, and the HTTP status/API.
"""
from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from ccpros_agi import web as webapp
from ccpros_agi.agi.fastagi import AGIRequest, FastAGIServer
from ccpros_agi.agi.inbound import InboundDeps, inbound
from ccpros_agi.ami.client import AMIClient
from ccpros_agi.ami.journey import Journey
from ccpros_agi.ami.widening import Widener
from ccpros_agi.config import load_config
from ccpros_agi.runtime import Runtime
from ccpros_agi.store import CallStore

log = structlog.get_logger("ccpros.services")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_agi(rt: Runtime) -> None:
    config = load_config(rt.config_dir)
    store = await CallStore.connect(rt.database_url)
    deps = InboundDeps(config=config, store=store, sounds_dir=rt.sounds_dir)

    async def handle_inbound(req: AGIRequest) -> None:
        await inbound(req, deps)

    server = FastAGIServer({"/inbound": handle_inbound})
    stop = _stop_on_signals()
    port = await server.start(rt.host, rt.agi_port)
    log.info("agi_ready", port=port)
    try:
        await stop.wait()
    finally:
        await server.close()
        await store.close()
        log.info("agi_stopped")


async def serve_events(rt: Runtime) -> None:
    config = load_config(rt.config_dir)
    store = await CallStore.connect(rt.database_url)
    advisors = {a.id: a.site for a in config.advisors}
    journey = Journey(store, advisors.get, config.directory.internal_lines())
    widener: Widener | None = None

    async def on_event(event) -> None:
        await journey(event)
        if widener is not None:
            await widener.on_event(event)

    ami = AMIClient(rt.host, rt.ami_port, rt.ami_user, rt.ami_secret, on_event)
    widener = Widener(ami, store, config)
    await ami.start()
    widening = asyncio.create_task(widener.run(), name="widening")
    runner = web.AppRunner(webapp.make_app(store, ami, config, history_days=config.history_days),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, rt.host, rt.web_port).start()
    log.info("web_ready", url=f"http://{rt.host}:{rt.web_port}/")
    stop = _stop_on_signals()
    stopped = asyncio.create_task(stop.wait())
    try:
        # a refused AMI login ends the AMI task: exit non-zero rather than run blind
        await asyncio.wait({stopped, ami.task}, return_when=asyncio.FIRST_COMPLETED)
        if ami.task.done() and not ami.task.cancelled() and ami.task.exception():
            raise SystemExit(f"AMI login refused: {ami.task.exception()}")
    finally:
        stopped.cancel()
        widening.cancel()
        await runner.cleanup()
        await ami.close()
        await store.close()
        log.info("events_stopped")


SERVICES = {"agi": serve_agi, "events": serve_events}
