"""Advisors' states and the supervisors' live view on the real platform (issue 6): pause by feature code
(*23<digit>, *24), the HTTP API, the wallboard in headless Chromium, listening to a live call (ChanSpy)."""
from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request

import pytest

from ccpros_agi.ami.client import AMIClient
from tests.integration.conftest import NATIONAL
from tests.integration.sip import wait_for

pytestmark = pytest.mark.integration
TVA = "1"


def api(platform, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{platform.ports.web}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"detail": text}


def open_state(records, advisor: str) -> dict | None:
    rows = records.query("SELECT * FROM advisor_states WHERE advisor_id = %s AND ended_at IS NULL", advisor)
    return rows[0] if rows else None


def in_state(records, advisor: str, state: str, reason: str | None = None):
    return wait_for(lambda: (r := open_state(records, advisor)) and (r["state"], r["reason"]) == (state, reason) and r,
                    timeout=10, what=f"{advisor} {state} {reason}")


def test_paused_advisor_receives_no_call_and_the_pause_is_recorded(platform, phones, caller, records,
                                                                  new_caller_number):
    (phone,) = phones("pau-03")                       # TVA and the general topic
    in_state(records, "pau-03", "available")
    assert phone.dial_feature("*232").ok              # 2: lunch
    in_state(records, "pau-03", "paused", "lunch")
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf=TVA, hangup_after_ms=7000).run().ok
    call = records.final(number)
    assert (call["outcome"], call["advisor_id"]) == ("abandoned_queue", None)
    assert not phone.offered_from()
    assert phone.dial_feature("*24").ok
    in_state(records, "pau-03", "available")
    number = new_caller_number()
    assert caller.sipp(NATIONAL, number, dtmf=TVA, hangup_after_ms=5000).run().ok
    assert records.final(number)["advisor_id"] == "pau-03"
    states = [(r["state"], r["reason"]) for r in records.query(
        "SELECT state, reason FROM advisor_states WHERE advisor_id = 'pau-03' ORDER BY started_at, id")]
    assert ("paused", "lunch") in states and ("on_call", None) in states
    status, body = api(platform, "GET", "/api/advisors/accounting")
    assert status == 200
    mine = next(a for a in body["advisors"] if a["advisor"] == "pau-03")
    assert mine["paused_s"]["lunch"] >= 7 and mine["phone_s"] >= 1


def test_http_api_logs_in_pauses_resumes_and_logs_out(platform, phones, records):
    phones("pau-02", login=False)
    assert api(platform, "POST", "/api/advisors/pau-02/login")[0] == 200
    in_state(records, "pau-02", "available")
    assert api(platform, "POST", "/api/advisors/pau-02/pause", {"reason": "nap"})[0] == 400
    assert api(platform, "POST", "/api/advisors/pau-02/pause", {"reason": "training"})[0] == 200
    in_state(records, "pau-02", "paused", "training")
    assert api(platform, "POST", "/api/advisors/pau-02/resume")[0] == 200
    in_state(records, "pau-02", "available")
    assert api(platform, "POST", "/api/advisors/pau-02/logout")[0] == 200
    in_state(records, "pau-02", "logged_out")
    assert api(platform, "POST", "/api/advisors/nobody/login")[0] == 404


@pytest.fixture
def browser():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.skip("apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    yield driver
    driver.quit()


def test_wallboard_shows_a_waiting_call_appear_and_disappear_within_a_second(platform, browser, caller, records,
                                                                              new_caller_number):
    browser.get(f"http://127.0.0.1:{platform.ports.web}/wallboard")

    def waiting() -> str:
        return browser.find_element("id", "waiting").text

    wait_for(lambda: browser.execute_script("return last !== null"), what="first snapshot")
    assert waiting() == "0"
    number = new_caller_number()                       # nobody logged in: the call waits
    sipp = caller.sipp(NATIONAL, number, dtmf="4", hangup_after_ms=6000).start()
    wait_for(lambda: waiting() == "1", timeout=15, interval=0.02, what="the waiting call on the wallboard")
    shown = time.time()
    call = wait_for(lambda: (r := records.by_caller(number)) and r["queued_at"] and r, what="queued_at")
    assert shown - call["queued_at"].timestamp() < 1.0
    row = browser.find_element("css selector", "#queues tbody tr")
    assert row.get_attribute("data-queue") == call["queue"]
    assert sipp.wait(30).ok                            # the caller hung up (BYE answered)
    hung_up = time.time()
    wait_for(lambda: waiting() == "0", timeout=5, interval=0.02, what="the call gone from the wallboard")
    assert time.time() - hung_up < 1.0


async def _applications(platform) -> list[str]:
    async def ignore(event) -> None:
        return None

    ami = AMIClient("127.0.0.1", platform.ports.ami, platform.secrets.ami_user, platform.secrets.ami_secret,
                    ignore, events="off")
    await ami.start()
    try:
        await asyncio.wait_for(ami.connected.wait(), 10)
        channels = await ami.collect("CoreShowChannels")
    finally:
        await ami.close()
    return [c.get("Application", "") + ":" + c.get("Channel", "") for c in channels]


def test_supervisor_listens_to_a_live_call_and_another_site_is_refused(platform, phones, caller, records,
                                                                         new_caller_number):
    phones("pau-01")
    phones("pau-04", "morlaix-04", login=False)       # the supervisors' phones answer
    number = new_caller_number()
    sipp = caller.sipp(NATIONAL, number, dtmf=TVA, hangup_after_ms=15000).start()
    wait_for(lambda: (r := records.by_caller(number)) and r["advisor_id"] == "pau-01", what="answered by pau-01")
    status, body = api(platform, "POST", "/api/supervision/listen",
                       {"supervisor": "morlaix-04", "advisor": "pau-01", "mode": "listen"})
    assert status == 403 and "does not supervise" in body["detail"]
    status, body = api(platform, "POST", "/api/supervision/listen",
                       {"supervisor": "pau-04", "advisor": "pau-01", "mode": "listen"})
    assert status == 200, body
    apps = wait_for(lambda: [a for a in asyncio.run(_applications(platform)) if a.startswith("ChanSpy:PJSIP/pau-04")],
                    timeout=10, interval=0.5, what="ChanSpy on the supervisor's channel")
    assert apps
    assert sipp.wait(30).ok
    uses = records.query("SELECT supervisor_id, advisor_id, mode, granted FROM supervision_uses"
                         " WHERE advisor_id = 'pau-01' ORDER BY id")
    assert [(u["supervisor_id"], u["granted"]) for u in uses][-2:] == [("morlaix-04", False), ("pau-04", True)]
