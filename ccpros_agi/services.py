"""Composition root of the long-running services: everything is wired here, nowhere else.

Processes, so that one can die without the others:
  * ``agi``: the FastAGI server (the IVR and the routing decisions at call time);
  * ``events``: the AMI listener that writes the call journey and widens calls of state-based
    overflow topics, and the HTTP status/API;
  * ``dialer``: callbacks put back into their queue in their turn (ccpros_agi/callbacks/dialer.py).
"""
from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from ccpros_agi import web as webapp
from ccpros_agi import web_supervision
from ccpros_agi.advisors.live import Live
from ccpros_agi.advisors.store import AdvisorStore
from ccpros_agi.advisors.supervision import load_supervisors
from ccpros_agi.agi.fastagi import AGIRequest, FastAGIServer
from ccpros_agi.agi.inbound import InboundDeps, inbound
from ccpros_agi.callbacks.agi import CallbackDeps
from ccpros_agi.ami.client import AMIClient
from ccpros_agi.ami.journey import Journey
from ccpros_agi.ami.widening import Widener
from ccpros_agi.callbacks import agi as callback_agi
from ccpros_agi.callbacks.dialer import Dialer
from ccpros_agi.callbacks.store import CallbackStore
from ccpros_agi.appointments.call_agi import appointment_call_routes
from ccpros_agi.appointments.config import load_appointments, load_credentials
from ccpros_agi.appointments.notifier import Notifier
from ccpros_agi.appointments.senders import dispatcher_for
from ccpros_agi.config import load_config
from ccpros_agi.runtime import Runtime
from ccpros_agi.store import CallStore
from ccpros_agi.store.appointments import AppointmentStore

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

    callback_deps = CallbackDeps(deps, CallbackStore(store.engine))

    async def handle_inbound(req: AGIRequest) -> None:
        await inbound(req, deps)

    def with_callbacks(handler):
        async def handle(req: AGIRequest) -> None:
            await handler(req, callback_deps)
        return handle

    server = FastAGIServer({"/inbound": handle_inbound, "/callback": with_callbacks(callback_agi.callback),
                            "/callback-dial": with_callbacks(callback_agi.callback_dial),
                            "/callback-result": with_callbacks(callback_agi.callback_result),
                            **appointment_call_routes(config, store.engine)})  # appointments' return calls
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

    # advisors' states and the wallboard's live view (issue 6: ccpros_agi/advisors, web_supervision)
    live = Live(config, AdvisorStore(store.engine))

    async def on_event(event) -> None:
        await journey(event)
        if widener is not None:
            await widener.on_event(event)
        await live.on_event(event)

    ami = AMIClient(rt.host, rt.ami_port, rt.ami_user, rt.ami_secret, on_event)
    widener = Widener(ami, store, config)
    live.ami = ami
    await ami.start()
    live_task = asyncio.create_task(live.run(), name="advisors-live")
    widening = asyncio.create_task(widener.run(), name="widening")
    appointments_config = load_appointments(config)  # None: no appointments.yaml, no agenda routes
    appointments = AppointmentStore(store.engine, appointments_config) if appointments_config else None
    app = webapp.make_app(store, ami, config, history_days=config.history_days, appointments=appointments)
    web_supervision.add_routes(app, live=live, store=live.store, ami=ami, config=config,
                               supervisors=load_supervisors(config))
    runner = web.AppRunner(app, access_log=None)
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
        live_task.cancel()
        await runner.cleanup()
        await ami.close()
        await store.close()
        log.info("events_stopped")


async def serve_dialer(rt: Runtime) -> None:
    """The callback dialer: its own AMI connection, its whole state in PostgreSQL (any number may run)."""
    config = load_config(rt.config_dir)
    store = await CallStore.connect(rt.database_url)

    async def ignore(event) -> None:
        return None

    ami = AMIClient(rt.host, rt.ami_port, rt.ami_user, rt.ami_secret, ignore, events="off")
    await ami.start()
    dialer = Dialer(ami, CallbackStore(store.engine), store, config, rt.sounds_dir)
    running = asyncio.create_task(dialer.run(), name="dialer")
    log.info("dialer_ready", callbacks=config.callback is not None)
    stop = _stop_on_signals()
    try:
        await stop.wait()
    finally:
        running.cancel()
        await ami.close()
        await store.close()
        log.info("dialer_stopped")


async def serve_notifier(rt: Runtime) -> None:
    """Sends the appointments' written confirmations and reminders from the outbox (SMTP relay, SMS
    gateway of appointments.yaml; credentials from the environment or var/secrets.yaml, see
    ccpros_agi.appointments.config.load_credentials). Any number may run; ``ccpros run`` starts one."""
    config = load_config(rt.config_dir)
    appointments_config = load_appointments(config)
    stop = _stop_on_signals()
    if appointments_config is None:
        log.info("notifier_idle", reason="no appointments.yaml in the configuration")
        await stop.wait()
        return
    store = await AppointmentStore.connect(rt.database_url, appointments_config)
    send = dispatcher_for(appointments_config.notifications, load_credentials())
    log.info("notifier_ready", smtp=send.email is not None, sms=send.sms is not None)
    try:
        await Notifier(store, send).run(stop)
    finally:
        await send.close()
        await store.close()
        log.info("notifier_stopped")


SERVICES = {"agi": serve_agi, "events": serve_events, "dialer": serve_dialer, "notifier": serve_notifier}
