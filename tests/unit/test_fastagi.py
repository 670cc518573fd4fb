"""FastAGI server against a fake Asterisk speaking the protocol over TCP."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import structlog

from ccpros_agi.agi.fastagi import (
    AGIError,
    AGIRequest,
    ChannelHungUp,
    DigitsResult,
    FastAGIServer,
    Handler,
)
from ccpros_agi.logging import configure_logging, get_logger

STEP = 5.0  # seconds; bound on every wait so a bug fails instead of hanging


def env_block(script: str | None = "inbound", **extra: str) -> dict[str, str]:
    env = {"agi_network": "yes"}
    if script is not None:
        env["agi_network_script"] = script
    env.update(
        {
            "agi_request": f"agi://127.0.0.1:4573/{script or ''}",
            "agi_channel": "PJSIP/trunk-00000001",
            "agi_language": "fr",
            "agi_type": "PJSIP",
            "agi_uniqueid": "1700000000.1",
            "agi_version": "22.0.0",
            "agi_callerid": "0612345678",
            "agi_calleridname": "Dupont: Jean",
            "agi_dnid": "0800123456",
            "agi_context": "from-trunk",
            "agi_extension": "0800123456",
            "agi_priority": "1",
            "agi_accountcode": "",
        }
    )
    env.update(extra)
    return env


class FakeAsterisk:
    """The Asterisk side of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, env: dict[str, str] | None = None) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fake = cls(reader, writer)
        block = env if env is not None else env_block()
        fake.send_raw("".join(f"{key}: {value}\n" for key, value in block.items()).encode() + b"\n")
        return fake

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send(self, *lines: str) -> None:
        self.send_raw("".join(line + "\n" for line in lines).encode())

    async def recv(self) -> str:
        line = await asyncio.wait_for(self.reader.readline(), STEP)
        assert line.endswith(b"\n"), f"connection closed, got {line!r}"
        return line.decode()[:-1]

    async def expect(self, command: str, *reply: str) -> None:
        assert await self.recv() == command
        self.send(*reply)

    async def closed_by_server(self) -> bool:
        """True when the server closed the connection without sending anything more."""
        try:
            rest = await asyncio.wait_for(self.reader.read(), STEP)
        except ConnectionResetError:  # closed while our data was still unread
            return True
        return rest == b""

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[tuple[FastAGIServer, int]]]]:
    servers: list[FastAGIServer] = []

    async def _serve(routes: dict[str, Handler], **kw: Any) -> tuple[FastAGIServer, int]:
        server = FastAGIServer(routes, **kw)
        servers.append(server)
        return server, await server.start()

    yield _serve
    for server in servers:
        await asyncio.wait_for(server.close(), STEP)


@pytest.fixture
def log_output() -> Any:
    stream = io.StringIO()
    configure_logging("DEBUG", json=True, stream=stream)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    structlog.reset_defaults()
    logging.getLogger().handlers = []


def recorder() -> tuple[dict[str, Any], asyncio.Event]:
    return {}, asyncio.Event()


# -- routing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "params"),
    [
        ("inbound?foo=1", {"foo": "1"}),
        ("inbound", {}),
        ("/inbound/", {}),
        ("inbound/?foo=1&bar=&foo=2", {"foo": "1", "bar": ""}),
    ],
)
async def test_routes_on_path_without_query_string(serve: Any, script: str, params: dict[str, str]) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        seen.update(path=req.path, params=req.params, args=req.args, env=req.env)
        done.set()

    _, port = await serve({"inbound": inbound})
    fake = await FakeAsterisk.connect(port, env_block(script, agi_arg_1="fr", agi_arg_2="a b"))
    await asyncio.wait_for(done.wait(), STEP)
    assert seen["path"] == "/inbound"
    assert seen["params"] == params
    assert seen["args"] == ["fr", "a b"]
    env = seen["env"]
    assert env["uniqueid"] == "1700000000.1"
    assert env["callerid"] == "0612345678"
    assert env["calleridname"] == "Dupont: Jean"  # split on the first colon only
    assert env["dnid"] == "0800123456"
    assert env["accountcode"] == ""
    assert env["network_script"] == script
    assert await fake.closed_by_server()


async def test_unknown_route_closes_connection_without_a_command(serve: Any) -> None:
    called = False

    async def inbound(req: AGIRequest) -> None:
        nonlocal called
        called = True

    server, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port, env_block("outbound?foo=1"))
    assert await fake.closed_by_server()
    fake = await FakeAsterisk.connect(port, env_block(None))  # AGI(agi://host) without a path
    assert await fake.closed_by_server()
    assert not called
    assert server.active_sessions == 0


def test_non_async_handler_rejected() -> None:
    def sync_handler(req: AGIRequest) -> None:
        pass

    with pytest.raises(TypeError):
        FastAGIServer({"/inbound": sync_handler})  # type: ignore[dict-item]


async def test_oversized_environment_is_rejected(serve: Any) -> None:
    called = False

    async def inbound(req: AGIRequest) -> None:
        nonlocal called
        called = True

    _, port = await serve({"/inbound": inbound})
    too_many = env_block() | {f"agi_x{i}": "y" for i in range(300)}
    fake = await FakeAsterisk.connect(port, too_many)
    assert await fake.closed_by_server()
    for too_big in (
        env_block(agi_calleridname="x" * 70_000),  # one line over 64 KiB
        env_block() | {f"agi_x{i}": "y" * 400 for i in range(200)},  # 200 lines, 80 KB in all
    ):
        fake = await FakeAsterisk.connect(port, too_big)
        assert await fake.closed_by_server()
    assert not called


# -- replies -----------------------------------------------------------------


async def test_get_data_timeout_empty_and_digits(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        seen["results"] = [await req.get_data("custom/menu", 5000, 4) for _ in range(4)]
        try:
            await req.get_data("custom/menu", 5000, 4)
        except ChannelHungUp:
            seen["hungup"] = req.hungup
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    replies = ("200 result=12", "200 result= (timeout)", "200 result=", "200 result=1 (timeout)", "200 result=-1")
    for reply in replies:
        await fake.expect("GET DATA custom/menu 5000 4", reply)
    await asyncio.wait_for(done.wait(), STEP)
    assert seen["results"] == [
        DigitsResult("12", False),
        DigitsResult("", True),
        DigitsResult("", False),
        DigitsResult("1", True),
    ]
    assert seen["hungup"] is True


async def test_hangup_line_before_a_reply_is_skipped(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        seen["before"] = req.hungup
        seen["first"] = await req.get_variable("FOO")
        seen["after"] = req.hungup
        seen["second"] = await req.get_variable("BAR")
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect("GET VARIABLE FOO", "HANGUP", "200 result=1 (foo value)")
    await fake.expect("GET VARIABLE BAR", "200 result=0")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"before": False, "first": "foo value", "after": True, "second": None}


async def test_hangup_between_commands_does_not_shift_replies(serve: Any) -> None:
    """The panoramisk fault: caller hangs up mid-prompt, later answers must not be shifted."""
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        try:
            await req.stream_file("custom/welcome", "0123456789")
        except ChannelHungUp:
            seen["stream"] = "hungup"
        seen["linkedid"] = await req.get_variable("CHANNEL(linkedid)")
        seen["x"] = await req.get_full_variable("${X}")
        seen["hungup"] = req.hungup
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    # Asterisk: the interrupted command's reply, then HANGUP; next commands run in dead mode.
    await fake.expect('STREAM FILE custom/welcome "0123456789"', "200 result=-1 endpos=1234", "HANGUP")
    await fake.expect("NOOP", "200 result=0")
    await fake.expect("GET VARIABLE CHANNEL(linkedid)", "200 result=1 (1700000000.0)")
    await fake.expect('GET FULL VARIABLE "${X}"', "200 result=1 ()")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"stream": "hungup", "linkedid": "1700000000.0", "x": "", "hungup": True}


async def test_stream_file_digit_none_and_missing_file(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        seen["digit"] = await req.stream_file("custom/menu", "12#")
        seen["none"] = await req.stream_file("custom/menu")
        try:
            await req.stream_file("custom/missing")
        except ChannelHungUp:
            seen["missing"] = "hungup"
        except AGIError:
            seen["missing"] = "error"
        seen["hungup"] = req.hungup
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect('STREAM FILE custom/menu "12#"', "200 result=49 endpos=8000")
    await fake.expect('STREAM FILE custom/menu ""', "200 result=0 endpos=16000")
    await fake.expect('STREAM FILE custom/missing ""', "200 result=-1 endpos=0")
    await fake.expect("NOOP", "200 result=0")  # channel alive: no HANGUP line
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"digit": "1", "none": None, "missing": "error", "hungup": False}


async def test_511_raises_channel_hung_up(serve: Any, log_output: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        try:
            await req.answer()
        except ChannelHungUp as exc:
            seen["reply"] = exc.reply
            seen["hungup"] = req.hungup
        await req.hangup()  # no-op once hung up
        done.set()
        await req.stream_file("custom/bye")  # uncaught: logged at info, not as a failure

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect("ANSWER", "511 Command Not Permitted on a dead channel or intercept routine")
    await asyncio.wait_for(done.wait(), STEP)
    await fake.expect('STREAM FILE custom/bye ""', "511 Command Not Permitted on a dead channel")
    assert await fake.closed_by_server()
    assert seen["reply"].code == 511
    assert seen["hungup"] is True
    events = [line["event"] for line in log_output()]
    assert "agi_channel_hung_up" in events
    assert "agi_handler_failed" not in events
    [hung] = [line for line in log_output() if line["event"] == "agi_channel_hung_up"]
    assert hung["level"] == "info"


async def test_5xx_replies_raise_agi_error_and_keep_alignment(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        for line in ("FOO BAR", "GET DATA"):
            try:
                await req.command(line)
            except AGIError as exc:
                seen[line] = (type(exc), exc.reply.code if exc.reply else None)
        seen["next"] = await req.get_variable("A")
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect("FOO BAR", "510 Invalid or unknown command")
    await fake.expect(
        "GET DATA",
        "520-Invalid command syntax.  Proper usage follows:",
        " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]",
        "",
        "200 result=1 (this line is usage text, not a reply)",
        "520 End of proper usage.",
    )
    await fake.expect("GET VARIABLE A", "200 result=1 (a)")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"FOO BAR": (AGIError, 510), "GET DATA": (AGIError, 520), "next": "a"}


async def test_reply_decoding(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        seen["parens"] = await req.get_variable("A")
        seen["crlf"] = await req.get_variable("B")
        seen["latin1"] = await req.get_variable("C")
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect("GET VARIABLE A", "200 result=1 (a (b) c)")
    assert await fake.recv() == "GET VARIABLE B"
    fake.send_raw(b"200 result=1 (x)\r\n")
    assert await fake.recv() == "GET VARIABLE C"
    fake.send_raw(b"200 result=1 (caf\xe9)\n")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"parens": "a (b) c", "crlf": "x", "latin1": "caf\ufffd"}


async def test_set_variable_quotes_escapes_and_strips_newlines(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        await req.set_variable("NOTE", 'say "hi" \\ bye\nEXEC Dial\r\x00')
        await req.verbose("line1\nline2", 3)
        for bad in (lambda: req.set_variable("A B", "x"), lambda: req.command("NOOP\nHANGUP")):
            try:
                await bad()
            except ValueError:
                seen.setdefault("rejected", 0)
                seen["rejected"] += 1
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect('SET VARIABLE NOTE "say \\"hi\\" \\\\ byeEXEC Dial"', "200 result=1")
    await fake.expect('VERBOSE "line1line2" 3', "200 result=1")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"rejected": 2}
    assert await fake.closed_by_server()  # nothing else was sent


async def test_reply_timeout_makes_session_unusable(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        for name in ("A", "B"):
            try:
                await req.get_variable(name)
            except AGIError as exc:
                seen[name] = str(exc)
        done.set()

    _, port = await serve({"/inbound": inbound}, command_timeout=0.2)
    fake = await FakeAsterisk.connect(port)
    assert await fake.recv() == "GET VARIABLE A"  # never answered
    await asyncio.wait_for(done.wait(), STEP)
    assert "no reply" in seen["A"]
    assert "unusable" in seen["B"]
    assert await fake.closed_by_server()  # B was never sent


async def test_connection_closed_by_asterisk_is_a_hangup(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        try:
            await req.get_variable("A")
        except ChannelHungUp:
            seen["hungup"] = req.hungup
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    assert await fake.recv() == "GET VARIABLE A"
    fake.close()
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"hungup": True}


# -- server life ---------------------------------------------------------------


async def test_handler_exception_does_not_kill_the_server(serve: Any, log_output: Any) -> None:
    seen, done = recorder()

    async def broken(req: AGIRequest) -> None:
        raise RuntimeError("boom")

    async def inbound(req: AGIRequest) -> None:
        seen["value"] = await req.get_variable("A")
        done.set()

    _, port = await serve({"/broken": broken, "/inbound": inbound})
    fake = await FakeAsterisk.connect(port, env_block("broken"))
    assert await fake.closed_by_server()
    fake = await FakeAsterisk.connect(port)
    await fake.expect("GET VARIABLE A", "200 result=1 (ok)")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"value": "ok"}
    [failed] = [line for line in log_output() if line["event"] == "agi_handler_failed"]
    assert failed["level"] == "error"
    assert "RuntimeError: boom" in failed["exception"]
    assert failed["path"] == "/broken"


async def test_close_with_a_session_in_flight(serve: Any) -> None:
    seen, started = recorder()

    async def inbound(req: AGIRequest) -> None:
        started.set()
        try:
            await req.get_data("custom/menu", 5000, 4)
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    server, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    assert await fake.recv() == "GET DATA custom/menu 5000 4"
    await asyncio.wait_for(started.wait(), STEP)
    assert server.active_sessions == 1
    serving = asyncio.create_task(server.serve_forever())
    await asyncio.wait_for(server.close(), STEP)
    assert seen == {"cancelled": True}
    assert server.active_sessions == 0
    assert await fake.closed_by_server()
    await asyncio.wait_for(serving, STEP)  # serve_forever returns once closed
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_log_lines_of_a_session_carry_the_bound_linkedid(serve: Any, log_output: Any) -> None:
    done = asyncio.Event()
    other_logger = get_logger("ccpros_agi.routing")

    async def inbound(req: AGIRequest) -> None:
        req.bind(linkedid="1700000000.0")
        req.log.info("ivr_started")
        other_logger.info("route_chosen", queue="sales")  # not bound: contextvars
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await asyncio.wait_for(done.wait(), STEP)
    assert await fake.closed_by_server()
    lines = {line["event"]: line for line in log_output()}
    for event in ("ivr_started", "route_chosen", "agi_session_finished"):
        assert lines[event]["linkedid"] == "1700000000.0"
        assert lines[event]["uniqueid"] == "1700000000.1"
        assert lines[event]["path"] == "/inbound"
        assert lines[event]["timestamp"].endswith("Z")
    assert lines["route_chosen"]["logger"] == "ccpros_agi.routing"
    assert "linkedid" not in lines["fastagi_listening"]  # the server's own context is untouched


async def test_answer_exec_and_hangup(serve: Any) -> None:
    seen, done = recorder()

    async def inbound(req: AGIRequest) -> None:
        await req.answer()
        seen["dial"] = (await req.exec("Dial", 'PJSIP/100,30,"x"')).result
        seen["noargs"] = (await req.exec("Ringing")).result
        try:
            await req.exec("NoSuchApp")
        except AGIError as exc:
            seen["missing"] = exc.reply.result if exc.reply else None
        await req.hangup()
        done.set()

    _, port = await serve({"/inbound": inbound})
    fake = await FakeAsterisk.connect(port)
    await fake.expect("ANSWER", "200 result=0")
    await fake.expect('EXEC Dial "PJSIP/100,30,\\"x\\""', "200 result=0")
    await fake.expect("EXEC Ringing", "200 result=0")
    await fake.expect("EXEC NoSuchApp", "200 result=-2")
    await fake.expect("HANGUP", "200 result=1", "HANGUP")
    await asyncio.wait_for(done.wait(), STEP)
    assert seen == {"dial": "0", "noargs": "0", "missing": "-2"}
    assert await fake.closed_by_server()
