"""Our FastAGI server against the real Asterisk, on the three faults seen with panoramisk's:

1. after a caller hangs up mid-prompt, Asterisk's unsolicited ``HANGUP`` line must not be read
   as the reply of the next command (answers shifted by one);
2. the route is matched on the path, the query string (``/inbound?dialplan=1``) parsed apart;
3. a ``GET DATA`` timeout is told apart from an empty input (the caller pressing # alone).

The platform's own FastAGI service is stopped and a server of the test answers on its port, with
handlers that record what they see; the calls are real SIP calls through the trunk."""
from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

import pytest

from ccpros_agi.agi.fastagi import AGIRequest, ChannelHungUp, FastAGIServer
from tests.integration.conftest import NATIONAL
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration


@contextmanager
def agi_server_in_thread(routes, port: int):
    loop = asyncio.new_event_loop()
    server = FastAGIServer(routes)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start("127.0.0.1", port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def test_agi(platform):
    """Replace the platform's FastAGI service by a recording one for the test."""
    seen: list[dict] = []
    platform.stop_service("agi")
    yield seen
    platform.start_service("agi")
    wait_for(platform.agi_listening, what="FastAGI back")


def test_get_data_timeout_is_not_empty_input_and_query_string_is_parsed(platform, caller, test_agi,
                                                                         new_caller_number):
    sounds = platform.runtime.sounds_dir

    async def handler(req: AGIRequest) -> None:
        answer = await req.get_data(f"{sounds}/closed", 1500, 4)
        test_agi.append({"path": req.path, "params": req.params, "digits": answer.digits,
                         "timed_out": answer.timed_out})
        await req.set_variable("CCPROS_ACTION", "closed")
        await req.set_variable("CCPROS_DONE", "1")

    with agi_server_in_thread({"/inbound": handler}, platform.ports.agi):
        # silent caller: the prompt ends, then 1.5 s without a key
        assert caller.sipp(NATIONAL, new_caller_number(), expect_bye=True).run().ok
        # the caller presses # at once: input ended, empty, not a timeout
        assert caller.sipp(NATIONAL, new_caller_number(), dtmf="#", dtmf_after_ms=800, expect_bye=True).run().ok
        # the caller presses 4 then nothing: the digit is kept and the timeout is reported
        assert caller.sipp(NATIONAL, new_caller_number(), dtmf="4", dtmf_after_ms=800, expect_bye=True).run().ok

    assert [(s["digits"], s["timed_out"]) for s in test_agi] == [("", True), ("", False), ("4", True)]
    assert all(s["path"] == "/inbound" and s["params"] == {"dialplan": "1"} for s in test_agi)


def test_hangup_mid_prompt_does_not_shift_the_next_answers(platform, caller, test_agi, new_caller_number):
    sounds = platform.runtime.sounds_dir

    async def handler(req: AGIRequest) -> None:
        record = {"hung_up_in_prompt": False}
        test_agi.append(record)
        try:
            await req.stream_file(f"{sounds}/menu")        # long prompt; the caller hangs up during it
        except ChannelHungUp:
            record["hung_up_in_prompt"] = True
        # a dead channel still answers variable reads: each must get its own reply
        record["called"] = await req.get_variable("CCPROS_CALLED")
        record["unset"] = await req.get_variable("CCPROS_NOT_SET")
        record["context"] = await req.get_full_variable("${CONTEXT}")
        record["hungup_flag"] = req.hungup

    number = new_caller_number()
    with agi_server_in_thread({"/inbound": handler}, platform.ports.agi):
        assert caller.sipp(NATIONAL, number, hangup_after_ms=1500).run().ok
        wait_for(lambda: test_agi and "hungup_flag" in test_agi[0], what="handler finished")

    (record,) = test_agi
    assert record == {"hung_up_in_prompt": True, "called": NATIONAL, "unset": None,
                      "context": "ccpros-inbound", "hungup_flag": True}
