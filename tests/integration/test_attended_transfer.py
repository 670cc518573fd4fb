"""An advisor's ATTENDED transfer of a caller to an office's own line, over real SIP.

The advisor's phone (SIPp, scenarios/advisor_attended_transfer.xml) answers the caller (dialog A),
calls the office's line itself (dialog B: a consultation through the administration's gateway,
authenticated by Asterisk), then sends REFER on A with ``Replaces`` naming B: Asterisk bridges the
caller with the office, hangs up B, NOTIFYs the success on A, and the phone hangs up A. The call must be
recorded as transferred to the office (AMI ``AttendedTransfer``)."""
from __future__ import annotations

import pytest

from tests.integration.sip import ADVISOR_IP, SCENARIOS, AdvisorPhone, Sipp, wait_for

pytestmark = pytest.mark.integration

PAU = "+33465710064"            # sie-64445-01, covered by Pau
PAU_LINE = "+33465719064"       # its own internal line, reached through the administration's gateway
ADVISOR = "pau-01"


class ConsultingPhone(AdvisorPhone):
    """An advisor's phone that also places a call from its answering scenario (the consultation call of
    an attended transfer): its SIPp needs the advisor's credentials for Asterisk's 401. It handles one
    call and exits, so that the test can wait for its scenario's verdict."""

    def start(self) -> "ConsultingPhone":
        text = (SCENARIOS / self.scenario).read_text()
        for key, value in self.keys.items():
            text = text.replace(f"[{key}]", value)
        scenario = self.workdir / f"advisor-{self.advisor_id}.xml"
        scenario.write_text(text)
        self.uas = Sipp(self.sip_port, scenario, ip=ADVISOR_IP, service=self.advisor_id,
                        workdir=self.workdir, server=True, calls=1, timeout_s=120,
                        auth=(self.advisor_id, self.password),
                        extra=["-trace_msg", "-message_file", str(self.messages_file),
                               "-trace_calldebug"])     # an aborted call's state machine, in the workdir
        self.uas.start()
        self.register(3600)
        return self

    def received(self, first_line: str) -> list[str]:
        """The messages this phone received that start with ``first_line``, whole."""
        text = self.messages_file.read_text(errors="replace") if self.messages_file.exists() else ""
        messages = [block.split("\n", 2)[2].split("\n-----------")[0]      # after " [N] bytes :\n\n"
                    for block in text.split("UDP message received")[1:]]
        return [m for m in messages if m.startswith(first_line)]


@pytest.fixture
def consulting_phone(platform, workdir):
    phone = ConsultingPhone(ADVISOR, platform.secrets.advisor_passwords[ADVISOR], platform.ports.sip, workdir,
                            scenario="advisor_attended_transfer.xml",
                            keys={"target": PAU_LINE, "talk_ms": "1000", "consult_ms": "1000",
                                  "asterisk": f"127.0.0.1:{platform.ports.sip}"})
    try:
        phone.start()
        phone.login()
        yield phone
    finally:
        phone.stop()     # logs out, unregisters, stops its SIPp if still running


def test_advisor_attended_transfer_to_the_office(platform, consulting_phone, gateway, caller, records,
                                                 new_caller_number):
    number = new_caller_number()
    calling = caller.sipp(PAU, number, dtmf="9", hangup_after_ms=8000).start()
    try:
        phone = consulting_phone.uas.wait(60)
    finally:
        result = calling.wait(60)
    assert phone.ok, "advisor's phone:\n" + phone.output
    assert result.ok, result.output

    # SIP: Asterisk reported the transfer's success to the transferer, the office was dialled once (the
    # consultation call, which the transfer hands to the caller) and the caller's hangup reached it
    notifies = consulting_phone.received("NOTIFY ")
    assert any("\nSIP/2.0 200 OK" in n and "terminated" in n for n in notifies), notifies
    assert gateway.dialled() == [PAU_LINE]
    wait_for(lambda: "\nBYE sip:" in gateway.trace.read_text(), 10, what="the office's line hung up by the caller")

    # the record
    call = records.final(number)
    assert call["advisor_id"] == ADVISOR
    assert call["transferred_to_office"] is True, records.events(call["linkedid"])
    assert call["answered_at"] < call["transferred_at"] < call["ended_at"]
    assert "transferred_to_office" in records.events(call["linkedid"])
