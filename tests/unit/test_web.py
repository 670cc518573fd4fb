"""HTTP status page and call API on a real PostgreSQL store, with a stub AMI client and config."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ccpros_agi import web as webapp
from ccpros_agi.store.repo import CallStore

pytest_plugins = ["tests.fixtures.db"]

CALLER = "+33612345678"
OFFICE = "sie-64445-01"


def lid() -> str:
    return f"1741944600.{secrets.randbelow(10**6)}"


class StubDirectory:
    def __init__(self, offices: dict[str, str]) -> None:
        self.offices = offices

    def office(self, office_id: str) -> SimpleNamespace:
        return SimpleNamespace(id=office_id, name=self.offices[office_id])  # KeyError when unknown


def stub_config(**extra: Any) -> SimpleNamespace:
    return SimpleNamespace(
        national_number="+33199001000",
        sites=(SimpleNamespace(id="pau", name="Pau"), SimpleNamespace(id="cahors", name="Cahors")),
        advisors=(SimpleNamespace(id="pau-01", site="pau"), SimpleNamespace(id="pau-04", site="pau"),
                  SimpleNamespace(id="cahors-02", site="cahors")),
        **extra,
    )


def stub_ami(connected: bool = True) -> SimpleNamespace:
    event = asyncio.Event()
    if connected:
        event.set()
    return SimpleNamespace(connected=event)


ClientFactory = Callable[..., Any]


@pytest.fixture
async def make_client(store: CallStore) -> AsyncIterator[ClientFactory]:
    clients: list[TestClient] = []

    async def factory(config: Any = None, ami: Any = None, **kwargs: Any) -> TestClient:
        app = webapp.make_app(store, ami or stub_ami(), config or stub_config(), **kwargs)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient:
    return await make_client(stub_config(directory=StubDirectory({OFFICE: "SIE de Pau"})))


async def _call(store: CallStore, arrived_at: datetime, caller: str | None = CALLER, **fields: Any) -> str:
    linkedid = lid()
    await store.ensure_call(linkedid, arrived_at=arrived_at, caller_number=caller, caller_raw=caller,
                            called_number="+33465710064", entry_kind="office")
    if fields:
        await store.update_call(linkedid, **fields)
    return linkedid


# -- context ----------------------------------------------------------------------
async def test_context_of_a_live_call_with_previous_contacts(store: CallStore, client: TestClient) -> None:
    now = datetime.now(timezone.utc)
    await _call(store, now - timedelta(days=31), topic="tva")  # older than history_days=30
    earlier = await _call(store, now - timedelta(days=2), topic="tva", outcome="answered", advisor_id="pau-01",
                          site_id="pau", office_id=OFFICE, home_site="pau")
    linkedid = await _call(store, now - timedelta(minutes=1), topic="conseiller", office_id=OFFICE,
                           covering_site="pau", home_site="pau", queue="q-pau-conseiller", caller_name="SARL Dupont",
                           advisor_id="pau-04", site_id="pau", answered_at=now - timedelta(seconds=20))
    resp = await client.get(f"/api/calls/{linkedid}/context")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert {k: body[k] for k in ("linkedid", "caller_number", "caller_name", "office_id", "office_name", "topic",
                                 "home_site", "covering_site", "queue", "advisor_id", "site_id", "outcome",
                                 "misdirected", "entry_kind", "called_number")} == {
        "linkedid": linkedid, "caller_number": CALLER, "caller_name": "SARL Dupont", "office_id": OFFICE,
        "office_name": "SIE de Pau", "topic": "conseiller", "home_site": "pau", "covering_site": "pau",
        "queue": "q-pau-conseiller", "advisor_id": "pau-04", "site_id": "pau", "outcome": "in_progress",
        "misdirected": False, "entry_kind": "office", "called_number": "+33465710064"}
    assert datetime.fromisoformat(body["arrived_at"]) == now - timedelta(minutes=1)
    assert datetime.fromisoformat(body["answered_at"]) == now - timedelta(seconds=20)
    assert [c["linkedid"] for c in body["previous_contacts"]] == [earlier]
    contact = body["previous_contacts"][0]
    assert (contact["outcome"], contact["topic"], contact["advisor_id"], contact["office_id"]) == (
        "answered", "tva", "pau-01", OFFICE)
    assert datetime.fromisoformat(contact["arrived_at"]) == now - timedelta(days=2)


async def test_context_history_days_comes_from_the_app(store: CallStore, make_client: ClientFactory) -> None:
    now = datetime.now(timezone.utc)
    await _call(store, now - timedelta(days=2))
    linkedid = await _call(store, now)
    client = await make_client(history_days=1)
    body = await (await client.get(f"/api/calls/{linkedid}/context")).json()
    assert body["previous_contacts"] == []
    with pytest.raises(ValueError):
        webapp.make_app(store, stub_ami(), stub_config(), history_days=-1)


async def test_context_office_name_only_when_the_directory_knows_it(
        store: CallStore, make_client: ClientFactory) -> None:
    now = datetime.now(timezone.utc)
    unknown_office = await _call(store, now, office_id="sie-00000-01")
    national = await _call(store, now, caller=None)
    with_directory = await make_client(stub_config(directory=StubDirectory({OFFICE: "SIE de Pau"})))
    without_directory = await make_client()
    for client, linkedid in ((with_directory, unknown_office), (with_directory, national),
                             (without_directory, unknown_office)):
        resp = await client.get(f"/api/calls/{linkedid}/context")
        assert resp.status == 200
        body = await resp.json()
        assert body["office_name"] is None
    body = await (await with_directory.get(f"/api/calls/{national}/context")).json()
    assert (body["caller_number"], body["previous_contacts"]) == (None, [])


async def test_context_of_an_unknown_call_is_404(client: TestClient) -> None:
    resp = await client.get("/api/calls/1741944600.999/context")
    assert resp.status == 404


@pytest.mark.parametrize("bad", ["1" * 151, "abc$def", "a%20b", "caf%C3%A9", "a;drop", "x'y"])
async def test_bad_linkedids_are_400(client: TestClient, bad: str) -> None:
    assert (await client.get(f"/api/calls/{bad}/context")).status == 400
    assert (await client.get(f"/api/calls/{bad}")).status == 400


async def test_longest_valid_linkedid_is_accepted(client: TestClient) -> None:
    ok = "A-z_0.9" + "1" * 143
    assert len(ok) == 150
    assert (await client.get(f"/api/calls/{ok}/context")).status == 404


# -- existing endpoints -----------------------------------------------------------
async def test_call_and_calls_still_work(store: CallStore, client: TestClient) -> None:
    now = datetime.now(timezone.utc)
    linkedid = await _call(store, now, topic="tva")
    await store.add_event(linkedid, now, "agi", "menu_choice", {"topic": "tva"})
    resp = await client.get(f"/api/calls/{linkedid}")
    assert resp.status == 200
    body = await resp.json()
    assert (body["linkedid"], body["topic"], body["misdirected"]) == (linkedid, "tva", False)
    assert [e["kind"] for e in body["events"]] == ["menu_choice"]
    assert (await client.get("/api/calls/1741944600.999")).status == 404
    listed = await (await client.get("/api/calls?limit=5")).json()
    assert [c["linkedid"] for c in listed] == [linkedid]
    assert (await client.get("/api/calls?limit=x")).status == 400


async def test_status_json(make_client: ClientFactory) -> None:
    up = await make_client()
    resp = await up.get("/status")
    assert (resp.status, await resp.json()) == (200, {"ok": True, "database": True, "ami": True})
    down = await make_client(ami=stub_ami(connected=False))
    resp = await down.get("/status")
    assert (resp.status, await resp.json()) == (503, {"ok": False, "database": True, "ami": False})


async def test_status_page(store: CallStore, client: TestClient) -> None:
    await _call(store, datetime.now(timezone.utc), topic="tva")
    resp = await client.get("/")
    assert resp.status == 200
    page = await resp.text()
    assert "+33199001000" in page and "Pau: 2 conseillers" in page and "Cahors: 1 conseillers" in page
    assert CALLER in page


def test_app_keys_are_typed() -> None:
    assert isinstance(webapp.HISTORY_DAYS, web.AppKey)
