"""A small AMI client on asyncio streams.

Why not panoramisk's Manager: a wrong secret makes it reconnect silently forever and its
actions need wrapping in timeouts anyway. This client logs in once per connection, fails
loudly on bad credentials, reconnects with a bounded back-off on connection loss, and
gives every action a timeout.
"""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("ccpros.ami")

Message = dict[str, str]
EventHandler = Callable[[Message], Awaitable[None]]


class AMIError(RuntimeError):
    pass


class AMIAuthError(AMIError):
    """Bad credentials: retrying will not help."""


def encode(fields: dict[str, str]) -> bytes:
    lines = []
    for key, value in fields.items():
        value = str(value)
        if any(c in value for c in "\r\n") or any(c in key for c in "\r\n:"):
            raise AMIError(f"AMI field {key!r} contains a line break or colon")
        lines.append(f"{key}: {value}\r\n")
    return ("".join(lines) + "\r\n").encode()


async def read_message(reader: asyncio.StreamReader) -> Message:
    message: Message = {}
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("AMI connection closed")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text:
            if message:
                return message
            continue
        key, sep, value = text.partition(":")
        if sep:
            message.setdefault(key.strip(), value.strip())


class AMIClient:
    def __init__(self, host: str, port: int, username: str, secret: str, on_event: EventHandler,
                 *, events: str = "call,agent,user", action_timeout: float = 5.0) -> None:
        self.host, self.port, self.username, self.secret = host, port, username, secret
        self.on_event = on_event
        self.events = events
        self.action_timeout = action_timeout
        self.connected = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._lists: dict[str, list[Message]] = {}     # ActionID -> events of a list action so far
        self._list_done: dict[str, asyncio.Future[Message]] = {}
        self.sessions = 0                                # logins so far: state read before a reconnect is stale
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ami")

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The connection loop; it ends (with AMIAuthError) only when the credentials are refused."""
        return self._task

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._drop_connection()

    async def action(self, name: str, **fields: str) -> Message:
        if not self._writer or not self.connected.is_set():
            raise AMIError("AMI not connected")
        action_id = f"ccpros-{next(self._ids)}"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            self._writer.write(encode({"Action": name, "ActionID": action_id, **fields}))
            return await asyncio.wait_for(future, self.action_timeout)
        except asyncio.TimeoutError as exc:
            raise AMIError(f"AMI action {name} timed out") from exc
        finally:
            self._pending.pop(action_id, None)

    async def collect(self, name: str, **fields: str) -> list[Message]:
        """A list action (QueueStatus, ...): its events, up to the one that completes the list
        (``EventList: Complete``), without it. The events do not go to the event handler."""
        if not self._writer or not self.connected.is_set():
            raise AMIError("AMI not connected")
        action_id = f"ccpros-{next(self._ids)}"
        loop = asyncio.get_running_loop()
        reply_future: asyncio.Future[Message] = loop.create_future()
        done_future: asyncio.Future[Message] = loop.create_future()   # set by the completing event
        self._pending[action_id] = reply_future
        self._lists[action_id] = []
        self._list_done[action_id] = done_future
        try:
            self._writer.write(encode({"Action": name, "ActionID": action_id, **fields}))
            reply = await asyncio.wait_for(reply_future, self.action_timeout)
            if reply.get("Response") != "Success":
                raise AMIError(f"AMI action {name} failed: {reply.get('Message', '')}")
            await asyncio.wait_for(done_future, self.action_timeout)
            return self._lists[action_id]
        except asyncio.TimeoutError as exc:
            raise AMIError(f"AMI action {name} timed out") from exc
        finally:
            self._pending.pop(action_id, None)
            self._lists.pop(action_id, None)
            self._list_done.pop(action_id, None)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._session()
                delay = 0.5
            except AMIAuthError:
                log.error("ami_login_refused", host=self.host, port=self.port, username=self.username)
                raise
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                log.warning("ami_disconnected", error=str(exc), retry_in=delay)
            finally:
                self._drop_connection()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        banner = await reader.readline()
        if not banner.startswith(b"Asterisk Call Manager"):
            raise ConnectionError(f"not an AMI server: {banner[:60]!r}")
        writer.write(encode({"Action": "Login", "ActionID": "login", "Username": self.username,
                             "Secret": self.secret, "Events": self.events}))
        while True:
            reply = await asyncio.wait_for(read_message(reader), self.action_timeout)
            if reply.get("ActionID") == "login":
                break
        if reply.get("Response") != "Success":
            raise AMIAuthError(reply.get("Message", "login refused"))
        log.info("ami_connected", host=self.host, port=self.port)
        self.sessions += 1
        self.connected.set()
        while True:
            message = await read_message(reader)
            if (items := self._lists.get(message.get("ActionID", ""))) is not None and "Event" in message:
                if message.get("EventList") == "Complete":
                    if (future := self._list_done.get(message["ActionID"])) and not future.done():
                        future.set_result(message)
                else:
                    items.append(message)
            elif "Event" in message:
                try:
                    await self.on_event(message)
                except Exception:  # one bad event must not stop the stream
                    log.exception("ami_event_handler_failed", ami_event=message.get("Event"))
            elif (future := self._pending.get(message.get("ActionID", ""))) and not future.done():
                future.set_result(message)

    def _drop_connection(self) -> None:
        self.connected.clear()
        if self._writer:
            self._writer.close()
            self._writer = None
        for future in [*self._pending.values(), *self._list_done.values()]:
            if not future.done():
                future.set_exception(AMIError("AMI connection lost"))


async def every(interval_s: float, tick: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``tick`` every ``interval_s`` seconds, for ever: an AMI hiccup (not connected, a timeout) is
    logged as skipped, anything else as failed, and the next round comes anyway."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await tick()
        except AMIError as exc:
            log.warning(f"{name}_skipped", error=str(exc))
        except Exception:
            log.exception(f"{name}_failed")

