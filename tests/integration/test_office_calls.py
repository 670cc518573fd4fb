"""Calls to the numbers of local tax offices (SIE), forwarded by the carrier to our trunk.

Real SIP calls: SIPp callers through the trunk, SIPp advisors' phones, and a SIPp standing for the
administration's gateway (offices' own lines) at 127.0.0.3."""
from __future__ import annotations

import json
import urllib.request

import pytest


pytestmark = pytest.mark.integration

PAU = "+33465710064"            # sie-64445-01, covered by Pau since 2021
PAU_LINE = "+33465719064"       # its own internal line
BAYONNE = "+33465710164"        # sie-64102-01, covered by Pau only from 2030: keeps its own line
BAYONNE_LINE = "+33465719164"
PARIS = "+33199000175"          # sie-75056-01, never covered
PARIS_LINE = "+33199009175"


def test_covered_office_is_answered_by_its_site_with_the_office_on_the_display(
        platform, phones, caller, records, new_caller_number):
    pau, cahors = phones("pau-04", "cahors-02")
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="9", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["entry_kind"], call["office_id"]) == ("office", "sie-64445-01")
    assert (call["covering_site"], call["home_site"]) == ("pau", "pau")
    assert (call["queue"], call["advisor_id"], call["site_id"]) == ("q-pau-conseiller", "pau-04", "pau")
    assert call["outcome"] == "answered"
    assert any("SIE de Pau" in header for header in pau.offered_from()), pau.offered_from()
    assert cahors.offered_from() == []


def test_covered_office_overflows_to_another_site_when_its_own_has_nobody(
        platform, phones, caller, records, new_caller_number):
    phones("cahors-02")
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="9", hangup_after_ms=4000).run().ok
    call = records.final(number)
    assert (call["home_site"], call["advisor_id"], call["site_id"]) == ("pau", "cahors-02", "cahors")


@pytest.mark.parametrize("called, line, office", [(BAYONNE, BAYONNE_LINE, "sie-64102-01"),
                                                   (PARIS, PARIS_LINE, "sie-75056-01")])
def test_office_not_covered_today_rings_its_own_line(platform, gateway, caller, records, new_caller_number,
                                                     called, line, office):
    number = new_caller_number()
    assert caller.sipp(called, number, hangup_after_ms=3000).run().ok
    call = records.final(number)
    assert (call["entry_kind"], call["office_id"], call["home_site"]) == ("office", office, None)
    assert call["outcome"] == "office_line"
    assert gateway.dialled() == [line]


def test_private_individual_is_told_the_individuals_number(platform, caller, records, new_caller_number):
    prompt = (platform.instance.sounds_dir / "individuals.txt").read_text()
    spoken = platform.config.individuals.number.replace("+33", "0")
    assert " ".join(spoken[i:i + 2] for i in range(0, 10, 2)) in prompt
    number = new_caller_number()
    result = caller.sipp("+33199001000", number, dtmf=platform.config.individuals.key, expect_bye=True).run()
    assert result.ok, result.output              # Asterisk hangs up after the message
    call = records.final(number)
    assert (call["outcome"], call["misdirected"]) == ("misdirected", True)
    assert call["queued_at"] is None


def test_advisor_blind_transfer_to_the_office(platform, phones, gateway, caller, records, new_caller_number):
    phones("pau-01", scenario="advisor_blind_transfer.xml", keys={"target": PAU_LINE, "talk_ms": "1500"})
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="9", hangup_after_ms=7000).run().ok
    call = records.final(number)
    assert (call["advisor_id"], call["transferred_to_office"]) == ("pau-01", True)
    assert call["answered_at"] < call["transferred_at"] < call["ended_at"]
    assert "transferred_to_office" in records.events(call["linkedid"])
    assert gateway.dialled() == [PAU_LINE]


def test_advisor_cannot_dial_outside_numbers_the_config_does_not_allow(platform, phones, gateway):
    (phone,) = phones("morlaix-01", login=False)
    for refused in ("0612345678", "+33612345678", "0033612345678", "*99", "+33465710064&+3361"):
        result = phone.dial(refused)
        assert not result.ok and "404" in result.output, refused
    assert gateway.dialled() == []
    # an office's own line is allowed (consultation before an attended transfer)
    assert phone.dial(PAU_LINE).ok
    assert gateway.dialled() == [PAU_LINE]


def test_live_call_context_for_the_advisor(platform, phones, caller, records, new_caller_number):
    phones("pau-04")
    number = new_caller_number()
    assert caller.sipp(PAU, number, dtmf="1", hangup_after_ms=3000).run().ok
    first = records.final(number)
    assert caller.sipp(PAU, number, dtmf="9", hangup_after_ms=3000).run().ok
    second = records.final(number)
    assert second["linkedid"] != first["linkedid"]
    url = f"http://127.0.0.1:{platform.ports.web}/api/calls/{second['linkedid']}/context"
    with urllib.request.urlopen(url) as r:
        context = json.load(r)
    assert (context["office_id"], context["home_site"], context["topic"]) == ("sie-64445-01", "pau", "conseiller")
    assert context["caller_number"] == number
    assert [c["linkedid"] for c in context["previous_contacts"]] == [first["linkedid"]]
