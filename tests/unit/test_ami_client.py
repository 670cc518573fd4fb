"""The AMI client against an in-process fake AMI server (error paths a real Asterisk gives on demand
are covered by the integration tests; these are the ones it cannot: refused login, lost connection)."""
from __future__ import annotations

import asyncio

import pytest

from ccpros_agi.ami.client import AMIAuthError, AMIClient, AMIError, encode


class FakeAMI:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.logins = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        block = await reader.readuntil(b"\r\n\r\n")
        self.logins += 1
        fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n"))
        ok = fields.get("Secret") == self.secret
        writer.write(encode({"Response": "Success" if ok else "Error", "ActionID": fields["ActionID"],
                             "Message": "Authentication accepted" if ok else "Authentication failed"}))
        if not ok:
            writer.close()
            return
        writer.write(encode({"Event": "FullyBooted", "Status": "Fully Booted"}))
        writer.write(encode({"Event": "Hangup", "Linkedid": "1.1", "Cause-txt": "Normal: Clearing"}))
        while block := await reader.readuntil(b"\r\n\r\n"):
            fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n"))
            writer.write(encode({"Response": "Success", "ActionID": fields["ActionID"], "Ping": "Pong"}))


async def start_fake(secret: str) -> tuple[FakeAMI, asyncio.Server, int]:
    fake = FakeAMI(secret)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    return fake, server, server.sockets[0].getsockname()[1]


async def test_events_and_actions():
    fake, server, port = await start_fake("good")
    events = []

    async def on_event(event):
        events.append(event)

    client = AMIClient("127.0.0.1", port, "ccpros", "good", on_event)
    await client.start()
    await asyncio.wait_for(client.connected.wait(), 5)
    reply = await client.action("Ping")
    assert reply["Ping"] == "Pong"
    while len(events) < 2:
        await asyncio.sleep(0.01)
    assert [e["Event"] for e in events] == ["FullyBooted", "Hangup"]
    assert events[1]["Cause-txt"] == "Normal: Clearing"
    await client.close()
    server.close()


async def test_refused_login_stops_instead_of_retrying_forever():
    fake, server, port = await start_fake("good")

    async def on_event(event):
        pass

    client = AMIClient("127.0.0.1", port, "ccpros", "wrong", on_event)
    await client.start()
    with pytest.raises(AMIAuthError, match="Authentication failed"):
        await asyncio.wait_for(client.task, 5)
    assert fake.logins == 1
    server.close()


async def test_reconnects_after_the_connection_is_lost():
    fake, server, port = await start_fake("good")

    async def on_event(event):
        pass

    client = AMIClient("127.0.0.1", port, "ccpros", "good", on_event)
    await client.start()
    await asyncio.wait_for(client.connected.wait(), 5)
    fake.writers[0].close()
    while fake.logins < 2:
        await asyncio.sleep(0.05)
    await asyncio.wait_for(client.connected.wait(), 5)
    await client.close()
    server.close()


async def test_action_when_disconnected_and_injection_refused():
    async def on_event(event):
        pass

    client = AMIClient("127.0.0.1", 1, "u", "s", on_event)
    with pytest.raises(AMIError, match="not connected"):
        await client.action("Ping")
    with pytest.raises(AMIError, match="line break"):
        encode({"Action": "QueueAdd", "Interface": "PJSIP/x\r\nAction: Originate"})
