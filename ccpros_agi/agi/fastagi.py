"""A small FastAGI server on ``asyncio.start_server``.

Protocol facts (Asterisk ``res/res_agi.c``), relied upon below:

* On connect Asterisk sends ``agi_network: yes``, ``agi_network_script: <script>``
  (only when the URL has a path; it is the text after ``agi://host[:port]/``,
  query string included, no leading slash), then ``agi_request``, ``agi_channel``,
  ... ``agi_arg_1..n``, one ``key: value`` per line, and an empty line.
* Each command is one line; Asterisk reads at most 2047 bytes of it (AGI_BUF_LEN),
  the rest would be taken as a further command.  Arguments are split on blanks
  unless inside double quotes, where backslash escapes the next character.
* Replies: ``200 result=<r>[ (<data>)][ endpos=<n>]``; ``510 Invalid or unknown
  command``; ``511 Command Not Permitted on a dead channel[ or intercept routine]``
  (a command that cannot run once the channel hung up); ``520 Invalid command
  syntax.  Proper usage not available.`` or the multi-line ``520-...`` usage text
  ending with ``520 End of proper usage.``.
* When the channel hangs up Asterisk writes an unsolicited ``HANGUP`` line (unless
  the channel variable AGISIGHUP is "no") and keeps serving commands in "dead"
  mode: GET/SET VARIABLE, GET FULL VARIABLE, VERBOSE, EXEC, NOOP still work, the
  others answer 511.  A command interrupted by the hangup first gets its own reply
  (e.g. ``200 result=-1 endpos=1234``) and the ``HANGUP`` line follows it.
* GET DATA: ``200 result=<digits>`` (possibly empty), ``200 result=<digits> (timeout)``
  when the time ran out, ``200 result=-1`` on hangup.  STREAM FILE:
  ``200 result=<ascii code of the digit, 0 if none> endpos=<n>``, ``-1`` on hangup
  *or* when the file cannot be opened.  GET VARIABLE: ``200 result=1 (<value>)``
  or ``200 result=0`` when unset.  EXEC: ``200 result=<app return>``, ``-2`` when
  the application does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import structlog

from ccpros_agi.logging import get_logger

__all__ = [
    "AGIError",
    "AGIReply",
    "AGIRequest",
    "ChannelHungUp",
    "DigitsResult",
    "FastAGIServer",
    "Handler",
    "normalize_path",
    "quote_arg",
    "split_script",
]

MAX_ENV_LINES = 256
MAX_ENV_BYTES = 64 * 1024
ENV_TIMEOUT = 10.0  # seconds for Asterisk to send the whole environment block
MAX_COMMAND_BYTES = 2047  # res_agi.c reads commands into a 2048-byte buffer (incl. NUL)
MAX_USAGE_LINES = 500  # bound on a multi-line 520 reply
MEDIA_TIMEOUT = 600.0  # default reply timeout for STREAM FILE / GET DATA (prompt length)

_STATUS_RE = re.compile(r"^(\d{3})([ -])(.*)$")
_RESULT_RE = re.compile(r"^result=(\S*)(?: \((.*)\))?(?: endpos=-?\d+)?\s*$")
_RESULT_PREFIX_RE = re.compile(r"^result=(\S*)(?: \(([^)]*)\))?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SET_NAME_RE = re.compile(r"^[A-Za-z0-9_()]+$")
_GET_NAME_RE = re.compile(r"^[A-Za-z0-9_(),.:\-]+$")
_APP_RE = re.compile(r"^[A-Za-z0-9_]+$")
_SOUND_RE = re.compile(r"^[A-Za-z0-9_/.:&\-]+$")
_ESCAPE_DIGITS_RE = re.compile(r"^[0-9*#A-D]*$")
_DIGITS_RE = re.compile(r"^[0-9*#A-D]*$")


@dataclass(frozen=True)
class AGIReply:
    code: int
    result: str  # text after "result=" ("" for 5xx replies)
    data: str | None  # text inside the parentheses, e.g. "timeout" or a variable's value
    raw: str  # the reply line(s) as received, "\n"-joined for multi-line replies


class AGIError(Exception):
    """An AGI command failed (5xx reply, unusable connection, no reply in time)."""

    def __init__(self, message: str, reply: AGIReply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class ChannelHungUp(AGIError):
    """The channel hung up (HANGUP line, 511 reply, a hangup result, or Asterisk closed the socket)."""


@dataclass(frozen=True)
class DigitsResult:
    digits: str
    timed_out: bool


Handler = Callable[["AGIRequest"], Awaitable[None]]


def normalize_path(path: str) -> str:
    """``"inbound/"``, ``"//inbound"``, ``"/inbound"`` -> ``"/inbound"``; ``""`` -> ``"/"``."""
    segments = [s for s in unquote(path).split("/") if s not in ("", ".")]
    return "/" + "/".join(segments)


def split_script(script: str) -> tuple[str, dict[str, str]]:
    """``"inbound?foo=1"`` -> ``("/inbound", {"foo": "1"})`` (first value of each key)."""
    path, _, query = script.partition("?")
    params = {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}
    return normalize_path(path), params


def quote_arg(value: str) -> str:
    """One AGI argument: control characters (newlines...) removed, ``\\`` and ``"`` escaped, quoted."""
    cleaned = _CONTROL_RE.sub("", value)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    return text


class _ProbeClosed(Exception):
    """A connection closed without sending a byte: a health probe, not Asterisk."""


class _BadEnvironment(Exception):
    pass


async def _read_env(reader: asyncio.StreamReader) -> dict[str, str]:
    """The ``agi_*`` block up to its empty line, keys without the ``agi_`` prefix."""
    env: dict[str, str] = {}
    size = 0
    lines = 0
    while True:
        try:
            raw = await reader.readline()
        except ValueError as exc:  # a line longer than the stream limit
            raise _BadEnvironment("line too long") from exc
        if not raw.endswith(b"\n"):
            if not raw and size == 0:
                raise _ProbeClosed()
            raise _BadEnvironment("connection closed before the end of the environment")
        size += len(raw)
        if size > MAX_ENV_BYTES:
            raise _BadEnvironment(f"environment larger than {MAX_ENV_BYTES} bytes")
        line = _decode(raw)
        if line == "":
            return env
        lines += 1
        if lines > MAX_ENV_LINES:
            raise _BadEnvironment(f"environment longer than {MAX_ENV_LINES} lines")
        key, sep, value = line.partition(":")
        if not sep:
            raise _BadEnvironment(f"malformed environment line: {line[:80]!r}")
        key = key.strip()
        env[key.removeprefix("agi_")] = value[1:] if value.startswith(" ") else value


def _parse_reply(code: int, rest: str, raw: str) -> AGIReply:
    if code != 200:
        return AGIReply(code=code, result="", data=None, raw=raw)
    match = _RESULT_RE.match(rest) or _RESULT_PREFIX_RE.match(rest)
    if match is None:
        return AGIReply(code=code, result="", data=None, raw=raw)
    return AGIReply(code=code, result=match.group(1), data=match.group(2), raw=raw)


class AGIRequest:
    """One FastAGI session: the channel's environment and the commands to drive it."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: dict[str, str],
        *,
        logger: Any,
        command_timeout: float = 30.0,
    ) -> None:
        self.env = env
        self.path, self.params = split_script(env.get("network_script", ""))
        self.args = self._collect_args(env)
        self.hungup = False
        self.log = logger.bind(uniqueid=env.get("uniqueid"), channel=env.get("channel"), path=self.path)
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout
        self._lock = asyncio.Lock()
        self._broken: str | None = None  # why the connection can no longer be used

    @staticmethod
    def _collect_args(env: Mapping[str, str]) -> list[str]:
        args: list[str] = []
        while f"arg_{len(args) + 1}" in env:
            args.append(env[f"arg_{len(args) + 1}"])
        return args

    def bind(self, **kw: Any) -> None:
        """Add keys to this session's log lines (and to every log line of this task, via contextvars)."""
        self.log = self.log.bind(**kw)
        structlog.contextvars.bind_contextvars(**kw)

    # -- protocol ---------------------------------------------------------

    async def command(self, line: str, timeout: float | None = None) -> AGIReply:
        """Send one command and return its reply.

        ``timeout`` in seconds: ``None`` = the server's ``command_timeout``, ``math.inf`` = no limit.
        HANGUP lines met before the reply are recorded (``hungup``) and skipped.
        Raises ChannelHungUp on 511 or when Asterisk closed the connection, AGIError on other
        non-200 replies and when no reply came in time (the session is unusable afterwards).
        """
        if any(c in line for c in "\r\n\0"):
            raise ValueError(f"AGI command must be a single line: {line!r}")
        data = (line + "\n").encode("utf-8")
        if len(data) > MAX_COMMAND_BYTES:
            raise ValueError(f"AGI command longer than {MAX_COMMAND_BYTES - 1} bytes")
        limit = self._command_timeout if timeout is None else timeout
        async with self._lock:
            if self._broken is not None:
                raise AGIError(f"AGI connection unusable ({self._broken}); not sent: {line!r}")
            self.log.debug("agi_command", command=line)
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError as exc:
                self._broken = "write failed"
                self.hungup = True
                raise ChannelHungUp(f"connection lost while sending {line!r}") from exc
            try:
                reply = await asyncio.wait_for(self._read_reply(), None if math.isinf(limit) else limit)
            except asyncio.TimeoutError as exc:
                self._broken = "reply timed out"
                raise AGIError(f"no reply to {line!r} within {limit}s") from exc
            except BaseException:
                if self._broken is None:
                    self._broken = "reply interrupted"
                raise
        self.log.debug("agi_reply", command=line, reply=reply.raw)
        if reply.code == 511:
            self.hungup = True
            raise ChannelHungUp(f"{line!r}: {reply.raw}", reply)
        if reply.code != 200:
            raise AGIError(f"{line!r}: {reply.raw}", reply)
        return reply

    async def _readline(self) -> str:
        try:
            raw = await self._reader.readline()
        except ValueError as exc:
            self._broken = "reply line too long"
            raise AGIError("reply line too long") from exc
        if not raw.endswith(b"\n"):
            self._broken = "closed by Asterisk"
            self.hungup = True
            raise ChannelHungUp("Asterisk closed the AGI connection")
        return _decode(raw)

    async def _read_reply(self) -> AGIReply:
        while True:
            line = await self._readline()
            if line == "HANGUP":
                if not self.hungup:
                    self.hungup = True
                    self.log.info("agi_hangup_received")
                continue
            if line.strip() == "":
                continue
            match = _STATUS_RE.match(line)
            if match is None:
                self._broken = "unexpected line"
                raise AGIError(f"unexpected line from Asterisk: {line!r}")
            code = int(match.group(1))
            if match.group(2) == " ":
                return _parse_reply(code, match.group(3), line)
            lines = [line]  # "520-..." usage text up to "520 End of proper usage."
            while not lines[-1].startswith(f"{code} "):
                if len(lines) > MAX_USAGE_LINES:
                    self._broken = "endless multi-line reply"
                    raise AGIError(f"multi-line {code} reply longer than {MAX_USAGE_LINES} lines")
                lines.append(await self._readline())
            return AGIReply(code=code, result="", data=None, raw="\n".join(lines))

    def _hung_up(self, message: str, reply: AGIReply | None = None) -> ChannelHungUp:
        self.hungup = True
        return ChannelHungUp(message, reply)

    # -- commands ---------------------------------------------------------

    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        if reply.result == "-1":
            raise self._hung_up("ANSWER failed: channel hung up", reply)

    async def hangup(self) -> None:
        """Hang up the channel; a no-op if it already hung up."""
        if self.hungup:
            return
        with contextlib.suppress(ChannelHungUp):
            await self.command("HANGUP")

    async def get_variable(self, name: str) -> str | None:
        """Value of a channel variable or function (``CHANNEL(linkedid)``); None when unset."""
        if not _GET_NAME_RE.match(name):
            raise ValueError(f"invalid variable name: {name!r}")
        reply = await self.command(f"GET VARIABLE {name}")
        return (reply.data or "") if reply.result == "1" else None

    async def get_full_variable(self, expr: str) -> str | None:
        """Evaluate an expression such as ``"${CALLERID(num)}-${EXTEN}"``; None on failure."""
        reply = await self.command(f"GET FULL VARIABLE {quote_arg(expr)}")
        return (reply.data or "") if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        if not _SET_NAME_RE.match(name):
            raise ValueError(f"invalid variable name: {name!r}")
        await self.command(f"SET VARIABLE {name} {quote_arg(value)}")

    async def stream_file(
        self, path: str, escape_digits: str = "", *, timeout: float = MEDIA_TIMEOUT
    ) -> str | None:
        """Play a sound (no extension); returns the escape digit pressed, or None.

        Raises ChannelHungUp when the caller hung up, AGIError when the file could not be played.
        """
        if not _SOUND_RE.match(path):
            raise ValueError(f"invalid sound file name: {path!r}")
        if not _ESCAPE_DIGITS_RE.match(escape_digits):
            raise ValueError(f"invalid escape digits: {escape_digits!r}")
        reply = await self.command(f'STREAM FILE {path} "{escape_digits}"', timeout=timeout)
        try:
            code = int(reply.result)
        except ValueError:
            raise AGIError(f"unexpected STREAM FILE reply: {reply.raw!r}", reply) from None
        if code < 0:
            # -1 means "hung up" or "cannot open the file".  After a hangup Asterisk writes
            # HANGUP right after this reply and before reading our next command, so a NOOP
            # (allowed on a dead channel) tells the two apart.
            if not self.hungup:
                with contextlib.suppress(ChannelHungUp):
                    await self.command("NOOP")
            if self.hungup:
                raise self._hung_up(f"channel hung up during STREAM FILE {path}", reply)
            raise AGIError(f"STREAM FILE {path} failed (missing sound file?)", reply)
        return chr(code) if code > 0 else None

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        """Say ``digits`` one by one in the channel's language; returns the escape digit pressed, or None."""
        if not digits.isdigit() or not _ESCAPE_DIGITS_RE.match(escape_digits):
            raise ValueError(f"invalid digits to say: {digits!r} / {escape_digits!r}")
        reply = await self.command(f'SAY DIGITS {digits} "{escape_digits}"', timeout=MEDIA_TIMEOUT)
        if reply.result == "-1":
            raise self._hung_up("channel hung up during SAY DIGITS", reply)
        code = int(reply.result) if reply.result.isdigit() else 0
        return chr(code) if code > 0 else None

    async def say_datetime(self, epoch: int, escape_digits: str = "", format: str = "", timezone: str = "") -> str | None:
        """Say a moment in the channel's language (SayUnixTime format); returns the escape digit pressed."""
        if not _ESCAPE_DIGITS_RE.match(escape_digits) or any(c in format + timezone for c in '"\r\n'):
            raise ValueError("invalid SAY DATETIME arguments")
        reply = await self.command(f'SAY DATETIME {int(epoch)} "{escape_digits}" "{format}" "{timezone}"',
                                   timeout=MEDIA_TIMEOUT)
        if reply.result == "-1":
            raise self._hung_up("channel hung up during SAY DATETIME", reply)
        code = int(reply.result) if reply.result.isdigit() else 0
        return chr(code) if code > 0 else None

    async def get_data(
        self, path: str, timeout_ms: int, max_digits: int, *, timeout: float | None = None
    ) -> DigitsResult:
        """Play ``path`` and collect up to ``max_digits`` DTMF digits (``#`` ends input)."""
        if not _SOUND_RE.match(path):
            raise ValueError(f"invalid sound file name: {path!r}")
        if timeout_ms < 0 or max_digits < 1:
            raise ValueError("timeout_ms must be >= 0 and max_digits >= 1")
        if timeout is None:
            timeout = MEDIA_TIMEOUT + timeout_ms / 1000 * (max_digits + 1)
        reply = await self.command(f"GET DATA {path} {int(timeout_ms)} {int(max_digits)}", timeout=timeout)
        if reply.result == "-1":
            raise self._hung_up(f"channel hung up during GET DATA {path}", reply)
        if not _DIGITS_RE.match(reply.result):
            raise AGIError(f"unexpected GET DATA reply: {reply.raw!r}", reply)
        return DigitsResult(digits=reply.result, timed_out=reply.data == "timeout")

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote_arg(message)} {int(level)}")

    async def exec(self, app: str, args: str = "", *, timeout: float = math.inf) -> AGIReply:
        """Run a dialplan application; returns its reply (``result`` is the application's return).

        No reply timeout by default: Dial/Queue last as long as the call.
        Raises AGIError when the application does not exist (result -2).
        """
        if not _APP_RE.match(app):
            raise ValueError(f"invalid application name: {app!r}")
        line = f"EXEC {app} {quote_arg(args)}" if args else f"EXEC {app}"
        reply = await self.command(line, timeout=timeout)
        if reply.result == "-2":
            raise AGIError(f"application {app} not found", reply)
        return reply


def _is_async_callable(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - objects with an async __call__
    )


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


class FastAGIServer:
    """Accepts FastAGI connections and runs the handler registered for the script path."""

    def __init__(
        self, routes: Mapping[str, Handler], *, logger: Any = None, command_timeout: float = 30.0
    ) -> None:
        self._routes: dict[str, Handler] = {}
        for path, handler in routes.items():
            if not _is_async_callable(handler):
                raise TypeError(f"FastAGI handler for {path!r} must be an async function, got {handler!r}")
            self._routes[normalize_path(path)] = handler
        self._log = logger if logger is not None else get_logger(__name__)
        self._command_timeout = command_timeout
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._server = await asyncio.start_server(self._on_connection, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        self._log.info("fastagi_listening", host=host, port=bound, routes=sorted(self._routes))
        return bound

    async def serve_forever(self) -> None:
        """Wait until ``close()``; cancelling this coroutine closes the server."""
        if self._server is None:
            raise RuntimeError("call start() first")
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop accepting, cancel the running sessions and wait for them, close the sockets."""
        if self._server is None:
            return
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        self._server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        await self._server.wait_closed()
        self._log.info("fastagi_closed", cancelled_sessions=len(sessions))
        self._closed.set()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            if not self._closing:
                await self._session(reader, writer)
        except Exception:  # never let a session take the server down
            self._log.exception("agi_session_failed")
        finally:
            self._sessions.discard(task)
            await _close_writer(writer)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Each connection runs in its own task, hence its own contextvars copy.
        structlog.contextvars.clear_contextvars()
        peer = writer.get_extra_info("peername")
        try:
            env = await asyncio.wait_for(_read_env(reader), ENV_TIMEOUT)
        except _ProbeClosed:
            self._log.debug("agi_probe", peer=str(peer))
            return
        except (_BadEnvironment, asyncio.TimeoutError) as exc:
            self._log.warning("agi_bad_environment", peer=str(peer), reason=str(exc) or "timeout")
            return
        request = AGIRequest(reader, writer, env, logger=self._log, command_timeout=self._command_timeout)
        structlog.contextvars.bind_contextvars(uniqueid=env.get("uniqueid"), path=request.path)
        handler = self._routes.get(request.path)
        if handler is None:
            request.log.warning("agi_unknown_route", script=env.get("network_script"))
            return
        request.log.info("agi_session_started", peer=str(peer), args=request.args)
        try:
            await handler(request)
        except ChannelHungUp as exc:
            request.log.info("agi_channel_hung_up", reason=str(exc))
        except asyncio.CancelledError:
            request.log.info("agi_session_cancelled")
            raise
        except Exception:
            request.log.exception("agi_handler_failed")
        else:
            request.log.info("agi_session_finished", hungup=request.hungup)
